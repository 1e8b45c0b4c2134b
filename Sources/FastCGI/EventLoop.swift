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

    private let limits: RequestArrival.Limits
    private var request: UnsafeMutablePointer<FCGX_Request>
    private let peek: UnsafeMutableRawBufferPointer
    var connections = ConnectionList()
    /// When the next deadline or quiet check is due (0: none known).
    private var nextSweep = 0
    var listening = false
    /// Accepting failed for want of descriptors or memory: not tried again before this time.
    private var acceptRetryAt = 0
    var draining = false
    var drainEnds = 0
    private let returned = Mutex<[Returned]>([])

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
    private func waitTimeout() -> Int32 {
        var timeout = -1
        if nextSweep != 0 { timeout = max(0, nextSweep - monotonicMilliseconds()) }
        if !listening && !draining { timeout = timeout < 0 ? 1_000 : min(timeout, 1_000) }
        return Int32(clamping: timeout)
    }

    /// Watches the listening socket again, unless shut down, at the connection limit, or
    /// backing off after a failed accept.
    private func armListener() {
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
    private func acceptConnections() {
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
    private func handle(_ c: UnsafeMutablePointer<Connection>, hangUp: Bool) {
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

    /// Reads the request queued whole on `c` through libfcgi, answers it, and settles the
    /// connection. True when `c` is kept, idle on this loop; after false, `c` is gone or elsewhere.
    @discardableResult
    private func serve(_ c: UnsafeMutablePointer<Connection>) -> Bool {
        startServing(c)
        busy.store(1, ordering: .relaxed)
        defer { busy.store(0, ordering: .relaxed) }
        guard let reading = LibFCGIBridge.read(c.pointee.fd, into: request, maxBody: limits.maxBody) else {
            forget(c)  // libfcgi refused the request and closed the connection
            return false
        }
        return answer(c, reading)
    }

    /// Answers the request whose first `start` bytes (BEGIN_REQUEST and the params) are queued on
    /// `c` without its body, which is then dropped (`UnreadBody`): `CONTENT_LENGTH` over the
    /// limit or not a number, or a body that cannot all be queued for checking (413). True when
    /// `c` is kept, idle on this loop, with its body dropped.
    @discardableResult
    private func serveWithoutBody(_ c: UnsafeMutablePointer<Connection>, start: Int, requestId: UInt16) -> Bool {
        startServing(c)
        busy.store(1, ordering: .relaxed)
        defer { busy.store(0, ordering: .relaxed) }
        guard FD.read(c.pointee.fd, exactly: start, into: peek),
            let reading = LibFCGIBridge.read(
                start: UnsafeRawBufferPointer(rebasing: peek[..<start]), requestId: requestId, answeringOn: c.pointee.fd,
                into: request)
        else {
            close(c)
            return false
        }
        c.pointee.unreadBody = UnreadBody.State(requestId: requestId)
        return answer(c, reading)
    }

    /// The connection leaves the waiting states for the request now served.
    private func startServing(_ c: UnsafeMutablePointer<Connection>) {
        if c.pointee.phase == .idle { idle.subtract(1, ordering: .relaxed) }
        c.pointee.phase = .arriving
        c.pointee.needed = 0
        c.pointee.deadline = 0
        c.pointee.quietCheck = 0
        c.pointee.lastQueued = 0
        c.pointee.bodyStart = 0
    }

    /// Answers `reading` read from `c`: inline, or on the blocking pool when it may wait.
    private func answer(_ c: UnsafeMutablePointer<Connection>, _ reading: LibFCGIBridge.Reading) -> Bool {
        if core.mayBlock(reading.request) {
            lend(c, reading, answer: nil)
            return false
        }
        let bytes = Self.serialize(core.handler(reading.request), for: reading.request)
        if bytes.count > Self.inlineWriteLimit(c) {
            lend(c, reading, answer: bytes)
            return false
        }
        let open = LibFCGIBridge.answer(request, with: bytes)
        return settle(c, open ? fate(of: reading) : .gone)
    }

    /// The bytes of `response` for `request` (no body for HEAD).
    static func serialize(_ response: CGIResponse, for request: CGIRequest) -> [UInt8] {
        response.serialized(includeBody: request.method != "HEAD")
    }

    /// The largest answer written on the loop: one that fits in an empty socket send buffer
    /// (a unix socket's is about 200 KiB, a new TCP connection's 16 KiB), so the write cannot
    /// wait. A peer that does not read its answers fails the write and is closed.
    static func inlineWriteLimit(_ c: UnsafeMutablePointer<Connection>) -> Int {
        c.pointee.isTCP ? 8 * 1024 : 64 * 1024
    }

    /// How the connection goes on after `reading` was answered.
    func fate(of reading: LibFCGIBridge.Reading) -> Fate {
        let keep = reading.peerKeepsConnection && !core.isStopping
        if reading.bodyLeftUnread { return .dropBody(keepAfter: keep) }
        // A body libfcgi stopped reading short (longer than declared, or cut) leaves the stream
        // at no known record: the connection goes.
        guard case .bytes = reading.request.body else { return .close }
        return keep ? .keep : .close
    }

    /// Puts `c` where its fate says; true when it is kept (idle), false when it is gone or still
    /// dropping a body.
    @discardableResult
    private func settle(_ c: UnsafeMutablePointer<Connection>, _ fate: Fate) -> Bool {
        switch fate {
        case .gone:
            forget(c)
        case .close:
            close(c)
        case .keep where draining:
            close(c)
        case .keep:
            c.pointee.phase = .idle
            idle.add(1, ordering: .relaxed)
            return true
        case .dropBody(let keepAfter):
            c.pointee.phase = .droppingBody
            c.pointee.keepAfterBody = keepAfter
            // The body has the rest of a request's time to arrive.
            c.pointee.deadline = deadline()
            schedule(c.pointee.deadline)
            return dropBody(c)
        }
        return false
    }

    /// Drops what is queued of `c`'s unread body; true when its end was reached and `c` is kept,
    /// idle, for its next request (false: still dropping, or closed).
    private func dropBody(_ c: UnsafeMutablePointer<Connection>) -> Bool {
        switch UnreadBody.drop(c.pointee.fd, &c.pointee.unreadBody, scratch: peek) {
        case .waiting:
            return false
        case .closed:
            close(c)
            return false
        case .refused(let reason):
            report("dropped a connection: \(reason)")
            close(c)
            return false
        case .finished:
            c.pointee.deadline = 0
            return settle(c, c.pointee.keepAfterBody ? .keep : .close)
        }
    }

    /// Hands `c` and its request to the blocking pool, which answers it (running the handler
    /// when `answer` is nil) and gives the connection back.
    private func lend(_ c: UnsafeMutablePointer<Connection>, _ reading: LibFCGIBridge.Reading, answer: [UInt8]?) {
        poller.remove(c.pointee.fd)
        c.pointee.phase = .lent
        let lentRequest = request
        request = LibFCGIBridge.makeRequest()
        let core = self.core
        let timeout = core.requestTimeout
        core.pool.submit { [self] in
            let bytes = answer ?? Self.serialize(core.handler(reading.request), for: reading.request)
            let fd = c.pointee.fd
            Self.setBlocking(fd, true, sendTimeoutMilliseconds: timeout)
            let open = LibFCGIBridge.answer(lentRequest, with: bytes)
            if open { Self.setBlocking(fd, false, sendTimeoutMilliseconds: 0) }
            LibFCGIBridge.release(lentRequest)
            giveBack(Returned(connection: c, fate: open ? fate(of: reading) : .gone))
        }
    }

    /// Called on a pool thread: queues `c` for the loop and wakes it.
    private func giveBack(_ r: Returned) {
        returned.withLock { $0.append(r) }
        poller.wake()
    }

    /// Takes back the connections the pool is done with.
    private func takeReturned() {
        let back = returned.withLock { list -> [Returned] in
            defer { list.removeAll() }
            return list
        }
        for r in back {
            let c = r.connection
            switch r.fate {
            case .gone, .close:
                settle(c, r.fate)
            case .keep, .dropBody:
                guard poller.add(c.pointee.fd, events: Poller.connectionEvents, token: UInt64(UInt(bitPattern: c))) else {
                    close(c)
                    continue
                }
                // Whatever arrived meanwhile is announced by the registration itself.
                settle(c, r.fate)
            }
        }
    }

    /// Closes `c` at once and forgets it.
    func close(_ c: UnsafeMutablePointer<Connection>) {
        Glibc.close(c.pointee.fd)
        forget(c)
    }

    /// Forgets `c`, whose descriptor is closed.
    private func forget(_ c: UnsafeMutablePointer<Connection>) {
        if c.pointee.phase == .idle { idle.subtract(1, ordering: .relaxed) }
        connections.remove(c)
        c.deinitialize(count: 1)
        c.deallocate()
        core.releaseConnection()
    }

    /// Sets or clears `O_NONBLOCK`; a blocking socket gets a send timeout.
    private static func setBlocking(_ fd: Int32, _ blocking: Bool, sendTimeoutMilliseconds: Int) {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0 else { return }
        _ = fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK)
        if blocking {
            var timeout = timeval(tv_sec: sendTimeoutMilliseconds / 1000, tv_usec: (sendTimeoutMilliseconds % 1000) * 1000)
            _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
    }

    // MARK: - Deadlines

    /// A deadline a request timeout from now (sooner once shutdown has begun).
    func deadline() -> Int {
        let d = monotonicMilliseconds() + core.requestTimeout
        return draining ? min(d, drainEnds) : d
    }

    /// Makes sure a sweep comes by `due`.
    func schedule(_ due: Int) {
        if nextSweep == 0 || due < nextSweep { nextSweep = due }
    }

    /// Acts on the deadlines and quiet checks that are due, and finds the next.
    private func sweep() {
        let now = monotonicMilliseconds()
        var next = Int.max
        var cursor = connections.first
        while let c = cursor {
            cursor = c.pointee.next
            if c.pointee.deadline != 0 && c.pointee.deadline <= now && c.pointee.phase != .lent {
                // Past its deadline: closed at once, whatever it sent.
                close(c)
                continue
            }
            if c.pointee.quietCheck != 0 && c.pointee.quietCheck <= now {
                c.pointee.quietCheck = 0
                if c.pointee.phase == .arriving && c.pointee.bodyStart > 0 {
                    let queued = RequestArrival.queued(c.pointee.fd)
                    if queued == c.pointee.lastQueued {
                        // The body cannot all be queued for checking: answered as too large,
                        // then dropped; a connection kept after it looks at what follows.
                        if serveWithoutBody(c, start: c.pointee.bodyStart, requestId: c.pointee.requestId) {
                            arrive(c, hangUp: false)
                        }
                        continue
                    }
                    c.pointee.lastQueued = queued
                    c.pointee.quietCheck = now + Self.quietMilliseconds
                }
            }
            if c.pointee.deadline != 0 && c.pointee.phase != .lent { next = min(next, c.pointee.deadline) }
            if c.pointee.quietCheck != 0 { next = min(next, c.pointee.quietCheck) }
        }
        nextSweep = next == .max ? 0 : max(next, now + Self.sweepMilliseconds)
    }

    // MARK: - Reports

    /// Reports `message` (a refused peer, a failed accept), naming the loop.
    func report(_ message: String) {
        core.report("loop \(index): \(message)")
    }
}
