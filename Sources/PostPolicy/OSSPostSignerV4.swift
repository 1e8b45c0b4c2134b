/// Signs Aliyun OSS PostObject forms with the V4 scheme (OSS API reference, "POST V4 signature"):
/// `x-oss-signature = hex(HMAC-SHA256(signing key, base64(policy)))`, the signing key derived from
/// `"aliyun_v4" + secret`, the day, the region and `oss`.
public struct OSSPostSignerV4: PostSigner {
    /// The scheme's names and constants.
    public static let scheme = DerivedKeyScheme(
        algorithm: "OSS4-HMAC-SHA256", algorithmField: "x-oss-signature-version",
        credentialField: "x-oss-credential", dateField: "x-oss-date", signatureField: "x-oss-signature",
        secretPrefix: "aliyun_v4", service: "oss", terminator: "aliyun_v4_request", expirationStyle: .milliseconds)
    /// `x-oss-signature-version`.
    public static var algorithm: String { scheme.algorithm }

    /// The credentials that sign.
    public let credentials: Credentials
    /// The region id without an `oss-` prefix (`cn-hangzhou`).
    public let region: String
    /// Where derived keys are kept between requests, with the credentials' generation; nil derives every time.
    public let cache: (cache: SigningKeyCache, generation: UInt64)?

    /// Creates a signer. A region given as `oss-cn-hangzhou` is used as `cn-hangzhou`.
    public init(credentials: Credentials, region: String, cache: (cache: SigningKeyCache, generation: UInt64)? = nil) {
        self.credentials = credentials
        self.region = region.hasPrefix("oss-") ? String(region.dropFirst(4)) : region
        self.cache = cache
    }

    /// Signing key derivation ("Step 3: calculate the signing key").
    public static func signingKey(secret: Secret, date: String, region: String) -> [UInt8] {
        scheme.signingKey(secret: secret, date: date, region: region)
    }

    /// `AKID/YYYYMMDD/REGION/oss/aliyun_v4_request` for the day of `instant`.
    public func credential(at instant: Timestamp) -> String {
        Self.scheme.credential(accessKeyId: credentials.accessKeyId, day: instant.compactDate, region: region)
    }

    /// The complete form, fields in the order the client sends them. The policy pins the bucket
    /// and the V4 fields first, then the key, the size range and the optional status, content
    /// type, pinned fields and STS token.
    public func sign(_ upload: PostUpload) -> SignedPostForm {
        Self.scheme.sign(upload, credentials: credentials, region: region, tokenField: FormVocabulary.aliyunOSS.securityToken, cache: cache)
    }
}
