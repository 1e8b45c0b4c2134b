import CGI
import JSONText
import LogLines
import Logging
import PostPolicy

/// The upsign application: routes a gateway request to the policy signer or the health check and
/// answers JSON. It does no I/O of its own: the clock, randomness and credentials are given to it,
/// so the same request with the same inputs always gets the same answer.
public struct Application: Sendable {
    /// The validated configuration.
    public let configuration: Configuration
    /// The credentials per source.
    public let credentials: CredentialStore
    /// Reads the clock once per request.
    public let clock: @Sendable () -> Timestamp
    /// Makes a fresh UUID per request; nil when no randomness is available.
    public let uuid: @Sendable () -> String?
    /// Where events are logged.
    public let logger: Logger
    /// Where each request's line goes (by default, `logger`).
    public let requestLog: any RequestLog

    /// The keys OSS signs callbacks with.
    public let publicKeys: PublicKeyStore
    /// Where verified uploads are recorded, if configured.
    public let records: RecordLog?
    /// Where verified uploads are posted instead, if configured (`[callback] forward`).
    public let relay: UploadRelay?
    /// Binds each signed callback to its upload, and checks the binding on `/callback`.
    public let binding: CallbackBinding?
    /// Counters and histograms served at `{base_path}/metrics`; nil answers that route 404.
    public let metrics: ServiceMetrics?
    /// A monotonic clock in nanoseconds, for request durations.
    public let monotonicNanoseconds: @Sendable () -> UInt64
    /// Derived V4 signing keys, shared by every request.
    private let signingKeys = SigningKeyCache()
    /// One issuer per profile, by name, and the default profile's.
    private let issuers: [String: PolicyIssuer]
    private let defaultIssuer: PolicyIssuer?
    private let policyPath: String
    private let healthPath: String
    private let callbackPath: String
    private let metricsPath: String
    /// The params naming the user and the tenant; nil when the configuration names a request
    /// header (`HTTP_*`), which the client sets itself: such a param is never read.
    private let identityParam: String?
    private let tenantParam: String?

    /// Creates the application.
    public init(
        configuration: Configuration, credentials: CredentialStore,
        clock: @escaping @Sendable () -> Timestamp, uuid: @escaping @Sendable () -> String?, logger: Logger,
        publicKeys: PublicKeyStore = PublicKeyStore(), records: RecordLog? = nil,
        metrics: ServiceMetrics? = nil, monotonicNanoseconds: @escaping @Sendable () -> UInt64 = { 0 },
        requestLog: (any RequestLog)? = nil, binding: CallbackBinding? = nil, relay: UploadRelay? = nil
    ) {
        self.relay = relay
        self.binding = binding
        self.requestLog = requestLog ?? LoggerRequestLog(logger)
        self.metrics = configuration.server.metrics ? metrics : nil
        self.monotonicNanoseconds = monotonicNanoseconds
        self.publicKeys = publicKeys
        self.records = records
        self.configuration = configuration
        self.credentials = credentials
        self.clock = clock
        self.uuid = uuid
        self.logger = logger
        let issuers = configuration.profiles.mapValues { PolicyIssuer(profile: $0) }
        self.issuers = issuers
        defaultIssuer = configuration.defaultProfile.flatMap { issuers[$0.name] }
        policyPath = configuration.server.basePath + "/policy"
        healthPath = configuration.server.basePath + "/healthz"
        callbackPath = configuration.server.basePath + "/callback"
        metricsPath = configuration.server.basePath + "/metrics"
        identityParam = ServerSettings.isClientHeader(configuration.server.identityParam) ? nil : configuration.server.identityParam
        tenantParam = configuration.server.tenantParam.flatMap { ServerSettings.isClientHeader($0) ? nil : $0 }
    }

    /// Answers one request. Never traps on input: every failure is a JSON error response.
    /// Counts it in `metrics` and logs one line for it: at `info`, or `error` for a 5xx.
    public func respond(to request: CGIRequest) -> CGIResponse {
        let started = monotonicNanoseconds()
        var outcome = Outcome()
        let response: CGIResponse
        let method = request.method
        switch request.path {
        case policyPath:
            outcome.route = .policy
            guard method == "GET" || method == "POST" else {
                response = outcome.failed(.methodNotAllowed(["GET", "POST"]))
                break
            }
            switch issuePolicy(request, outcome: &outcome) {
            case .success(let body): response = JSONResponse.ok(body)
            case .failure(let error): response = outcome.failed(error)
            }
        case healthPath:
            outcome.route = .healthz
            guard method == "GET" || method == "HEAD" else {
                response = outcome.failed(.methodNotAllowed(["GET", "HEAD"]))
                break
            }
            response = health()
        case callbackPath:
            outcome.route = .callback
            guard method == "POST" else {
                response = outcome.failed(.methodNotAllowed(["POST"]))
                break
            }
            switch verifyCallback(request) {
            case .success(let body):
                metrics?.callbackChecked(outcome: "verified")
                response = JSONResponse.ok(body)
            case .failure(let error):
                metrics?.callbackChecked(outcome: error.code)
                response = outcome.failed(error)
            }
        case metricsPath where metrics != nil:
            outcome.route = .metrics
            guard method == "GET" || method == "HEAD" else {
                response = outcome.failed(.methodNotAllowed(["GET", "HEAD"]))
                break
            }
            response = CGIResponse(
                status: 200, headers: Self.metricsHeaders, body: metrics!.render(credentials: credentials, now: clock()))
        default:
            response = outcome.failed(.notFound)
        }
        let elapsed = monotonicNanoseconds() &- started
        if let metrics {
            metrics.requestAnswered(route: outcome.route, profile: outcome.profile, status: response.status)
            if outcome.route == .policy, response.status == 200, let profile = outcome.profile {
                metrics.policySigned(profile: profile, seconds: Double(elapsed) / 1e9)
            }
        }
        requestLog.record(
            RequestLine(
                id: request.param("REQUEST_ID") ?? request.param("HTTP_X_REQUEST_ID"), method: request.method,
                route: outcome.route.rawValue, path: outcome.route == .unknown ? request.path : nil,
                profile: outcome.profile, user: outcome.user, status: response.status,
                durationMicroseconds: elapsed / 1000, error: outcome.error))
        return response
    }

    /// Whether answering `request` may wait on the network or a disk: a callback (its public key
    /// may have to be fetched, up to 5 s, and verified uploads are appended to the records file
    /// or posted to the application).
    /// The server answers such requests off its event loops.
    public func mayBlock(_ request: CGIRequest) -> Bool {
        request.path == callbackPath
    }

    private static let metricsHeaders = [("Content-Type", "text/plain; version=0.0.4; charset=utf-8"), ("Cache-Control", "no-store")]

    /// What `respond` learnt about a request on its way, for the metrics and the log line.
    struct Outcome {
        var route = ServiceMetrics.Route.unknown
        /// The profile used; only ever a configured name, so metric labels stay bounded.
        var profile: String?
        /// The authenticated user, once validated.
        var user: String?
        /// The error code answered, if any.
        var error: String?

        mutating func failed(_ error: APIError) -> CGIResponse {
            self.error = error.code
            return error.response
        }
    }

    /// `{base_path}/healthz`: 200 when every credentials source has credentials that have not
    /// expired, else 503; either way with the counts (and the soonest expiry, for temporary
    /// credentials), never a source's name or a key.
    func health() -> CGIResponse {
        let now = clock()
        let loaded = credentials.loaded
        let unavailable = credentials.failures.count
        let expiries = loaded.compactMap(\.expiration)
        let expired = expiries.filter { $0 <= now }.count
        let healthy = unavailable == 0 && expired == 0
        var w = JSONWriter(capacity: 128)
        w.beginObject()
        w.field("status", healthy ? "ok" : "unavailable")
        w.key("credentials")
        w.beginObject()
        w.key("sources")
        w.integer(loaded.count + unavailable)
        w.key("unavailable")
        w.integer(unavailable)
        w.key("expired")
        w.integer(expired)
        if let soonest = expiries.min() {
            w.key("expires_in")
            w.integer(soonest.secondsSince1970 - now.secondsSince1970)
        }
        w.endObject()
        w.endObject()
        return CGIResponse(status: healthy ? 200 : 503, headers: JSONResponse.headers, body: w.bytes)
    }

    /// Issues a policy for `request`: parameters, profile, identity, credentials, then the signer.
    public func issuePolicy(_ request: CGIRequest) -> Result<[UInt8], APIError> {
        var outcome = Outcome()
        return issuePolicy(request, outcome: &outcome)
    }

    func issuePolicy(_ request: CGIRequest, outcome: inout Outcome) -> Result<[UInt8], APIError> {
        switch request.body {
        case .bytes: break
        case .tooLarge: return .failure(.bodyTooLarge(limit: configuration.server.maxBody))
        case .invalidLength: return .failure(.invalidRequest("CONTENT_LENGTH does not match the body"))
        case .truncated: return .failure(.invalidRequest("the request body ended early"))
        }
        let parameters: PolicyParameters
        do {
            parameters = try PolicyParameters.parse(request)
        } catch {
            return .failure(error)
        }
        let issuer: PolicyIssuer
        let tenantsOn = configuration.server.tenantParam != nil
        if let name = parameters.profile {
            guard let i = issuers[name] else { return .failure(tenantsOn ? .profileForbidden : .unknownProfile) }
            issuer = i
        } else {
            guard let i = defaultIssuer else {
                return .failure(.missingParameter("profile", "this endpoint has several profiles and no default_profile"))
            }
            issuer = i
        }
        outcome.profile = issuer.profile.name
        if !issuer.profile.apps.isEmpty {
            guard let param = tenantParam, let tenant = request.param(param), issuer.profile.apps.contains(tenant) else {
                return .failure(.profileForbidden)
            }
        }
        var user: String?
        if let param = identityParam, let raw = request.param(param) {
            switch Identity.validate(raw) {
            case .success(let u): user = u
            case .failure(let e): return .failure(e)
            }
        }
        outcome.user = user
        if issuer.profile.requireUser && user == nil { return .failure(.identityRequired) }

        guard let uuid = uuid() else {
            logger.error("no random bytes for a UUID")
            return .failure(.internalError)
        }
        // Input errors are answered before credential trouble: a client learns what it did wrong.
        var upload: PostUpload
        switch issuer.upload(parameters, user: user, uuid: uuid, now: clock()) {
        case .success(let u): upload = u
        case .failure(let e): return .failure(e)
        }
        let snapshot: CredentialStore.Snapshot
        switch credentials.snapshot(for: issuer.profile.credentials) {
        case .success(let s): snapshot = s
        case .failure: return .failure(.credentialsUnavailable)
        }
        if let expiration = snapshot.expiration {
            // Temporary credentials past their expiration would sign forms OSS refuses.
            guard upload.issuedAt < expiration else {
                logger.error(
                    "credentials expired; refusing to sign",
                    metadata: [
                        "credentials.source": .string(issuer.profile.credentials.description),
                        "credentials.expiration": .string(expiration.iso8601Milliseconds),
                    ])
                return .failure(.credentialsExpired)
            }
            // A policy must not outlive the token that signs it.
            upload.expiration = min(upload.expiration, expiration)
        }
        if let callback = issuer.profile.callback, let binding {
            let token = binding.token(
                bucket: upload.bucket, key: upload.key, prefix: upload.keyMatch == .prefix, user: user,
                notAfter: upload.expiration.secondsSince1970 + CallbackBinding.graceSeconds)
            upload.callback = callback.field(boundBy: token)
        }
        return .success(
            issuer.answer(
                upload, format: issuer.format(parameters), credentials: snapshot.credentials,
                keys: signingKeys, generation: snapshot.generation))
    }
}
