import Glibc
import JSONText
import PostPolicy

/// The credentials of every profile, loaded once at start-up from the environment or files.
/// A source that could not be loaded is remembered with its reason, so its profiles answer 503
/// while the others keep working.
public struct CredentialStore: Sendable {
    /// Why credentials could not be loaded. Never includes a secret.
    public struct LoadError: Error, Sendable, Equatable, CustomStringConvertible {
        /// A sentence naming the source and the problem.
        public let description: String
    }

    private var loaded: [CredentialsSource: Result<Credentials, LoadError>]

    /// Loads each distinct source named by `profiles`.
    public init(profiles: some Sequence<Profile>, environment: [String: String]) {
        var loaded: [CredentialsSource: Result<Credentials, LoadError>] = [:]
        for profile in profiles where loaded[profile.credentials] == nil {
            loaded[profile.credentials] = Self.load(profile.credentials, environment: environment)
        }
        self.loaded = loaded
    }

    /// A store holding fixed credentials for every source (tests, `sign --now` reproductions).
    public init(fixed: [CredentialsSource: Credentials]) {
        loaded = fixed.mapValues { .success($0) }
    }

    /// The credentials for `source`, or why there are none.
    public func credentials(for source: CredentialsSource) -> Result<Credentials, LoadError> {
        loaded[source] ?? .failure(LoadError(description: "credentials \(source) were not loaded"))
    }

    /// Sources that failed to load, with their reasons.
    public var failures: [(source: CredentialsSource, error: LoadError)] {
        loaded.compactMap { source, result in
            if case .failure(let e) = result { return (source, e) }
            return nil
        }.sorted { $0.source.description < $1.source.description }
    }

    /// Loads one source.
    public static func load(_ source: CredentialsSource, environment: [String: String]) -> Result<Credentials, LoadError> {
        switch source {
        case .environment:
            return fromEnvironment(environment)
        case .file(let path):
            return fromFile(path)
        }
    }

    /// `OSS_ACCESS_KEY_ID`/`OSS_ACCESS_KEY_SECRET`/`OSS_SESSION_TOKEN`, falling back as a pair to
    /// `ALIBABA_CLOUD_ACCESS_KEY_ID`/`ALIBABA_CLOUD_ACCESS_KEY_SECRET`/`ALIBABA_CLOUD_SECURITY_TOKEN`.
    static func fromEnvironment(_ env: [String: String]) -> Result<Credentials, LoadError> {
        func value(_ name: String) -> String? {
            guard let v = env[name], !v.isEmpty else { return nil }
            return v
        }
        for (id, secret, token) in [
            ("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SESSION_TOKEN"),
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN"),
        ] {
            if let i = value(id), let s = value(secret) {
                return validated(Credentials(accessKeyId: i, secret: Secret(s), securityToken: value(token)), source: "environment (\(id))")
            }
        }
        return .failure(LoadError(description: "no credentials in the environment: set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET (or ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET)"))
    }

    /// A JSON file `{"AccessKeyId": ..., "AccessKeySecret": ..., "SecurityToken": ...}` (the shape
    /// of an STS AssumeRole `Credentials` object), readable by its owner only.
    static func fromFile(_ path: String) -> Result<Credentials, LoadError> {
        let mode: mode_t
        do {
            mode = try FileText.mode(path)
        } catch {
            return .failure(LoadError(description: "credentials file \(path): \(error)"))
        }
        if mode & 0o077 != 0 {
            return .failure(LoadError(description: "credentials file \(path) is accessible by group or others (mode \(String(mode & 0o777, radix: 8))); chmod 600 it"))
        }
        let text: String
        do {
            text = try FileText.read(path, limit: 64 * 1024)
        } catch {
            return .failure(LoadError(description: "credentials file \(path): \(error)"))
        }
        let object: FlatJSONObject
        do {
            object = try FlatJSONObject.parse(Array(text.utf8))
        } catch {
            // The parse error's offset is safe to show; the text itself is not.
            return .failure(LoadError(description: "credentials file \(path) is not a flat JSON object (\(error))"))
        }
        func string(_ key: String) -> String? {
            if case .string(let s)? = object[key], !s.isEmpty { return s }
            return nil
        }
        guard let id = string("AccessKeyId"), let secret = string("AccessKeySecret") else {
            return .failure(LoadError(description: "credentials file \(path) needs string fields AccessKeyId and AccessKeySecret"))
        }
        return validated(Credentials(accessKeyId: id, secret: Secret(secret), securityToken: string("SecurityToken")), source: "credentials file \(path)")
    }

    /// Refuses values that would break a form or a policy (control characters, over-long values).
    static func validated(_ c: Credentials, source: String) -> Result<Credentials, LoadError> {
        func printable(_ s: String, max: Int) -> Bool {
            s.utf8.count <= max && s.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
        }
        guard printable(c.accessKeyId, max: 256) else {
            return .failure(LoadError(description: "\(source): the access key id has spaces, control or non-ASCII characters"))
        }
        guard c.secret.withBytes({ $0.count <= 1024 }) else {
            return .failure(LoadError(description: "\(source): the secret is implausibly long"))
        }
        if let t = c.securityToken, !printable(t, max: 8192) {
            return .failure(LoadError(description: "\(source): the security token has spaces, control or non-ASCII characters"))
        }
        return .success(c)
    }
}
