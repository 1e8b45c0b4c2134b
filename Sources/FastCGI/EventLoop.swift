import CFastCGI
import CGI
import Glibc
import Synchronization
import SystemCalls

/// One event-loop thread: it accepts connections on the shared listening socket, waits on all of
/// its connections in one epoll instance, and answers each request inline as soon as the whole
/// of it is queued, since signing takes microseconds. What may wait (a request the application
/// marks as blocking, an answer too large to write at once) goes to the blocking pool and the
/// connection comes back when it is done.
///
/// Everything here is touched by the loop's own thread only, except `returned` and the gauges.
final class EventLoop: @unchecked Sendable {
    /// How a connection goes on after a request.
    enum Fate {
        /// Kept for the next request.
        case keep
        /// Closed at once.
        case close
        /// Kept until its unread body is dropped to its end, then kept or closed.
        case dropBody(keepAfter: Bool)
        /// Already closed by libfcgi (a write failed).
        case gone
    }

    /// A connection handed back by the pool.
    struct Returned: @unchecked Sendable {
        let connection: UnsafeMutablePointer<Connection>
        let fate: Fate
    }

    /// How long a body may stop growing before a quiet check acts (`Connection.quietCheck`).
    static let quietMilliseconds = 1_000
    /// Bytes queued before a stalled body is suspected: below this the kernel's queue always has
    /// room, so a body that stopped there is only slow.
    static let stallSuspectBytes = 64 * 1024
    /// How long a connection accepted or started before shutdown has to finish its request.
    static let shutdownGraceMilliseconds = 1_000
    /// Sweeps of the deadlines come at most this often.
    static let sweepMilliseconds = 50

    unowned let core: ServerCore
    let index: Int
    let poller: Poller
    /// Requests being answered on this loop now (0 or 1), for the metrics.
    let busy = Atomic<Int>(0)
    /// Connections of this loop that are idle between requests, for the metrics.
    let idle = Atomic<Int>(0)

    /// What a request may be (body size, connections), for the record checks.
    let limits: RequestArrival.Limits
    /// The libfcgi request the loop reads into (one at a fixed address; a lent one is replaced).
    var request: UnsafeMutablePointer<FCGX_Request>
    /// Where queued bytes are peeked for `RequestArrival`.
    let peek: UnsafeMutableRawBufferPointer
    /// The loop's open connections.
    var connections = ConnectionList()
    /// When the next deadline or quiet check is due (0: none known).
    var nextSweep = 0
    var listening = false
    /// Accepting failed for want of descriptors or memory: not tried again before this time.
    var acceptRetryAt = 0
    /// Shutdown has begun: answer what has arrived, then close.
    var draining = false
    var drainEnds = 0
    /// Connections the blocking pool is done with, waiting for the loop to take them back.
    let returned = Mutex<[Returned]>([])

    init(index: Int, core: ServerCore) throws(FastCGIError) {
        self.index = index
        self.core = core
        poller = try Poller()
        limits = .init(maxBody: core.configuration.maxBody, maxConnections: core.configuration.maxConnections)
        request = LibFCGIBridge.makeRequest()
        // Not zero-filled: only the pages a peek writes to are ever touched.
        peek = .allocate(byteCount: RequestArrival.peekCapacity(maxBody: core.configuration.maxBody), alignment: 16)
    }

    deinit {
        LibFCGIBridge.release(request)
        peek.deallocate()
    }

    /// Connections this loop holds (for tests and the final count).
    var connectionCount: Int { connections.count }

    // MARK: - The loop

    /// Runs until shutdown has begun and every connection of this loop is closed.
    func run() {
        armListener()
        let capacity = 64
        let events = UnsafeMutableBufferPointer<epoll_event>.allocate(capacity: capacity)
        defer { events.deallocate() }
        while true {
            if core.isStopping && !draining { startDraining() }
            if draining && connections.count == 0 { break }
            let n = poller.wait(into: events, timeout: waitTimeout())
            for i in 0..<n {
                let event = events[i]
                switch event.data.u64 {
                case Poller.Token.listener:
                    acceptConnections()
                case Poller.Token.waker:
                    poller.clearWake()
                    takeReturned()
                    armListener()
                default:
                    guard let c = UnsafeMutablePointer<Connection>(bitPattern: UInt(event.data.u64)) else { continue }
                    handle(c, hangUp: event.events & Poller.hangUpEvents != 0)
                }
            }
            if nextSweep != 0 && monotonicMilliseconds() >= nextSweep { sweep() }
            if !listening && !draining { armListener() }
        }
        if listening { poller.remove(core.configuration.socket.fd) }
    }

    /// How long `epoll_wait` may block: until the next sweep, or a second while accepting is
    /// paused (the limit is also lifted by a wake-up), or without end.
    func waitTimeout() -> Int32 {
        var timeout = -1
        if nextSweep != 0 { timeout = max(0, nextSweep - monotonicMilliseconds()) }
        if !listening && !draining { timeout = timeout < 0 ? 1_000 : min(timeout, 1_000) }
        return Int32(clamping: timeout)
    }

    /// Watches the listening socket again, unless shut down, at the connection limit, or
    /// backing off after a failed accept.
    func armListener() {
        guard !listening, !draining, !core.isStopping, core.hasRoom else { return }
        if acceptRetryAt != 0 {
            guard monotonicMilliseconds() >= acceptRetryAt else { return }
            acceptRetryAt = 0
        }
        if poller.addListener(core.configuration.socket.fd) { listening = true }
    }

    /// Stops watching the listening socket: new connections wait in the kernel's backlog.
    func pauseAccepting() {
        guard listening else { return }
        poller.remove(core.configuration.socket.fd)
        listening = false
    }

    // MARK: - Connections

    /// Accepts the connections waiting, a few at a time, so that other loops take their share.
    func acceptConnections() {
        for _ in 0..<4 {
            guard !core.isStopping else { return }
            guard core.reserveConnection() else {
                pauseAccepting()
                return
            }
            let fd = upsign_accept_nonblocking(core.configuration.socket.fd)
            if fd < 0 {
                let e = errno
                core.releaseConnection()
                if e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM {
                    report("accept failed: \(String(cString: strerror(e))); pausing accepts for a second")
                    pauseAccepting()
                    acceptRetryAt = monotonicMilliseconds() + 1_000
                }
                return
            }
            if core.isTCP {
                if let allowed = core.configuration.allowedPeers, !allowed.allows(fd) {
                    // Reported before the close, so the line is there once the peer sees it.
                    report("refused a connection from an address not in \(PeerAllowList.environmentVariable)")
                    Glibc.close(fd)
                    core.releaseConnection()
                    continue
                }
                var one: Int32 = 1
                _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            }
            let c = UnsafeMutablePointer<Connection>.allocate(capacity: 1)
            c.initialize(to: Connection(fd: fd, isTCP: core.isTCP))
            connections.insert(c)
            // A connection that never sends a request is closed at the same deadline as one that
            // never finishes sending it.
            c.pointee.deadline = deadline()
            schedule(c.pointee.deadline)
            if !poller.add(fd, events: Poller.connectionEvents, token: UInt64(UInt(bitPattern: c))) {
                close(c)
            }
        }
    }

    /// An event on `c`.
    func handle(_ c: UnsafeMutablePointer<Connection>, hangUp: Bool) {
        switch c.pointee.phase {
        case .lent:
            return
        case .droppingBody:
            if dropBody(c) { arrive(c, hangUp: hangUp) }
        case .fresh, .idle, .arriving:
            arrive(c, hangUp: hangUp)
        }
    }

    /// Looks at what `c` has queued and answers the request once it is all there.
    func arrive(_ c: UnsafeMutablePointer<Connection>, hangUp: Bool) {
        while true {
            let fd = c.pointee.fd
            if c.pointee.needed > 0 {
                let queued = RequestArrival.queued(fd)
                if queued >= 0 && queued < c.pointee.needed {
                    // Not enough to change anything; a peer that shut its side sends no more.
                    if hangUp { close(c) }
                    return
                }
            }
            switch RequestArrival.look(fd, into: peek, limits: limits) {
            case .nothing:
                if hangUp { close(c) }
                return
            case .closed:
                close(c)
                return
            case .refused(let reason):
                report("dropped a connection: \(reason)")
                close(c)
                return
            case .waiting(let needed, let bodyStart, let requestId, let peeked):
                if hangUp {
                    close(c)
                    return
                }
                if c.pointee.phase == .idle { idle.subtract(1, ordering: .relaxed) }
                c.pointee.phase = .arriving
                c.pointee.needed = needed
                if c.pointee.deadline == 0 {
                    c.pointee.deadline = deadline()
                    schedule(c.pointee.deadline)
                }
                guard let bodyStart else { return }
                c.pointee.bodyStart = bodyStart
                c.pointee.requestId = requestId
                if peeked >= Self.stallSuspectBytes && peeked != c.pointee.lastQueued {
                    // Look again when it has been quiet a while: a body that stopped growing in
                    // a full queue waits for room only reading would make.
                    c.pointee.lastQueued = peeked
                    c.pointee.quietCheck = monotonicMilliseconds() + Self.quietMilliseconds
                    schedule(c.pointee.quietCheck)
                }
                return
            case .answerWithoutBody(let start, let requestId):
                // Once its body is dropped, what follows was queued before this look: look again.
                guard serveWithoutBody(c, start: start, requestId: requestId) else { return }
            case .ready(let length, let peeked):
                // Bytes past the request were queued before the look: no new event announces
                // them, so look again once it is answered.
                guard serve(c), peeked > length else { return }
            }
        }
    }

    /// Closes `c` at once and forgets it.
    func close(_ c: UnsafeMutablePointer<Connection>) {
        Glibc.close(c.pointee.fd)
        forget(c)
    }

    /// Forgets `c`, whose descriptor is closed.
    func forget(_ c: UnsafeMutablePointer<Connection>) {
        if c.pointee.phase == .idle { idle.subtract(1, ordering: .relaxed) }
        connections.remove(c)
        c.deinitialize(count: 1)
        c.deallocate()
        core.releaseConnection()
    }

    /// Sets or clears `O_NONBLOCK`; a blocking socket gets a send timeout.
    static func setBlocking(_ fd: Int32, _ blocking: Bool, sendTimeoutMilliseconds: Int) {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0 else { return }
        _ = fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK)
        if blocking {
            var timeout = timeval(tv_sec: sendTimeoutMilliseconds / 1000, tv_usec: (sendTimeoutMilliseconds % 1000) * 1000)
            _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
    }

    // MARK: - Reports

    /// Reports `message` (a refused peer, a failed accept), naming the loop.
    func report(_ message: String) {
        core.report("loop \(index): \(message)")
    }
}
