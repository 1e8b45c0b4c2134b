import CFastCGI
import CGI
import Glibc
import Synchronization

/// What every event loop and pool thread of one server shares: the settings, the application,
/// the connection count, the shutdown flag and the blocking pool.
final class ServerCore: @unchecked Sendable {
    /// The server's configuration.
    let configuration: FastCGIServer.Configuration
    /// Answers a request.
    let handler: FastCGIServer.Handler
    /// Whether answering a request may wait on something slow.
    let mayBlock: FastCGIServer.BlockingCheck
    /// Reports server events (never request data).
    let report: @Sendable (String) -> Void
    /// The listening socket is TCP (else unix).
    let isTCP: Bool
    /// The work that may wait.
    let pool: BlockingPool
    /// A request's arrival deadline, in milliseconds.
    let requestTimeout: Int
    /// Connections open, across the loops (never above `maxConnections`).
    private let open = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    /// The loops, set once before any runs.
    private(set) var loops: [EventLoop] = []

    init(
        configuration: FastCGIServer.Configuration, loops: Int, handler: @escaping FastCGIServer.Handler,
        mayBlock: @escaping FastCGIServer.BlockingCheck, report: @escaping @Sendable (String) -> Void
    ) {
        self.configuration = configuration
        self.handler = handler
        self.mayBlock = mayBlock
        self.report = report
        isTCP = configuration.socket.exposure != .unixSocket
        pool = BlockingPool(limit: max(1, configuration.threads - loops), stackSize: configuration.stackSize)
        requestTimeout = configuration.requestTimeoutSeconds * 1000
    }

    /// Sets the loops; called once, before `run`.
    func attach(_ loops: [EventLoop]) { self.loops = loops }

    /// True once shutdown has begun.
    var isStopping: Bool { stopping.load(ordering: .acquiring) }

    /// Begins shutdown; true the first time.
    func stop() -> Bool {
        stopping.exchange(true, ordering: .acquiringAndReleasing) == false
    }

    /// Connections open now.
    var openConnections: Int { open.load(ordering: .relaxed) }

    /// True while another connection may be accepted.
    var hasRoom: Bool { open.load(ordering: .relaxed) < configuration.maxConnections }

    /// Takes a place for a connection about to be accepted; false at `maxConnections`.
    func reserveConnection() -> Bool {
        var current = open.load(ordering: .relaxed)
        while current < configuration.maxConnections {
            let (exchanged, original) = open.compareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Gives back a connection's place. At the limit, loops stopped accepting: all are woken to
    /// start again.
    func releaseConnection() {
        let before = open.subtract(1, ordering: .relaxed).oldValue
        if before == configuration.maxConnections {
            for loop in loops { loop.poller.wake() }
        }
    }

    /// Wakes every loop (shutdown).
    func wakeAll() {
        for loop in loops { loop.poller.wake() }
    }
}
