import CGI
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
    /// Where request events are logged.
    public let logger: Logger

    /// The keys OSS signs callbacks with.
    public let publicKeys: PublicKeyStore
    /// Where verified uploads are recorded, if configured.
    public let records: RecordLog?
    /// Derived V4 signing keys, shared by every request.
    private let signingKeys = SigningKeyCache()
    private let policyPath: String
    private let healthPath: String
    private let callbackPath: String

    /// Creates the application.
    public init(
        configuration: Configuration, credentials: CredentialStore,
        clock: @escaping @Sendable () -> Timestamp, uuid: @escaping @Sendable () -> String?, logger: Logger,
        publicKeys: PublicKeyStore = PublicKeyStore(), records: RecordLog? = nil
    ) {
        self.publicKeys = publicKeys
        self.records = records
        self.configuration = configuration
        self.credentials = credentials
        self.clock = clock
        self.uuid = uuid
        self.logger = logger
        policyPath = configuration.server.basePath + "/policy"
        healthPath = configuration.server.basePath + "/healthz"
        callbackPath = configuration.server.basePath + "/callback"
    }

    /// Answers one request. Never traps on input: every failure is a JSON error response.
    public func respond(to request: CGIRequest) -> CGIResponse {
        let response: CGIResponse
        let method = request.method
        switch request.path {
        case policyPath:
            guard method == "GET" || method == "POST" else {
                response = APIError.methodNotAllowed(["GET", "POST"]).response
                break
            }
            switch issuePolicy(request) {
            case .success(let body): response = JSONResponse.ok(body)
            case .failure(let error): response = error.response
            }
        case healthPath:
            guard method == "GET" || method == "HEAD" else {
                response = APIError.methodNotAllowed(["GET", "HEAD"]).response
                break
            }
            response = JSONResponse.ok(Array(#"{"status":"ok"}"#.utf8))
        case callbackPath:
            guard method == "POST" else {
                response = APIError.methodNotAllowed(["POST"]).response
                break
            }
            switch verifyCallback(request) {
            case .success(let body): response = JSONResponse.ok(body)
            case .failure(let error): response = error.response
            }
        default:
            response = APIError.notFound.response
        }
        if response.status >= 500 {
            logger.warning("request failed", metadata: Self.metadata(request, response))
        } else {
            logger.debug("request", metadata: Self.metadata(request, response))
        }
        return response
    }

    private static func metadata(_ request: CGIRequest, _ response: CGIResponse) -> Logger.Metadata {
        var m: Logger.Metadata = [
            "request.method": .string(request.method),
            "request.path": .string(String(request.path.prefix(256))),
            "response.status": .stringConvertible(response.status),
        ]
        if let id = request.param("REQUEST_ID") ?? request.param("HTTP_X_REQUEST_ID") {
            m["request.id"] = .string(String(id.prefix(64)))
        }
        return m
    }

    /// Issues a policy for `request`: parameters, profile, identity, credentials, then the signer.
    public func issuePolicy(_ request: CGIRequest) -> Result<[UInt8], APIError> {
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
        let profile: Profile
        let tenantsOn = configuration.server.tenantParam != nil
        if let name = parameters.profile {
            guard let p = configuration.profiles[name] else { return .failure(tenantsOn ? .profileForbidden : .unknownProfile) }
            profile = p
        } else {
            guard let p = configuration.defaultProfile else {
                return .failure(.missingParameter("profile", "this endpoint has several profiles and no default_profile"))
            }
            profile = p
        }
        if !profile.apps.isEmpty {
            guard let param = configuration.server.tenantParam, let tenant = request.param(param), profile.apps.contains(tenant) else {
                return .failure(.profileForbidden)
            }
        }
        var user: String?
        if let raw = request.param(configuration.server.identityParam) {
            switch Identity.validate(raw) {
            case .success(let u): user = u
            case .failure(let e): return .failure(e)
            }
        }
        if profile.requireUser && user == nil { return .failure(.identityRequired) }

        guard let uuid = uuid() else {
            logger.error("no random bytes for a UUID")
            return .failure(.internalError)
        }
        // Input errors are answered before credential trouble: a client learns what it did wrong.
        let issuer = PolicyIssuer(profile: profile)
        var upload: PostUpload
        switch issuer.upload(parameters, user: user, uuid: uuid, now: clock()) {
        case .success(let u): upload = u
        case .failure(let e): return .failure(e)
        }
        let snapshot: CredentialStore.Snapshot
        switch credentials.snapshot(for: profile.credentials) {
        case .success(let s): snapshot = s
        case .failure: return .failure(.credentialsUnavailable)
        }
        if let expiration = snapshot.expiration {
            // Temporary credentials past their expiration would sign forms OSS refuses.
            guard upload.issuedAt < expiration else {
                logger.error("credentials expired; refusing to sign", metadata: [
                    "credentials.source": .string(profile.credentials.description),
                    "credentials.expiration": .string(expiration.iso8601Milliseconds),
                ])
                return .failure(.credentialsExpired)
            }
            // A policy must not outlive the token that signs it.
            upload.expiration = min(upload.expiration, expiration)
        }
        return .success(issuer.answer(
            upload, format: issuer.format(parameters), credentials: snapshot.credentials,
            keys: signingKeys, generation: snapshot.generation))
    }
}
