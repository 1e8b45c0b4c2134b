import CFastCGI
import Glibc
import SystemCalls

/// Whether a connection's next request has arrived: what is queued on the socket is peeked (not
/// consumed) and its records checked (`RecordCheck`), so that libfcgi reads a request only once
/// all of it is queued and sound. libfcgi's reads then never wait, and never meet records it
/// mishandles. Management records before a request are taken off the socket and answered here.
enum RequestArrival {
    /// What a look at a connection found.
    enum Look: Equatable {
        /// A whole, sound request is queued: `length` bytes of the `peeked` ones.
        case ready(length: Int, peeked: Int)
        /// BEGIN_REQUEST and the params are queued and sound (the first `start` bytes), and
        /// `CONTENT_LENGTH` is over the body limit or not a number: the answer (413 or 400) does
        /// not depend on the body, so the request is answered now and its body dropped unread.
        case answerWithoutBody(start: Int, requestId: UInt16)
        /// Part of a request is queued; nothing changes before `needed` bytes are. `bodyStart`:
        /// the params are whole (the first `bodyStart` bytes) and only body bytes are missing.
        case waiting(needed: Int, bodyStart: Int?, requestId: UInt16, peeked: Int)
        /// Nothing is queued (a spurious wake-up).
        case nothing
        /// The peer closed, or the socket failed.
        case closed
        /// The records break the protocol or the limits: the connection is dropped.
        case refused(String)
    }

    /// The limits a look checks against.
    struct Limits {
        /// The largest body read (`max_body`).
        var maxBody: Int
        /// Connections at most, for GET_VALUES answers.
        var maxConnections: Int
    }

    /// Bytes a look can peek: the params, a body of `maxBody` + 1 bytes, and record headers,
    /// padding and one record past the limit.
    static func peekCapacity(maxBody: Int) -> Int {
        RecordCheck.maxParamsBytes + maxBody + 1 + 65_535 + 255 + 32 * 1024
    }

    /// Looks at what is queued on `fd`, peeking into `buffer`.
    static func look(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, limits: Limits) -> Look {
        while true {
            let n = FD.retrying { recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_PEEK | MSG_DONTWAIT)) }
            if n == 0 { return .closed }
            if n < 0 { return errno == EAGAIN || errno == EWOULDBLOCK ? .nothing : .closed }
            let verdict = RecordCheck.inspect(
                UnsafeRawBufferPointer(rebasing: buffer[..<n]), bodyLimit: limits.maxBody + 1,
                maxConnections: limits.maxConnections)
            switch verdict {
            case .complete(let length, let start, let declared):
                guard let declared, declared <= limits.maxBody else {
                    return .answerWithoutBody(start: start, requestId: requestId(buffer))
                }
                return .ready(length: length, peeked: n)
            case .invalid(let reason):
                return .refused(reason)
            case .management(let length, let reply):
                // Take the record off the socket, answer it (a few bytes: a peer with no room for
                // them is not reading), and look again.
                guard FD.skip(fd, length, scratch: buffer), reply.withUnsafeBytes({ FD.writeAll(fd, $0) }) else {
                    return .closed
                }
            case .awaitingBody(let needed, let start, let declared):
                guard let declared, declared <= limits.maxBody else {
                    return .answerWithoutBody(start: start, requestId: requestId(buffer))
                }
                // The buffer holds a whole request within the limit: full means a peer that sends
                // more than it declared.
                if n == buffer.count { return .refused("a request larger than \(buffer.count) bytes") }
                return .waiting(needed: needed, bodyStart: start, requestId: requestId(buffer), peeked: n)
            case .incomplete(let needed):
                if n == buffer.count { return .refused("a request start larger than \(buffer.count) bytes") }
                return .waiting(needed: needed, bodyStart: nil, requestId: 0, peeked: n)
            }
        }
    }

    /// The request id of the BEGIN_REQUEST record at the start of `buffer` (management records
    /// before it were consumed).
    private static func requestId(_ buffer: UnsafeMutableRawBufferPointer) -> UInt16 {
        UInt16(buffer[2]) << 8 | UInt16(buffer[3])
    }

    /// Bytes queued on `fd` to be read, without reading them.
    static func queued(_ fd: Int32) -> Int {
        Int(upsign_queued_input(fd))
    }

}
