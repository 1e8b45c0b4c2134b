import CFastCGI
import Glibc
import SystemCalls

/// The body of a request answered without it (`CONTENT_LENGTH` over `max_body` or not a number,
/// or a body too large for the socket queue to hold for checking): the answer is written at once,
/// then the rest of the request's STDIN stream is read and dropped, record by record and exactly
/// to its end, so that the connection is left at the next request and stays usable.
///
/// Closing instead would reset a front end still writing the body (nginx answers 502 then), and a
/// lingering close (libfcgi's) races with nginx putting the connection back in its keep-alive
/// cache and sending the next request on it. Exactly one record boundary is ever crossed per
/// read, so bytes of the next request are never taken.
enum UnreadBody {
    /// Where dropping the body stands.
    enum Progress: Equatable {
        /// The stream's end was read: the next byte queued is the next request's.
        case finished
        /// More of the body must arrive first.
        case waiting
        /// The peer closed, or the socket failed.
        case closed
        /// A record that is not this request's STDIN: the connection is dropped.
        case refused(String)
    }

    /// Where a connection is in the stream being dropped.
    struct State {
        /// The request whose STDIN records these are.
        var requestId: UInt16
        /// Content and padding bytes of the current record still to drop (0: a header is next).
        var skip = 0
        /// The current record is the stream's empty last one.
        var last = false
    }

    /// Drops what is queued of the stream on `fd`, using `scratch` as a sink.
    static func drop(_ fd: Int32, _ state: inout State, scratch: UnsafeMutableRawBufferPointer) -> Progress {
        while true {
            if state.skip > 0 {
                let n = FD.retrying { read(fd, scratch.baseAddress, min(state.skip, scratch.count)) }
                if n > 0 {
                    state.skip -= n
                    continue
                }
                return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? .waiting : .closed
            }
            if state.last { return .finished }
            // A record header: looked at before it is taken, so a partial one stays queued.
            var header = (UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0))
            let n = withUnsafeMutableBytes(of: &header) { h in FD.retrying { recv(fd, h.baseAddress, 8, Int32(MSG_PEEK | MSG_DONTWAIT)) } }
            if n == 0 { return .closed }
            if n < 0 { return errno == EAGAIN || errno == EWOULDBLOCK ? .waiting : .closed }
            if n < 8 { return .waiting }
            let id = UInt16(header.2) << 8 | UInt16(header.3)
            guard header.0 == 1, header.1 == 5, id == state.requestId else {
                return .refused("a record of type \(header.1) for request \(id) inside the body of request \(state.requestId)")
            }
            guard FD.skip(fd, 8, scratch: scratch) else { return .closed }
            let contentLength = Int(header.4) << 8 | Int(header.5)
            state.skip = contentLength + Int(header.6)
            state.last = contentLength == 0
        }
    }
}
