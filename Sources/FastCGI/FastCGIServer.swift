import CFastCGI
import CGI
import Glibc
import Synchronization

/// A multi-threaded libfcgi responder: N worker threads, each with its own `FCGX_Request` at a
/// fixed heap address, all accepting on one listening socket with no accept mutex (a mutex held by
/// a thread blocked on an idle kept-alive nginx connection starves every other thread).
///
/// Shutdown is designed, not left to libfcgi's signal flag (which makes every later read fail,
/// in-flight requests included):
/// - a worker with no connection waits in `epoll` on the listening socket (`EPOLLEXCLUSIVE`, so a
///   new connection wakes one worker, not all) and on a shutdown pipe whose closing wakes them all;
/// - a worker holding a kept-alive connection blocks in a peek (`recv` with `MSG_PEEK`) until the
///   whole next request is queued and its records check out (`RecordCheck`), and only then lets
///   libfcgi read it: one system call per request more than a bare libfcgi responder, the price
///   of never handing libfcgi records it mishandles. While it waits it is marked idle, and
///   shutdown interrupts exactly the idle ones with `SIGUSR2` (a no-op handler without
///   `SA_RESTART`), so the peek fails and the connection is closed;
/// - a busy worker is never interrupted: it answers, then sees the flag and closes its connection.
public final class FastCGIServer: Sendable {
    /// How the server runs.
    public struct Configuration: Sendable {
        /// The socket to accept on.
        public var socket: ListeningSocket
        /// Worker threads (each serves one connection at a time).
        public var threads: Int
        /// The largest request body read; a larger `CONTENT_LENGTH` is handed over as `.tooLarge`.
        public var maxBody: Int
        /// Stack size of each worker thread, in bytes.
        public var stackSize: Int

        /// Creates a configuration.
        public init(socket: ListeningSocket, threads: Int, maxBody: Int, stackSize: Int = 512 * 1024) {
            self.socket = socket
            self.threads = threads
            self.maxBody = maxBody
            self.stackSize = stackSize
        }
    }

    /// Answers one request; runs on a worker thread, concurrently with other calls.
    public typealias Handler = @Sendable (CGIRequest) -> CGIResponse

    /// The signal that interrupts workers idle on a kept-alive connection at shutdown.
    public static let wakeSignal = SIGUSR2

    private let configuration: Configuration
    private let handler: Handler
    private let stopping = Atomic<Bool>(false)
    private let wakeRead: Int32
    private let wakeWrite: Mutex<Int32>
    private let slots: [WorkerSlot]
    private let inFlight = Atomic<Int>(0)
    /// Workers that have left their loop.
    private let exitedWorkers = Atomic<Int>(0)
    /// Workers waiting in `epoll` for a new connection.
    private let waitingForConnection = Atomic<Int>(0)

    /// Requests being answered right now.
    public var requestsInFlight: Int { inFlight.load(ordering: .relaxed) }
    /// Reports worker-level events (accept errors); never request data.
    private let report: @Sendable (String) -> Void

    /// One worker's published state, read by shutdown to decide whom to interrupt.
    private final class WorkerSlot: Sendable {
        struct State {
            var thread: pthread_t?
            /// True while the worker waits for the next request on a kept connection.
            var idleOnConnection = false
            /// True while the worker waits for the first request on a connection it accepted.
            var awaitingFirstRequest = false
            var exited = false
        }
        let state = Mutex(State())
    }

    /// Creates a server; nothing runs until `run()`.
    public init(configuration: Configuration, report: @escaping @Sendable (String) -> Void = { _ in }, handler: @escaping Handler) throws(FastCGIError) {
        self.configuration = configuration
        self.handler = handler
        self.report = report
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw .socket(operation: "pipe", address: "shutdown pipe", errno: errno)
        }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        wakeRead = fds[0]
        wakeWrite = Mutex(fds[1])
        slots = (0..<configuration.threads).map { _ in WorkerSlot() }
    }

    /// How many worker threads there are, how many are answering a request, and how many wait
    /// for the next request on a kept-alive connection (the rest wait for a new connection).
    public var threadStates: (threads: Int, busy: Int, idleOnConnection: Int) {
        let idle = slots.reduce(0) { n, slot in n + (slot.state.withLock { $0.idleOnConnection && !$0.exited } ? 1 : 0) }
        return (slots.count - exitedWorkers.load(ordering: .relaxed), requestsInFlight, idle)
    }

    /// True once `beginShutdown()` was called.
    public var isStopping: Bool { stopping.load(ordering: .acquiring) }

    /// Stops accepting and wakes every worker; safe to call from any thread, more than once.
    /// Workers answer the request in hand, close their kept-alive connections and return.
    public func beginShutdown() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        wakeWrite.withLock { fd in
            // Closing the write end makes the read end readable (EOF) for every poller, forever.
            if fd >= 0 { Glibc.close(fd); fd = -1 }
        }
        interruptIdleWorkers()
    }

    /// Sends the wake signal to every worker idle on a kept connection. A worker can be marked
    /// idle a moment before it enters `read(2)`, where a signal would be lost, so `run()` repeats
    /// this until every worker has exited.
    private func interruptIdleWorkers() {
        for slot in slots {
            slot.state.withLock { s in
                if s.idleOnConnection, !s.exited, let t = s.thread { pthread_kill(t, Self.wakeSignal) }
            }
        }
    }

    /// Runs the workers until `beginShutdown()` and they have all finished; returns then.
    public func run() throws(FastCGIError) {
        Self.installWakeHandler()
        let rc = FCGX_Init()
        guard rc == 0 else { throw .libraryInit(code: rc) }
        configuration.socket.makeNonBlocking()

        var threads: [pthread_t] = []
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setstacksize(&attributes, configuration.stackSize)
        defer { pthread_attr_destroy(&attributes) }
        for index in 0..<configuration.threads {
            let box = Unmanaged.passRetained(WorkerContext(server: self, index: index))
            var thread = pthread_t()
            let created = pthread_create(&thread, &attributes, { raw in
                let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                context.server.workerLoop(index: context.index)
                return nil
            }, box.toOpaque())
            guard created == 0 else {
                box.release()
                beginShutdown()
                for t in threads { pthread_join(t, nil) }
                throw .threadCreate(errno: created)
            }
            threads.append(thread)
        }
        superviseUntilShutdown()
        let failed = !isStopping
        if failed { beginShutdown() }
        // Keep interrupting idle workers until all have left.
        while !slots.allSatisfy({ $0.state.withLock { $0.exited } }) {
            interruptIdleWorkers()
            usleep(20_000)
        }
        for t in threads { pthread_join(t, nil) }
        if failed { throw .workersExited }
    }

    /// Until shutdown: when every worker holds a connection and another connection waits to be
    /// accepted, frees a worker that is idle on a kept-alive connection, so the waiting one is not
    /// stuck until the web server drops an idle connection (nginx: after 60 s). That happens when
    /// the web server keeps more idle connections than there are threads (nginx
    /// `worker_processes` × upstream `keepalive` ≥ `threads`).
    private func superviseUntilShutdown() {
        var fds = [
            pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            pollfd(fd: configuration.socket.fd, events: Int16(POLLIN), revents: 0),
        ]
        var next = 0
        var lastReport = timespec()
        while !isStopping && exitedWorkers.load(ordering: .acquiring) < slots.count {
            guard waitingForConnection.load(ordering: .acquiring) == 0 else {
                _ = poll(&fds, 1, 100)
                continue
            }
            _ = poll(&fds, 2, 50)
            guard !isStopping, fds[1].revents & Int16(POLLIN) != 0,
                waitingForConnection.load(ordering: .acquiring) == 0
            else { continue }
            for offset in 0..<slots.count {
                let index = (next + offset) % slots.count
                let freed = slots[index].state.withLock { s -> Bool in
                    guard s.idleOnConnection, !s.exited, let t = s.thread else { return false }
                    pthread_kill(t, Self.wakeSignal)
                    return true
                }
                if freed {
                    next = index + 1
                    var now = timespec()
                    clock_gettime(CLOCK_MONOTONIC, &now)
                    if lastReport.tv_sec == 0 || now.tv_sec - lastReport.tv_sec >= 60 {
                        lastReport = now
                        report("all \(slots.count) threads hold connections and another is waiting: closing idle kept-alive connections to serve it; raise threads above the web server's kept connections (nginx worker_processes x upstream keepalive)")
                    }
                    break
                }
            }
            usleep(1_000)  // let the freed worker accept before looking again
        }
    }

    /// A handler that does nothing: its only effect is that a blocking `read(2)` returns `EINTR`.
    private static func installWakeHandler() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0  // no SA_RESTART: the interrupted read must fail
        sigaction(wakeSignal, &action, nil)
    }

    private final class WorkerContext {
        let server: FastCGIServer
        let index: Int
        init(server: FastCGIServer, index: Int) {
            self.server = server
            self.index = index
        }
    }

    private func workerLoop(index: Int) {
        let slot = slots[index]
        slot.state.withLock { $0.thread = pthread_self() }
        defer {
            slot.state.withLock { $0.exited = true }
            exitedWorkers.add(1, ordering: .releasing)
        }

        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        defer { request.deallocate() }
        let listenFd = configuration.socket.fd
        FCGX_InitRequest(request, listenFd, 0)

        let epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else {
            report("worker \(index): epoll_create1 failed: \(String(cString: strerror(errno)))")
            return
        }
        defer { Glibc.close(epoll) }
        var listenEvent = epoll_event()
        listenEvent.events = EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue
        listenEvent.data.fd = listenFd
        var wakeEvent = epoll_event()
        wakeEvent.events = EPOLLIN.rawValue
        wakeEvent.data.fd = wakeRead
        guard epoll_ctl(epoll, EPOLL_CTL_ADD, listenFd, &listenEvent) == 0,
            epoll_ctl(epoll, EPOLL_CTL_ADD, wakeRead, &wakeEvent) == 0
        else {
            report("worker \(index): epoll_ctl failed: \(String(cString: strerror(errno)))")
            return
        }

        // Each request is peeked into this buffer and checked before libfcgi reads it: the params,
        // the body up to max_body + 1 bytes, and room for record headers, padding and one record
        // past the limit. Not zero-filled: only the pages a peek writes to are ever touched.
        let peek = UnsafeMutableRawBufferPointer.allocate(byteCount: peekCapacity, alignment: 16)
        defer { peek.deallocate() }
        var fresh = false
        while !isStopping {
            if request.pointee.ipcFd < 0 {
                guard waitForConnection(epoll: epoll) else { break }
                // Accepted here rather than inside libfcgi, so the request can be checked first.
                let fd = accept(listenFd, nil, nil)
                if fd < 0 {
                    if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED {
                        report("worker \(index): accept failed: \(String(cString: strerror(errno)))")
                        usleep(10_000)
                    }
                    continue
                }
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                var one: Int32 = 1
                _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                request.pointee.ipcFd = fd
                fresh = true
            }
            // Wait for the connection's next request, then let libfcgi read it only if its records
            // are sound. A kept connection is marked idle, so shutdown interrupts its wait; a fresh
            // one is not: the web server opened it to send a request, which is answered even when
            // shutdown has begun (closing it unanswered would fail that request).
            let kept = !fresh
            fresh = false
            if kept {
                slot.state.withLock { $0.idleOnConnection = true }
            } else {
                slot.state.withLock { $0.awaitingFirstRequest = true }
            }
            let verdict = kept && isStopping ? .closed : awaitRequest(on: request.pointee.ipcFd, into: peek, fresh: !kept)
            slot.state.withLock {
                $0.idleOnConnection = false
                $0.awaitingFirstRequest = false
            }
            var bodyUnchecked = false
            switch verdict {
            case .ready:
                break
            case .bodyBeyondPeek:
                bodyUnchecked = true
            case .closed:
                FCGX_Free(request, 1)
                continue
            case .refused(let reason):
                report("worker \(index): dropped a connection: \(reason)")
                // Closed at once: libfcgi's graceful close would keep reading whatever the peer
                // goes on sending. libfcgi holds nothing else for it (no request was read).
                _ = Glibc.close(request.pointee.ipcFd)
                request.pointee.ipcFd = -1
                continue
            }
            // With no listening socket in the request, libfcgi cannot accept a new connection
            // should this one fail; it returns instead.
            request.pointee.listen_sock = -1
            // FCGX_Accept_r first finishes the previous request and closes the connection unless
            // it was kept: this one (fresh or kept) must stay open for the request on it.
            request.pointee.keepConnection = 1
            let rc = FCGX_Accept_r(request)
            request.pointee.listen_sock = listenFd
            if rc < 0 { continue }  // the connection failed; libfcgi has closed it
            serve(request, bodyUnchecked: bodyUnchecked)
        }
        // Close a kept-alive connection; the web server opens a new one for its next request.
        if request.pointee.ipcFd >= 0 { FCGX_Free(request, 1) }
    }

    /// What waiting on a connection came to.
    private enum Arrival {
        /// A complete, well-formed request is queued.
        case ready
        /// The params are complete and sound, but the body does not fit in what can be peeked (the
        /// sender waits for room): libfcgi may read the params, not the body, which is answered
        /// as too large.
        case bodyBeyondPeek
        /// The peer closed, the wait was interrupted (shutdown, or a thread wanted elsewhere), or
        /// a started request stalled.
        case closed
        /// The records break the protocol or the limits.
        case refused(String)
    }

    /// How long a request may take to arrive once its first byte has (a stalled peer), and how
    /// long a fresh connection may stay silent.
    private static let arrivalTimeoutMilliseconds = 30_000
    /// How long a fresh connection may stay silent once shutdown has begun.
    private static let silentAtShutdownMilliseconds = 1_000

    /// Bytes of one request that are peeked and checked: the params, the body up to max_body + 1,
    /// and record headers, padding and one record past the limit.
    private var peekCapacity: Int { RecordCheck.maxParamsBytes + configuration.maxBody + 1 + 65_535 + 255 + 32 * 1024 }

    /// Peeks at what is queued on `fd` until a whole request is there, without consuming it.
    /// Management records before the request are consumed and answered here. `fresh`: a new
    /// connection, whose first byte is awaited for a bounded time.
    private func awaitRequest(on fd: Int32, into buffer: UnsafeMutableRawBufferPointer, fresh: Bool) -> Arrival {
        var waited = 0
        var seen = 0
        var silentSince = fresh ? Self.monotonicMilliseconds() : 0
        while true {
            if silentSince > 0 {
                // A fresh connection: wait for its first byte in slices, to notice shutdown.
                var p = pollfd(fd: fd, events: Int16(POLLIN) | Self.pollReadHangUp, revents: 0)
                let ready = poll(&p, 1, 100)
                if ready < 0 && errno == EINTR { return .closed }
                if ready == 0 {
                    let silent = Self.monotonicMilliseconds() - silentSince
                    if silent >= Self.arrivalTimeoutMilliseconds || (isStopping && silent >= Self.silentAtShutdownMilliseconds) {
                        return .closed
                    }
                    continue
                }
                silentSince = 0
            }
            let n = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_PEEK))
            if n < 0 && errno == EINTR { return .closed }
            if n <= 0 { return .closed }
            let verdict = RecordCheck.inspect(
                UnsafeRawBufferPointer(rebasing: buffer[..<n]), bodyLimit: configuration.maxBody + 1, maxConnections: slots.count)
            switch verdict {
            case .complete: return .ready
            case .invalid(let reason): return .refused(reason)
            case .management(let length, let reply):
                // Take the record off the socket and answer it; then look again.
                guard Self.consume(fd, length), Self.writeAll(fd, reply) else { return .closed }
                seen = 0
                waited = 0
                continue
            case .incomplete, .awaitingBody:
                if n == buffer.count {
                    if verdict == .awaitingBody { return .bodyBeyondPeek }
                    return .refused("a request start larger than \(buffer.count) bytes")
                }
                // A peer that shut down its side will send nothing more: the peek would keep
                // returning the bytes already queued until the arrival timeout.
                var p = pollfd(fd: fd, events: Self.pollReadHangUp, revents: 0)
                if poll(&p, 1, 0) > 0, p.revents & (Self.pollReadHangUp | Int16(POLLHUP) | Int16(POLLERR)) != 0 { return .closed }
                // Part of a request is queued: wait for more (a peek returns at once while any
                // byte is queued, so pause between looks: briefly at first, as the web server's
                // next write is usually microseconds away), up to the arrival timeout.
                if n == seen { waited += 1 } else { seen = n; waited = 0 }
                // The body stopped growing with a full kernel queue in front of it: the sender
                // waits for room that only reading would make.
                if verdict == .awaitingBody && waited >= 200 && n >= 64 * 1024 { return .bodyBeyondPeek }
                if waited >= Self.arrivalTimeoutMilliseconds + 100 || isStopping { return .closed }
                usleep(waited < 100 ? 20 : 1_000)
            }
        }
    }

    /// Reads and discards exactly `count` bytes of `fd` (already queued: they were peeked).
    private static func consume(_ fd: Int32, _ count: Int) -> Bool {
        var scratch = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = scratch.withUnsafeMutableBytes { read(fd, $0.baseAddress, count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    /// Writes all of `bytes` to `fd`.
    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    /// POLLRDHUP (Linux; Glibc's module map leaves out the _GNU_SOURCE constants): the peer shut
    /// down its writing side.
    private static let pollReadHangUp: Int16 = 0x2000

    private static func monotonicMilliseconds() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return now.tv_sec * 1000 + now.tv_nsec / 1_000_000 + 1
    }

    /// Blocks until the listening socket is readable (true) or shutdown begins (false).
    private func waitForConnection(epoll: Int32) -> Bool {
        waitingForConnection.add(1, ordering: .releasing)
        defer { waitingForConnection.subtract(1, ordering: .releasing) }
        var events = (epoll_event(), epoll_event())
        while true {
            let n = withUnsafeMutableBytes(of: &events) { raw in
                epoll_wait(epoll, raw.baseAddress!.assumingMemoryBound(to: epoll_event.self), 2, -1)
            }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            if isStopping { return false }
            for e in [events.0, events.1].prefix(Int(n)) where e.data.fd == configuration.socket.fd {
                return true
            }
        }
    }

    /// Reads one accepted request, answers it and finishes it (the response is flushed and
    /// `FCGI_END_REQUEST` sent before the next wait).
    /// `bodyUnchecked`: the body was not checked (`Arrival.bodyBeyondPeek`), so libfcgi must not
    /// read it; it is answered as too large.
    private func serve(_ request: UnsafeMutablePointer<FCGX_Request>, bodyUnchecked: Bool) {
        inFlight.add(1, ordering: .relaxed)
        defer { inFlight.subtract(1, ordering: .relaxed) }

        let params = Self.copyParams(request.pointee.envp)
        let body = bodyUnchecked
            ? .tooLarge(declared: Int(params["CONTENT_LENGTH"] ?? "") ?? configuration.maxBody + 1)
            : Self.readBody(request, contentLength: params["CONTENT_LENGTH"], maxBody: configuration.maxBody)
        let cgiRequest = CGIRequest(params: params, body: body)
        let response = handler(cgiRequest)
        let bytes = response.serialized(includeBody: cgiRequest.method != "HEAD")
        bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) {
                _ = FCGX_PutStr($0.baseAddress, Int32($0.count), request.pointee.out)
            }
        }
        switch body {
        case .bytes: break
        case .tooLarge, .invalidLength, .truncated:
            // The rest of the body is still on the connection; don't reuse it.
            request.pointee.keepConnection = 0
        }
        FCGX_Finish_r(request)
    }

    /// Copies `NAME=VALUE` params out of libfcgi's storage (freed by `FCGX_Finish_r`).
    /// (Public for the fuzz target that drives libfcgi the way the server does.)
    public static func copyParams(_ envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CGIParams {
        var params = CGIParams()
        guard let envp else { return params }
        var count = 0
        var bytes = 0
        var cursor = envp
        while let entry = cursor.pointee {
            count += 1
            bytes += strlen(entry)
            cursor += 1
        }
        params.reserve(entries: count, bytes: bytes)
        cursor = envp
        while let entry = cursor.pointee {
            let length = strlen(entry)
            entry.withMemoryRebound(to: UInt8.self, capacity: length) {
                params.appendRaw(UnsafeBufferPointer(start: $0, count: length))
            }
            cursor += 1
        }
        return params
    }

    /// Reads the body: all of it up to `maxBody`, then on to the end of the FastCGI stdin stream so
    /// that a kept-alive connection is left at the next request's first record.
    /// (Public for the fuzz target that drives libfcgi the way the server does.)
    public static func readBody(_ request: UnsafeMutablePointer<FCGX_Request>, contentLength: String?, maxBody: Int) -> CGIRequest.Body {
        guard let declared = CGIRequest.Body.declaredLength(contentLength) else { return .invalidLength }
        if declared > maxBody { return .tooLarge(declared: declared) }
        var body = [UInt8](repeating: 0, count: declared)
        var filled = 0
        while filled < declared {
            let got = body.withUnsafeMutableBufferPointer { b in
                b.baseAddress!.advanced(by: filled).withMemoryRebound(to: CChar.self, capacity: declared - filled) {
                    FCGX_GetStr($0, Int32(declared - filled), request.pointee.in)
                }
            }
            if got <= 0 { return .truncated }
            filled += Int(got)
        }
        // Consume the end-of-stream record; more bytes than announced means a confused peer.
        var extra: CChar = 0
        if FCGX_GetStr(&extra, 1, request.pointee.in) != 0 { return .invalidLength }
        return .bytes(body)
    }
}
