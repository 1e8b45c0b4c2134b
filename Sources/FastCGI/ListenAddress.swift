/// Where `upsign serve --listen` binds: a unix socket path or a TCP host and port.
public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// `unix:/run/upsign/upsign.sock`.
    case unix(path: String)
    /// `127.0.0.1:9000`, `[::1]:9000`, `localhost:9000`.
    case tcp(host: String, port: UInt16)

    /// Parses `unix:/path` or `host:port` (IPv6 hosts in brackets); nil when malformed.
    public init?(_ text: String) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard path.hasPrefix("/"), path.utf8.count < 108, !path.utf8.contains(0) else { return nil }
            self = .unix(path: path)
            return
        }
        guard let colon = text.lastIndex(of: ":"),
            let port = UInt16(text[text.index(after: colon)...]), port > 0
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, !host.contains("/") else { return nil }
        self = .tcp(host: host, port: port)
    }

    /// `unix:/path` or `host:port`.
    public var description: String {
        switch self {
        case .unix(let path): "unix:\(path)"
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }
}
