/// Signs Google Cloud Storage browser-POST forms with V4 signing and an HMAC key (Cloud Storage
/// XML API, "POST Object" and "V4 signing process"): `x-goog-signature = hex(HMAC-SHA256(signing
/// key, base64(policy)))`, the key derived from `"GOOG4" + secret`, the day, the location and
/// `storage`. The policy's expiration is written to the second, as Google's own libraries do.
public struct GCSPostSignerV4: PostSigner {
    /// The scheme's names and constants.
    public static let scheme = DerivedKeyScheme(
        algorithm: "GOOG4-HMAC-SHA256", algorithmField: "x-goog-algorithm",
        credentialField: "x-goog-credential", dateField: "x-goog-date", signatureField: "x-goog-signature",
        secretPrefix: "GOOG4", service: "storage", terminator: "goog4_request", expirationStyle: .seconds)

    /// The HMAC key's access id and secret (HMAC keys have no session token).
    public let credentials: Credentials
    /// The location in the credential scope (`auto`, or the bucket's location such as `us`).
    public let location: String
    /// Where derived keys are kept between requests, with the credentials' generation; nil derives every time.
    public let cache: (cache: SigningKeyCache, generation: UInt64)?

    /// Creates a signer.
    public init(credentials: Credentials, location: String = "auto", cache: (cache: SigningKeyCache, generation: UInt64)? = nil) {
        self.credentials = credentials
        self.location = location
        self.cache = cache
    }

    /// The complete form: `key`, `policy`, the four `x-goog-*` fields, then the status, content type
    /// and pinned fields.
    public func sign(_ upload: PostUpload) -> SignedPostForm {
        Self.scheme.sign(upload, credentials: credentials, region: location, tokenField: nil, cache: cache)
    }
}
