import Crypto
import Glibc
import HTTPFetch
import LogLines
import Logging
import Upsign

/// The application as the worker runs it: the real clock, randomness, key fetcher, record file
/// and forwarding relay around a configuration (tests build `Application` with their own).
public enum LiveApplication {
    /// The application with its real clock, randomness, key fetcher and record file; a bad
    /// pinned callback key, an unreadable `ca_file` or binding secret is a configuration error
    /// (logged, then thrown: exit 78). `running` is the relay of the application this one
    /// replaces, kept when its target is (`relay(_:running:)`).
    public static func make(
        _ configuration: Configuration, credentials: CredentialStore, metrics: ServiceMetrics?, logger: Logger,
        maxKeyFetches: Int = PublicKeyStore.Limits().maxFetches, running: UploadRelay? = nil,
        environment: [String: String] = ProcessEnvironment.current()
    ) throws(ServiceError) -> Application {
        let pinnedKey: PublicKey?
        switch configuration.pinnedCallbackKey() {
        case .success(let k): pinnedKey = k
        case .failure(let e): throw refused(e, logger: logger)
        }
        // Keys come over https only (an http:// key URL is fetched as https://), trusting
        // callback.ca_file when set; PublicKeyStore.Limits bounds the fetching callers can cause.
        let caFile = configuration.callback.caFile
        if let caFile, pinnedKey == nil, access(caFile, R_OK) != 0 {
            throw refused(ConfigurationError(problems: [.init(path: "callback.ca_file", message: "\(caFile) is not readable")]), logger: logger)
        }
        let publicKeys = PublicKeyStore(
            pinned: pinnedKey,
            fetch: { url in
                HTTPFetcher.get(url, caFile: caFile, timeoutSeconds: 5, maxBytes: 64 * 1024).mapError { .init(description: "\(url): \($0)") }
            },
            limits: PublicKeyStore.Limits(maxFetches: maxKeyFetches))
        let binding: CallbackBinding?
        switch configuration.callbackBinding(environment: environment) {
        case .success(let b): binding = b
        case .failure(let e): throw refused(e, logger: logger)
        }
        return Application(
            configuration: configuration, credentials: credentials,
            clock: Runtime.clock, uuid: Runtime.uuid, logger: logger,
            publicKeys: publicKeys, records: configuration.callback.records.map { RecordLog(path: $0) },
            metrics: metrics, monotonicNanoseconds: Runtime.monotonicNanoseconds,
            requestLog: JSONRequestLog(logLevel: logger.logLevel), binding: binding,
            relay: relay(configuration.callback, running: running))
    }

    /// Logs each problem of `error` as a critical configuration error, and returns it to throw.
    private static func refused(_ error: ConfigurationError, logger: Logger) -> ServiceError {
        for p in error.problems {
            logger.critical("configuration error", metadata: ["config.field": .string(p.path), "config.problem": .string(p.message)])
        }
        return .configuration(error)
    }

    /// The relay to `[callback] forward`, if set: the running one when a reload keeps its target
    /// and timeout (so the answers it remembers stay), else a new one posting through libcurl.
    public static func relay(_ settings: CallbackSettings, running: UploadRelay?) -> UploadRelay? {
        guard let target = settings.forward else { return nil }
        if let running, running.target == target, running.timeout == settings.forwardTimeout { return running }
        let milliseconds = Int(
            settings.forwardTimeout.components.seconds * 1000 + settings.forwardTimeout.components.attoseconds / 1_000_000_000_000_000)
        return UploadRelay(target: target, timeout: settings.forwardTimeout) { body, headers in
            HTTPFetcher.post(
                target.url, unixSocket: target.unixSocket, body: body, headers: headers,
                timeoutMilliseconds: milliseconds, maxBytes: UploadRelay.maxAnswerBytes
            )
            .map { UploadRelay.Answer(status: $0.status, body: $0.body) }
            .mapError { UploadRelay.Unanswered(description: $0.description, timedOut: $0.timedOut) }
        }
    }

    /// The credentials of every profile of `configuration`, with one log line per source loaded
    /// and one per source that could not be (its profiles answer 503 until it loads).
    public static func loadCredentials(
        _ configuration: Configuration, logger: Logger, environment: [String: String] = ProcessEnvironment.current()
    ) -> CredentialStore {
        let credentials = CredentialStore(profiles: configuration.profiles.values, environment: environment, clock: Runtime.clock)
        CredentialWatcher.log(credentials.loaded.map { .loaded(source: $0.source, generation: $0.generation, expiration: $0.expiration) }, logger)
        for (source, error) in credentials.failures {
            logger.error(
                "credentials unavailable; profiles using them answer 503",
                metadata: [
                    "credentials.source": .string(source.description), "error": .string(error.description),
                ])
        }
        return credentials
    }
}
