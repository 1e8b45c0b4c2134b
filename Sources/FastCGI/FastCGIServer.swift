import CFastCGI
import CGI
import Glibc
import Synchronization

/// A multi-threaded libfcgi responder: N worker threads, each with its own `FCGX_Request` at a
/// fixed heap address, all accepting on one listening socket with no accept mutex (a mutex held by
/// a thread blocked on an idle kept-alive nginx connection starves every other thread).
///
/// Each worker waits for work in `epoll`/`poll` together with a shutdown pipe, and calls
/// `FCGX_Accept_r` only when its connection or the listening socket is readable; so
/// `beginShutdown()` wakes every worker at once, idle kept-alive connections are closed at once,
/// and in-flight requests finish.
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

    private let configuration: Configuration
    private let handler: Handler
    private let stopping = Atomic<Bool>(false)
    private let wakeRead: Int32
    private let wakeWrite: Mutex<Int32>
    /// Requests being answered right now.
    public let inFlight = Atomic<Int>(0)
    /// Reports worker-level events (accept errors); never request data.
    private let report: @Sendable (String) -> Void

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
    }

    /// True once `beginShutdown()` was called.
    public var isStopping: Bool { stopping.load(ordering: .acquiring) }

    /// Stops accepting and wakes every worker; safe to call from any thread, more than once.
    /// Workers answer the request in hand, close idle kept-alive connections and return.
    public func beginShutdown() {
        stopping.store(true, ordering: .releasing)
        wakeWrite.withLock { fd in
            // Closing the write end makes the read end readable (EOF) for every poller, forever.
            if fd >= 0 { Glibc.close(fd); fd = -1 }
        }
    }

    /// Runs the workers until `beginShutdown()` and they have all finished; returns then.
    public func run() throws(FastCGIError) {
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
        for t in threads { pthread_join(t, nil) }
    }

    private final class WorkerContext {
        let server: FastCGIServer
        let index: Int
        init(server: FastCGIServer, index: Int) {
            self.server = server
            self.index = index
        }
    }

    /// What woke a worker.
    private enum Wake { case connection, listener, shutdown, spurious }

    private func workerLoop(index: Int) {
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        defer { request.deallocate() }
        FCGX_InitRequest(request, configuration.socket.fd, 0)

        let epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else {
            report("worker \(index): epoll_create1 failed: \(String(cString: strerror(errno)))")
            return
        }
        defer { Glibc.close(epoll) }
        var listenEvent = epoll_event()
        listenEvent.events = EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue
        listenEvent.data.fd = configuration.socket.fd
        var wakeEvent = epoll_event()
        wakeEvent.events = EPOLLIN.rawValue
        wakeEvent.data.fd = wakeRead
        guard epoll_ctl(epoll, EPOLL_CTL_ADD, configuration.socket.fd, &listenEvent) == 0,
            epoll_ctl(epoll, EPOLL_CTL_ADD, wakeRead, &wakeEvent) == 0
        else {
            report("worker \(index): epoll_ctl failed: \(String(cString: strerror(errno)))")
            return
        }

        while !isStopping {
            switch waitForWork(request, epoll: epoll) {
            case .shutdown: break
            case .spurious: continue
            case .connection, .listener:
                let rc = FCGX_Accept_r(request)
                if rc < 0 {
                    // Another worker took the connection (EAGAIN), or a kept connection was
                    // closed by the web server: back to waiting. Anything else is reported, with a
                    // pause so that a persistent error (EMFILE) cannot spin a core.
                    if rc != -EAGAIN && rc != -EWOULDBLOCK && rc != -EINTR {
                        report("worker \(index): FCGX_Accept_r failed: \(rc)")
                        usleep(10_000)
                    }
                    continue
                }
                serve(request)
                continue
            }
            break
        }
        // Close an idle kept-alive connection; the web server opens a new one for its next request.
        if request.pointee.ipcFd >= 0 { FCGX_Free(request, 1) }
    }

    /// Blocks until this worker's kept connection (or, with none, the listening socket) is
    /// readable, or shutdown begins. Readable data wins over shutdown: it is a request in flight.
    private func waitForWork(_ request: UnsafeMutablePointer<FCGX_Request>, epoll: Int32) -> Wake {
        let connection = request.pointee.ipcFd
        if connection >= 0 {
            var fds = [
                pollfd(fd: connection, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            let n = poll(&fds, 2, -1)
            if n < 0 { return errno == EINTR ? .spurious : .shutdown }
            if fds[0].revents != 0 { return .connection }
            return fds[1].revents != 0 ? .shutdown : .spurious
        }
        var events = (epoll_event(), epoll_event())
        let n = withUnsafeMutableBytes(of: &events) { raw in
            epoll_wait(epoll, raw.baseAddress!.assumingMemoryBound(to: epoll_event.self), 2, -1)
        }
        if n < 0 { return errno == EINTR ? .spurious : .shutdown }
        var sawListener = false
        var sawWake = false
        for e in [events.0, events.1].prefix(Int(n)) {
            if e.data.fd == configuration.socket.fd { sawListener = true } else { sawWake = true }
        }
        // New connections are left to other processes sharing the socket once we are stopping.
        if sawWake || isStopping { return .shutdown }
        return sawListener ? .listener : .spurious
    }

    /// Reads one accepted request, answers it and finishes it (the response is flushed and
    /// `FCGI_END_REQUEST` sent before the next wait).
    private func serve(_ request: UnsafeMutablePointer<FCGX_Request>) {
        inFlight.add(1, ordering: .relaxed)
        defer { inFlight.subtract(1, ordering: .relaxed) }

        let params = Self.copyParams(request.pointee.envp)
        let body = readBody(request, contentLength: params["CONTENT_LENGTH"])
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
    static func copyParams(_ envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> [String: String] {
        var params: [String: String] = [:]
        params.reserveCapacity(32)
        guard var cursor = envp else { return params }
        while let entry = cursor.pointee {
            let length = strlen(entry)
            entry.withMemoryRebound(to: UInt8.self, capacity: length) { p in
                let bytes = UnsafeBufferPointer(start: p, count: length)
                if let eq = bytes.firstIndex(of: UInt8(ascii: "=")) {
                    let name = String(decoding: bytes[..<eq], as: UTF8.self)
                    let value = String(decoding: bytes[(eq + 1)...], as: UTF8.self)
                    params[name] = value
                }
            }
            cursor += 1
        }
        return params
    }

    /// Reads the body: all of it up to `maxBody`, then on to the end of the FastCGI stdin stream so
    /// that a kept-alive connection is left at the next request's first record.
    private func readBody(_ request: UnsafeMutablePointer<FCGX_Request>, contentLength: String?) -> CGIRequest.Body {
        var declared = 0
        if let text = contentLength, !text.isEmpty {
            guard text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int(text) else {
                return .invalidLength
            }
            declared = n
        }
        if declared > configuration.maxBody { return .tooLarge(declared: declared) }
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
