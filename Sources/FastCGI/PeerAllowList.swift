import CFastCGI
import Glibc

/// The front-end addresses allowed to connect over TCP: libfcgi's `FCGI_WEB_SERVER_ADDRS`, a
/// comma-separated list of IP addresses. libfcgi checks it in its own `accept`, which upsign
/// does not use (it accepts in its event loops), so upsign checks it itself, for IPv6 as well as
/// IPv4 (libfcgi only knows IPv4). Unix-socket connections are not checked: the socket file's
/// mode says who may connect.
///
/// With TCP between hosts, whoever reaches the port can send any params, `UPSIGN_USER`
/// included: this list (or a firewall) is what keeps strangers out.
public struct PeerAllowList: Sendable, Equatable {
    /// The addresses, as 16 bytes (IPv4 as IPv4-mapped IPv6).
    private let addresses: [[UInt8]]
    /// The list as given, for logs.
    public let text: String

    /// The environment variable libfcgi reads.
    public static let environmentVariable = "FCGI_WEB_SERVER_ADDRS"

    /// Why a list could not be read.
    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        /// The entry that is not an IP address.
        public let entry: String
        /// A sentence for the operator.
        public var description: String {
            "\(PeerAllowList.environmentVariable): \"\(entry)\" is not an IPv4 or IPv6 address"
        }
    }

    /// Parses `text` (`"127.0.0.1, 10.0.0.5,::1"`); nil when it holds no address.
    public init?(_ text: String) throws(Invalid) {
        var addresses: [[UInt8]] = []
        for raw in text.split(separator: ",") {
            let entry = String(raw.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
            if entry.isEmpty { continue }
            guard let bytes = Self.parse(entry) else { throw Invalid(entry: entry) }
            addresses.append(bytes)
        }
        guard !addresses.isEmpty else { return nil }
        self.addresses = addresses
        self.text = text
    }

    /// The list in `environment`, if any.
    public static func from(environment: [String: String]) throws(Invalid) -> PeerAllowList? {
        guard let text = environment[environmentVariable] else { return nil }
        return try PeerAllowList(text)
    }

    /// True when the peer of the TCP connection `fd` is on the list.
    func allows(_ fd: Int32) -> Bool {
        guard let peer = Self.peerAddress(fd) else { return false }
        return addresses.contains(peer)
    }

    /// The 16-byte form of an IP address literal.
    private static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return mapped(v4) }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    private static func mapped(_ v4: in_addr) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF]
        withUnsafeBytes(of: v4) { bytes += $0 }
        return bytes
    }

    /// The peer of `fd` in 16-byte form.
    static func peerAddress(_ fd: Int32) -> [UInt8]? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        guard rc == 0 else { return nil }
        return address(of: storage)
    }

    /// The 16-byte form of an IPv4 or IPv6 socket address.
    static func address(of storage: sockaddr_storage) -> [UInt8]? {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { mapped($0.pointee.sin_addr) }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                    var a = p.pointee.sin6_addr
                    return withUnsafeBytes(of: &a) { Array($0) }
                }
            }
        default:
            return nil
        }
    }

    /// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback.
    static func isLoopback(_ address: [UInt8]) -> Bool {
        let mappedPrefix = [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF]
        if Array(address[0..<12]) == mappedPrefix { return address[12] == 127 }
        return address == [UInt8](repeating: 0, count: 15) + [1]
    }
}
