import Glibc
import Testing

@testable import FastCGI

/// FCGI_WEB_SERVER_ADDRS, read as libfcgi reads it (comma-separated addresses, spaces allowed),
/// with IPv6 too; a bad entry is an error, never silently dropped (an allow-list that lost an
/// entry would refuse a front end, one that lost them all would allow anyone).
struct PeerAllowListTests {
    @Test func addressesAreReadWithSpacesAndBothFamilies() throws {
        let list = try #require(try PeerAllowList(" 10.0.0.5,127.0.0.1 , ::1,"))
        #expect(list.text == " 10.0.0.5,127.0.0.1 , ::1,")
    }

    @Test func anEmptyListIsNoList() throws {
        #expect(try PeerAllowList("") == nil)
        #expect(try PeerAllowList(" , ") == nil)
    }

    @Test(arguments: ["10.0.0.256", "localhost", "10.0.0.1/24", "::g", "10.0.0.1 10.0.0.2"])
    func aBadEntryIsAnError(_ text: String) {
        #expect(throws: PeerAllowList.Invalid.self) { _ = try PeerAllowList(text) }
    }

    @Test func loopbackIsRecognisedInBothFamilies() {
        func v4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> [UInt8] { [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF, a, b, c, d] }
        #expect(PeerAllowList.isLoopback(v4(127, 0, 0, 1)))
        #expect(PeerAllowList.isLoopback(v4(127, 9, 9, 9)))
        #expect(!PeerAllowList.isLoopback(v4(10, 0, 0, 1)))
        #expect(PeerAllowList.isLoopback([UInt8](repeating: 0, count: 15) + [1]))
        #expect(!PeerAllowList.isLoopback([UInt8](repeating: 0, count: 16)))
    }

    @Test func aConnectionsPeerIsCheckedAgainstTheList() throws {
        // A real TCP connection over loopback: the accepted socket's peer is 127.0.0.1.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { p in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                try #require(bind(listener, sa, length) == 0 && listen(listener, 1) == 0 && getsockname(listener, sa, &length) == 0)
            }
        }
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(client) }
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, length) } }
        try #require(connected == 0)
        let accepted = accept(listener, nil, nil)
        defer { close(accepted) }
        #expect(try #require(try PeerAllowList("127.0.0.1")).allows(accepted))
        #expect(try #require(try PeerAllowList("10.1.1.1, ::1")).allows(accepted) == false)
    }
}
