import Logging
import PerThread
import Upsign

/// What SIGHUP does to the running application.
public enum ConfigurationReload {
    /// SIGHUP: the configuration is read and checked again. A bad one is refused with its problems
    /// logged, and the running one goes on. A good one replaces the application whole; its
    /// credentials store is kept when it names the same sources (and they are read again), so
    /// generations and expiry carry on. The listening socket, the thread count and `max_body`
    /// are the server's and change only with a restart.
    /// Returns whether the new configuration was applied.
    @discardableResult
    public static func reload(
        _ application: Reloadable<Application>, path: String, metrics: ServiceMetrics?, logger: Logger,
        loader: ConfigurationLoader = .shared, environment: [String: String] = ProcessEnvironment.current()
    ) -> Bool {
        let running = application.current
        let configuration: Configuration
        do {
            configuration = try loader.load(path: path)
        } catch {
            for p in error.problems {
                logger.error(
                    "configuration reload refused; the running configuration stays",
                    metadata: [
                        "config.field": .string(p.path), "config.problem": .string(p.message),
                    ])
            }
            CredentialWatcher.log(running.credentials.reloadAll(), logger)
            return false
        }
        let sources = Set(configuration.profiles.values.map(\.credentials))
        let credentials: CredentialStore
        if sources == Set(running.credentials.sources) {
            credentials = running.credentials
            CredentialWatcher.log(credentials.reloadAll(), logger)
        } else {
            credentials = LiveApplication.loadCredentials(configuration, logger: logger, environment: environment)
        }
        let next: Application
        do {
            next = try LiveApplication.make(
                configuration, credentials: credentials, metrics: metrics, logger: logger,
                maxKeyFetches: running.publicKeys.limits.maxFetches, running: running.relay, environment: environment)
        } catch {
            logger.error("configuration reload refused; the running configuration stays")
            return false
        }
        let old = running.configuration.server
        if configuration.server.threads != old.threads || configuration.server.maxBody != old.maxBody
            || configuration.server.maxConnections != old.maxConnections || configuration.server.requestTimeout != old.requestTimeout
        {
            logger.warning("server.threads, max_connections, request_timeout and max_body take effect at the next restart")
        }
        application.replace(with: next)
        logger.notice(
            "configuration reloaded",
            metadata: [
                "profiles": .string(configuration.profiles.keys.sorted().joined(separator: ",")),
                "base_path": .string(configuration.server.basePath),
            ])
        return true
    }
}
