import CFastCGI
import CGI
import Glibc
import Synchronization
import SystemCalls

/// An event-driven libfcgi responder: a few event-loop threads (two per usable CPU by default,
/// at most `threads`) share the listening socket; each waits on its connections in epoll and
/// answers a request inline once the whole of it is queued and its records check out. A kept-alive
/// connection costs a small record and an epoll entry, not a thread, so connections are limited
/// only by `maxConnections` (and file descriptors), however many a front end pools.
///
/// The parts, a file each: `EventLoop` (the loop: accepting, events, deadlines), `Poller`
/// (epoll and the waker), `Connection` (per-connection state), `RequestArrival` (the peek and
/// `RecordCheck`), `LibFCGIBridge` (libfcgi reads and writes each request's records),
/// `BlockingPool` (work that may wait, off the loops) and `Shutdown` (the drain).
public final class FastCGIServer: Sendable {
    /// How the server runs.
    public struct Configuration: Sendable {
        /// The socket to accept on.
        public var socket: ListeningSocket
        /// Requests that may run at once: the event loops answer one each, and the blocking pool
        /// runs up to `threads` minus the loops.
        public var threads: Int
        /// Connections open at once; at the limit, new ones wait in the kernel's backlog.
        public var maxConnections: Int
        /// The largest request body read; a larger `CONTENT_LENGTH` is handed over as `.tooLarge`.
        public var maxBody: Int
        /// Seconds a request may take to arrive, from its first byte (and a new connection to
        /// start one); past it the connection is closed.
        public var requestTimeoutSeconds: Int
        /// Event-loop threads; nil: two per usable CPU, at most `threads`.
        public var eventLoops: Int?
        /// The front ends allowed to connect over TCP (`FCGI_WEB_SERVER_ADDRS`); nil: any.
        public var allowedPeers: PeerAllowList?
        /// Stack size of each thread, in bytes.
        public var stackSize: Int

        /// Creates a configuration.
        public init(
            socket: ListeningSocket, threads: Int, maxConnections: Int = 4096, maxBody: Int, requestTimeoutSeconds: Int = 30,
            eventLoops: Int? = nil, allowedPeers: PeerAllowList? = nil, stackSize: Int = 512 * 1024
        ) {
            self.socket = socket
            self.threads = threads
            self.maxConnections = maxConnections
            self.maxBody = maxBody
            self.requestTimeoutSeconds = requestTimeoutSeconds
            self.eventLoops = eventLoops
            self.allowedPeers = allowedPeers
            self.stackSize = stackSize
        }

        /// The event loops this configuration runs.
        public var loopCount: Int { max(1, eventLoops ?? min(threads, 2 * FastCGIServer.usableCPUs)) }
    }

    /// The CPUs this process may run on (its affinity mask, which taskset and cgroup cpusets narrow).
    public static var usableCPUs: Int { max(1, Int(upsign_usable_cpus())) }

    /// `threads` when none is configured: four per usable CPU (two event loops each, and as many
    /// blocking-pool threads for requests that wait on the network).
    public static var defaultThreads: Int { max(4, 4 * usableCPUs) }

    /// Answers one request; runs on an event loop or a pool thread, concurrently with other calls.
    public typealias Handler = @Sendable (CGIRequest) -> CGIResponse
    /// Whether answering a request may wait on something slow (the network): such requests are
    /// answered on the blocking pool, so that they do not stall other connections.
    public typealias BlockingCheck = @Sendable (CGIRequest) -> Bool

    private let core: ServerCore

    /// Creates a server; nothing runs until `run()`.
    public init(
        configuration: Configuration, report: @escaping @Sendable (String) -> Void = { _ in },
        mayBlock: @escaping BlockingCheck = { _ in false }, handler: @escaping Handler
    ) throws(FastCGIError) {
        let loopCount = configuration.loopCount
        core = ServerCore(configuration: configuration, loops: loopCount, handler: handler, mayBlock: mayBlock, report: report)
        var loops: [EventLoop] = []
        for index in 0..<loopCount { loops.append(try EventLoop(index: index, core: core)) }
        core.attach(loops)
    }

    /// What the server is doing, for the metrics.
    public struct Load: Sendable, Equatable {
        /// Threads that answer requests: the event loops and the pool threads started so far.
        public var threads: Int
        /// Requests being answered now.
        public var busy: Int
        /// Connections open.
        public var connectionsOpen: Int
        /// Kept-alive connections idle between requests.
        public var connectionsIdle: Int
    }

    /// What the server is doing now (read without stopping it; figures may be a moment apart).
    public var load: Load {
        let loops = core.loops
        return Load(
            threads: loops.count + core.pool.threadCount,
            busy: loops.reduce(0) { $0 + $1.busy.load(ordering: .relaxed) } + core.pool.busy,
            connectionsOpen: core.openConnections,
            connectionsIdle: loops.reduce(0) { $0 + $1.idle.load(ordering: .relaxed) })
    }

    /// Requests being answered right now.
    public var requestsInFlight: Int { load.busy }

    /// True once `beginShutdown()` was called.
    public var isStopping: Bool { core.isStopping }

    /// Stops accepting and drains (see `Shutdown.swift`); safe from any thread, more than once.
    public func beginShutdown() {
        if core.stop() { core.wakeAll() }
    }

    /// Runs the event loops until `beginShutdown()` and every connection is closed; returns then.
    public func run() throws(FastCGIError) {
        let rc = FCGX_Init()
        guard rc == 0 else { throw .libraryInit(code: rc) }
        core.configuration.socket.makeNonBlocking()

        var threads: [pthread_t] = []
        for loop in core.loops {
            switch Threads.start(stackSize: core.configuration.stackSize, { loop.run() }) {
            case .success(let thread):
                threads.append(thread)
            case .failure(let failure):
                beginShutdown()
                for t in threads { pthread_join(t, nil) }
                core.pool.stop()
                throw .threadCreate(errno: failure.code)
            }
        }
        for t in threads { pthread_join(t, nil) }
        core.pool.stop()
    }
}
