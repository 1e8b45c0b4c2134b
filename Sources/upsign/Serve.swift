import ArgumentParser
import FastCGI
import Glibc
import HTTPFetch
import Logging
import PerThread
import Upsign
import UpsignService

/// `upsign serve`: the FastCGI worker.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the FastCGI worker.",
        discussion: """
            Without --listen the listening socket is inherited: systemd socket activation \
            (LISTEN_PID, LISTEN_FDS: fd 3) or fd 0 (spawn-fcgi, Apache mod_fcgid, \
            StandardInput=socket). With neither, and GATEWAY_INTERFACE and REQUEST_METHOD set, \
            it answers one plain CGI request from the environment and stdin, and exits.

            Signals: SIGTERM or SIGINT: stop accepting, finish requests in flight (at most \
            --drain-timeout seconds), exit. SIGHUP: read the configuration and the credentials \
            files again; a configuration that fails a check is refused, logged, and the running \
            one kept.

            Environment: UPSIGN_CONFIG (without --config); the store credential variables (see \
            upsign --help); CREDENTIALS_DIRECTORY (systemd, for "$CREDENTIALS_DIRECTORY/NAME"); \
            FCGI_WEB_SERVER_ADDRS (front-end addresses allowed to connect over TCP); \
            UPSIGN_EVENT_LOOPS (event loops, for measurements).

            Exit status: 0 stopped after draining, or the CGI request answered; 1 the drain timed \
            out, serving failed, or the CGI answer could not be written; 2 no socket to listen \
            on, or it could not be opened; 64 bad arguments; 78 the configuration (or a file it \
            names) is not usable.
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: ArgumentHelp("Listen on unix:/path or HOST:PORT instead of an inherited socket.", valueName: "address"))
    var listen: String?

    @Option(help: ArgumentHelp("Requests answered at once (overrides server.threads).", valueName: "n"))
    var threads: Int?

    @Option(help: ArgumentHelp("FastCGI connections open at once (overrides server.max_connections).", valueName: "n"))
    var maxConnections: Int?

    @Option(help: ArgumentHelp("Seconds a request may take to arrive (overrides server.request_timeout).", valueName: "seconds"))
    var requestTimeout: Int?

    @Option(help: ArgumentHelp("Mode of a unix socket created by --listen, in octal.", valueName: "mode"))
    var socketMode: String = "660"

    @Option(
        help: ArgumentHelp(
            "Group of a unix socket created by --listen (the web server's, e.g. www-data), by name or number.", valueName: "group"))
    var socketGroup: String?

    @Option(help: ArgumentHelp("Seconds to wait for requests in flight after SIGTERM before exiting anyway.", valueName: "seconds"))
    var drainTimeout: Int = 9

    func validate() throws {
        if let listen, ListenAddress(listen) == nil {
            throw ValidationError("--listen takes unix:/absolute/path or HOST:PORT")
        }
        if let threads, !(1...1024).contains(threads) {
            throw ValidationError("--threads must be between 1 and 1024")
        }
        if let maxConnections, !(1...1_000_000).contains(maxConnections) {
            throw ValidationError("--max-connections must be between 1 and 1000000")
        }
        if let requestTimeout, !(1...3600).contains(requestTimeout) {
            throw ValidationError("--request-timeout must be between 1 and 3600")
        }
        guard let mode = UInt32(socketMode, radix: 8), mode <= 0o777 else {
            throw ValidationError("--socket-mode is an octal mode such as 660")
        }
        guard (1...3600).contains(drainTimeout) else { throw ValidationError("--drain-timeout must be 1...3600") }
        if let socketGroup, Self.groupID(socketGroup) == nil {
            throw ValidationError("--socket-group: no group named \(socketGroup)")
        }
        if socketGroup != nil, listen.map({ !$0.hasPrefix("unix:") }) ?? true {
            throw ValidationError("--socket-group applies to --listen unix:/path only")
        }
    }

    /// The id of the group `name` (a name, or a number).
    static func groupID(_ name: String) -> gid_t? {
        if let number = gid_t(name) { return number }
        guard let entry = getgrnam(name) else { return nil }
        return entry.pointee.gr_gid
    }

    func run() throws {
        // Before any thread exists, so all inherit the mask and libfcgi's handlers never run.
        ShutdownSignals.block()
        HTTPFetcher.initialise()
        let logger = common.bootstrapLogging()

        let configuration: Configuration
        do {
            // A process answering one CGI request needs no protection from a crashing parser.
            let environment = ProcessEnvironment.current()
            let oneCGIRequest = listen == nil && ListeningSocket.inherited(environment: environment) == nil && CGIMode.applies(environment)
            configuration = try ConfigurationLoader.shared.load(path: common.configPath, isolated: !oneCGIRequest)
        } catch {
            for p in error.problems {
                logger.critical("configuration error", metadata: ["config.field": .string(p.path), "config.problem": .string(p.message)])
            }
            throw ExitCode(78)  // EX_CONFIG
        }

        let socket: ListeningSocket
        do {
            if let listen, let address = ListenAddress(listen) {
                socket = try ListeningSocket.open(
                    address, mode: mode_t(UInt32(socketMode, radix: 8) ?? 0o660), group: socketGroup.flatMap(Self.groupID))
            } else if let inherited = ListeningSocket.inherited(environment: ProcessEnvironment.current()) {
                socket = inherited
            } else if CGIMode.applies(ProcessEnvironment.current()) {
                do {
                    try CGIMode.answer(configuration: configuration, logger: logger)
                } catch {
                    throw ExitCode(error.exitStatus)
                }
                return
            } else {
                throw FastCGIError.noListeningSocket
            }
        } catch let error as FastCGIError {
            logger.critical("cannot listen", metadata: ["error": .string(error.description)])
            throw ExitCode(2)
        }

        let credentials = LiveApplication.loadCredentials(configuration, logger: logger)
        let metrics = ServiceMetrics(version: BuildInfo.version, startTime: Runtime.clock())

        // Requests read the application through `current`: SIGHUP replaces it whole, and a request
        // in flight finishes with the one it started with.
        let threadCount = threads ?? configuration.server.threads ?? FastCGIServer.defaultThreads
        let eventLoops = ProcessEnvironment.current()["UPSIGN_EVENT_LOOPS"].flatMap { Int($0) }.map { min(max($0, 1), threadCount) }
        // Key fetches hold blocking-pool threads (up to the fetch timeout): at most half the pool,
        // so callbacks with a cached key are still answered while fetches hang.
        let poolThreads =
            threadCount - FastCGIServer.Configuration(socket: socket, threads: threadCount, maxBody: 0, eventLoops: eventLoops).loopCount
        let fetchLimit = max(1, min(PublicKeyStore.Limits().maxFetches, poolThreads / 2))
        let application: Reloadable<Application>
        do {
            application = Reloadable(
                try LiveApplication.make(
                    configuration, credentials: credentials, metrics: metrics, logger: logger, maxKeyFetches: fetchLimit))
        } catch {
            throw ExitCode(error.exitStatus)
        }
        CredentialWatcher.start({ application.current.credentials }, logger: logger)
        let allowedPeers: PeerAllowList?
        do {
            allowedPeers = try PeerAllowList.from(environment: ProcessEnvironment.current())
        } catch {
            logger.critical("cannot listen", metadata: ["error": .string(error.description)])
            throw ExitCode(2)
        }
        Self.warnIfExposed(socket, allowedPeers: allowedPeers, logger: logger)
        let wantedConnections = maxConnections ?? configuration.server.maxConnections
        let descriptors = FileDescriptorLimit.raise(toFit: wantedConnections)
        if descriptors.connections < wantedConnections {
            logger.warning(
                "the open-files limit caps connections",
                metadata: [
                    "max_connections": .stringConvertible(descriptors.connections), "wanted": .stringConvertible(wantedConnections),
                    "RLIMIT_NOFILE": .stringConvertible(descriptors.limit),
                ])
        }
        let serverConfiguration = FastCGIServer.Configuration(
            socket: socket, threads: threadCount, maxConnections: descriptors.connections, maxBody: configuration.server.maxBody,
            requestTimeoutSeconds: requestTimeout ?? configuration.server.requestTimeout,
            eventLoops: eventLoops, allowedPeers: allowedPeers)
        let server = try FastCGIServer(
            configuration: serverConfiguration,
            report: { message in logger.warning("worker", metadata: ["event": .string(message)]) },
            mayBlock: { request in application.withCurrent { $0.mayBlock(request) } },
            handler: { request in application.withCurrent { $0.respond(to: request) } })
        metrics.setSampler {
            let load = server.load
            return ServiceMetrics.ServerSample(
                threads: load.threads, busy: load.busy, connectionsOpen: load.connectionsOpen, connectionsIdle: load.connectionsIdle,
                residentBytes: ProcessStatistics.residentBytes(), openFileDescriptors: ProcessStatistics.openFileDescriptors())
        }

        let drainSeconds = UInt32(drainTimeout)
        ShutdownSignals.startWaiter { event in
            switch event {
            case .terminate(let signal):
                if server.isStopping { return }
                logger.notice(
                    "stopping: finishing requests in flight",
                    metadata: [
                        "signal": .stringConvertible(signal), "requests.in_flight": .stringConvertible(server.requestsInFlight),
                    ])
                server.beginShutdown()
                // A request stuck past the deadline (a stalled peer) must not keep the process alive.
                sleep(drainSeconds)
                logger.error(
                    "drain timed out; exiting with requests unfinished",
                    metadata: [
                        "requests.in_flight": .stringConvertible(server.requestsInFlight)
                    ])
                _exit(1)
            case .reload:
                logger.notice("SIGHUP: reading the configuration and the credentials files again")
                metrics.configurationReloaded(
                    applied: ConfigurationReload.reload(application, path: common.configPath, metrics: metrics, logger: logger))
            }
        }

        StartupTrim.schedule()
        logger.notice(
            "upsign started",
            metadata: [
                "version": .string(BuildInfo.version),
                "listen": .string(socket.origin),
                "threads": .stringConvertible(threadCount),
                "event_loops": .stringConvertible(serverConfiguration.loopCount),
                "max_connections": .stringConvertible(serverConfiguration.maxConnections),
                "profiles": .string(configuration.profiles.keys.sorted().joined(separator: ",")),
                "base_path": .string(configuration.server.basePath),
            ])
        do {
            try server.run()
        } catch {
            logger.critical("stopped on an error", metadata: ["error": .string(error.description)])
            socket.close()
            throw ExitCode(1)
        }
        socket.close()
        logger.notice("upsign stopped")
    }

    /// Warns when a TCP socket on a non-loopback address lets anyone who reaches it connect: with
    /// no allow-list, a stranger could send requests with any identity param.
    static func warnIfExposed(_ socket: ListeningSocket, allowedPeers: PeerAllowList?, logger: Logger) {
        guard socket.exposure == .network else { return }
        if let allowedPeers {
            logger.notice("TCP connections only from FCGI_WEB_SERVER_ADDRS", metadata: ["allowed": .string(allowedPeers.text)])
        } else {
            logger.warning(
                "listening on a non-loopback TCP address with no FCGI_WEB_SERVER_ADDRS: whoever reaches the port can send any identity; set FCGI_WEB_SERVER_ADDRS to the front ends' addresses, or listen on a unix socket or loopback",
                metadata: ["listen": .string(socket.origin)])
        }
    }
}
