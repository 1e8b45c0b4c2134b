import Glibc
import Testing

@testable import FastCGI

/// Dropping an unread body must take exactly the request's STDIN stream off the socket: the next
/// request's bytes stay queued, whatever the record boundaries and the arrival in pieces.
struct UnreadBodyTests {
    /// A connected pair of unix stream sockets; the reading end is non-blocking, as the loop's are.
    final class Pair {
        let reader: Int32
        let writer: Int32
        init() {
            var fds: [Int32] = [-1, -1]
            _ = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds)
            reader = fds[0]
            writer = fds[1]
            _ = fcntl(reader, F_SETFL, fcntl(reader, F_GETFL) | O_NONBLOCK)
        }
        deinit {
            Glibc.close(reader)
            Glibc.close(writer)
        }
        func send(_ bytes: [UInt8]) {
            bytes.withUnsafeBytes { _ = write(writer, $0.baseAddress, $0.count) }
        }
        func queued() -> [UInt8] {
            var out = [UInt8](repeating: 0, count: 4096)
            let n = out.withUnsafeMutableBytes { recv(reader, $0.baseAddress, $0.count, Int32(MSG_PEEK | MSG_DONTWAIT)) }
            return n > 0 ? Array(out[..<n]) : []
        }
    }

    static func record(_ type: UInt8, id: UInt16 = 1, _ content: [UInt8], padding: UInt8 = 0) -> [UInt8] {
        RecordCheckTests.record(type, id: id, content, padding: padding)
    }

    func drop(_ pair: Pair, _ state: inout UnreadBody.State) -> UnreadBody.Progress {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
        defer { scratch.deallocate() }
        return UnreadBody.drop(pair.reader, &state, scratch: scratch)
    }

    @Test func theStreamIsDroppedToItsEndAndTheNextRequestStays() {
        let pair = Pair()
        let next = RecordCheckTests.begin
        pair.send(Self.record(5, [UInt8](repeating: 7, count: 300), padding: 4) + Self.record(5, [1, 2, 3]) + Self.record(5, [], padding: 2) + next)
        var state = UnreadBody.State(requestId: 1)
        #expect(drop(pair, &state) == .finished)
        #expect(pair.queued() == next)
    }

    @Test func aBodyArrivingInPiecesWaitsAtEveryCut() {
        let pair = Pair()
        let stream = Self.record(5, [UInt8](repeating: 9, count: 200), padding: 3) + Self.record(5, [])
        var state = UnreadBody.State(requestId: 1)
        for cut in [3, 8, 9, 150, 211, 215] {
            let from = [0, 3, 8, 9, 150, 211][[3, 8, 9, 150, 211, 215].firstIndex(of: cut)!]
            pair.send(Array(stream[from..<cut]))
            #expect(drop(pair, &state) == .waiting, "cut at \(cut)")
        }
        pair.send(Array(stream[215...]))
        #expect(drop(pair, &state) == .finished)
        #expect(pair.queued().isEmpty)
    }

    @Test func anotherRecordInsideTheBodyIsRefused() {
        for bad in [Self.record(4, [1]), Self.record(5, id: 2, [1]), Self.record(9, id: 0, []), [2, 5, 0, 1, 0, 0, 0, 0]] {
            let pair = Pair()
            pair.send(Self.record(5, [1, 2]) + bad)
            var state = UnreadBody.State(requestId: 1)
            guard case .refused = drop(pair, &state) else {
                Issue.record("accepted \(bad)")
                continue
            }
        }
    }

    @Test func aPeerThatClosesMidBodyIsClosed() {
        let pair = Pair()
        pair.send(Self.record(5, [1, 2, 3, 4, 5])[..<10].map { $0 })
        shutdown(pair.writer, Int32(SHUT_WR))
        var state = UnreadBody.State(requestId: 1)
        #expect(drop(pair, &state) == .closed)
    }
}
