import CFastCGI
import Glibc

/// One accepted FastCGI connection: the state its event loop keeps between the socket's events.
///
/// A connection costs this record and an epoll entry, not a thread. Its bytes wait in the kernel's
/// socket queue until a whole request is there (`RequestArrival`), so it holds no buffer either.
/// Each lives at a fixed heap address (its epoll token) and belongs to one loop, which alone
/// reads and writes it, except while it is lent to the blocking pool (`Phase.lent`).
struct Connection {
    /// Where the connection is in its life.
    enum Phase: UInt8 {
        /// Accepted; no request has started yet.
        case fresh
        /// Kept alive between requests, with nothing queued: what a front end's pool holds.
        case idle
        /// Part of a request is queued; the rest is awaited until the request's deadline.
        case arriving
        /// A request of its is answered on a blocking-pool thread; the loop does not watch it.
        case lent
        /// Answered without its body, which is being dropped to its end (`UnreadBody`).
        case droppingBody
    }

    /// The socket.
    let fd: Int32
    /// A TCP connection (else a unix socket).
    let isTCP: Bool
    /// Where the connection is in its life.
    var phase: Phase = .fresh
    /// Bytes that must be queued before looking at the request again (the end of the record
    /// being received): a peer that drips a byte at a time costs one `ioctl` per byte, not a
    /// re-read and a re-check of everything queued.
    var needed = 0
    /// When the request being received must be whole (monotonic milliseconds), or 0: set at its
    /// first byte, never moved by later ones. A fresh connection's runs from its accept.
    var deadline = 0
    /// When to look whether a body stopped growing in a full socket queue, or 0.
    var quietCheck = 0
    /// Bytes queued at the last look, for `quietCheck`.
    var lastQueued = 0
    /// Where the body starts, once the params of the request being received are whole (0: not yet).
    var bodyStart = 0
    /// The request being received, once its params are whole.
    var requestId: UInt16 = 0
    /// The body being dropped (`Phase.droppingBody`).
    var unreadBody = UnreadBody.State(requestId: 0)
    /// Whether the connection is kept once the body is dropped.
    var keepAfterBody = false
    /// The neighbours in the loop's list of its connections.
    var previous: UnsafeMutablePointer<Connection>?
    var next: UnsafeMutablePointer<Connection>?

    /// A connection record for `fd`.
    init(fd: Int32, isTCP: Bool) {
        self.fd = fd
        self.isTCP = isTCP
    }

    /// True while a deadline or a quiet check is pending.
    var isTimed: Bool { deadline != 0 || quietCheck != 0 }
}

/// Milliseconds of the monotonic clock (never 0, so that 0 can mean "no deadline").
func monotonicMilliseconds() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.tv_sec * 1000 + now.tv_nsec / 1_000_000 + 1
}
