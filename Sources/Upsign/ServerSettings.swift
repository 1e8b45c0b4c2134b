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
