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
