import PostPolicy

/// The whole configuration: server settings and the upload profiles.
public struct Configuration: Sendable {
    /// The `[server]` table.
    public var server: ServerSettings
    /// The profiles by name.
    public var profiles: [String: Profile]
    /// The `[callback]` table: how `{base_path}/callback` verifies OSS's callbacks.
    public var callback = CallbackSettings()

    /// The profile used when a request names none: `default_profile`, or the only profile.
    public var defaultProfile: Profile? {
        if let name = server.defaultProfile { return profiles[name] }
        return profiles.count == 1 ? profiles.values.first : nil
    }
}

/// The `[server]` table.
public struct ServerSettings: Sendable {
    /// Routes live under this path (`/upload` → `/upload/policy`, `/upload/healthz`).
    public var basePath = "/upload"
    /// The FastCGI param carrying the authenticated user.
    public var identityParam = "UPSIGN_USER"
    /// Requests answered at once (event loops plus blocking-pool threads); nil: 4 per usable CPU.
    public var threads: Int?
    /// FastCGI connections open at once; at the limit new ones wait in the kernel's backlog.
    public var maxConnections = 4096
    /// Seconds a request may take to arrive from its first byte (and a new connection to start
    /// one); past it the connection is closed.
    public var requestTimeout = 30
    /// Largest accepted request body, in bytes.
    public var maxBody = 65_536
    /// The profile used when a request names none.
    public var defaultProfile: String?
    /// The longest policy lifetime any profile may set, in seconds.
    public var maxExpiresIn = 3600
    /// The param naming the tenant (application) a request is for; profiles with `apps` need it.
    public var tenantParam: String?
    /// Serve `{base_path}/metrics` (Prometheus text); the web server must restrict who reads it.
    public var metrics = true

    /// True for a param name the client controls: web servers pass every request header `X-Y`
    /// as the param `HTTP_X_Y`. Identity and tenant params must never be one of these; the
    /// configuration reader refuses them and the request path reads none.
    public static func isClientHeader(_ name: String) -> Bool {
        name.utf8.count >= 5 && name.uppercased().hasPrefix("HTTP_")
    }
}

/// The `[callback]` table.
public struct CallbackSettings: Sendable {
    /// `public_key_url_prefixes`: where callback public keys may come from. Keys are always
    /// fetched over https (`PublicKeyStore.fetchURL(for:)`), so an `https://` prefix also admits
    /// the key URL OSS really sends, `http://gosspublic.alicdn.com/…`.
    public var allowedKeyURLPrefixes = ["https://gosspublic.alicdn.com/"]
    /// What a key URL, as OSS sends it, must start with: each allowed prefix and, for an
    /// `https://` one, its `http://` spelling, since an `http://` URL is fetched as `https://`
    /// (an `http://` URL is thereby checked after its upgrade to https).
    public var publicKeyURLPrefixes: [String] {
        var out = allowedKeyURLPrefixes
        for p in allowedKeyURLPrefixes where p.hasPrefix("https://") {
            let plain = "http://" + p.dropFirst(8)
            if !out.contains(plain) { out.append(plain) }
        }
        return out
    }
    /// `ca_file`: a PEM bundle of the certificate authorities trusted when fetching keys,
    /// instead of the system's (a private CA); nil: the system's.
    public var caFile: String?
    /// A PEM public key file used instead of fetching keys.
    public var publicKeyFile: String?
    /// The JSON-lines file verified uploads are appended to.
    public var records: String?
    /// Where verified uploads are posted instead (`UploadRelay`); the application's answer is
    /// then the callback's. Not with `records` or `response`.
    public var forward: ForwardTarget?
    /// How long a forwarded upload may wait for the application's answer (default 3 s, at
    /// most 4.5 s: OSS waits 5 s for the whole callback).
    public var forwardTimeout: Duration = .seconds(3)
    /// The range `forward_timeout` must be in.
    public static let forwardTimeoutRange: ClosedRange<Double> = 0.1...4.5
    /// The JSON answered to OSS (and relayed to the uploader), with `${name}` variables.
    public var response = #"{"ok":true}"#
    /// The file of secrets that bind each signed callback to its upload (`CallbackBinding`);
    /// needed when a profile has a callback.
    public var bindingSecret: String?
    /// Refuse (403 `callback_not_bound`) an OSS-signed callback that carries no binding. Off only
    /// for an endpoint that also receives callbacks other systems' policies send.
    public var requireBinding = true
}

/// Every problem found in a configuration, each with the dotted path of its field.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// One problem.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// The field, as `profiles.avatar.bucket` (or `file` for the file itself).
        public let path: String
        /// What is wrong.
        public let message: String
        /// `path: message`.
        public var description: String { "\(path): \(message)" }

        /// A problem with the field at `path`.
        public init(path: String, message: String) {
            self.path = path
            self.message = message
        }
    }

    /// The problems, in the order found.
    public let problems: [Problem]

    /// An error listing `problems`.
    public init(problems: [Problem]) { self.problems = problems }

    /// One line per problem.
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
