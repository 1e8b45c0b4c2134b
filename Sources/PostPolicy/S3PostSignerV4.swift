/// Signs Amazon S3 browser-POST forms with Signature Version 4 (S3 API reference, "Authenticating
/// Requests in Browser-Based Uploads Using POST"): `x-amz-signature = hex(HMAC-SHA256(signing key,
/// base64(policy)))`, the key derived from `"AWS4" + secret`, the day, the region and `s3`.
/// MinIO, Ceph RGW, Wasabi and other S3-compatible stores verify the same form.
public struct S3PostSignerV4: PostSigner {
    /// The scheme's names and constants.
    public static let scheme = DerivedKeyScheme(
        algorithm: "AWS4-HMAC-SHA256", algorithmField: "x-amz-algorithm",
        credentialField: "x-amz-credential", dateField: "x-amz-date", signatureField: "x-amz-signature",
        secretPrefix: "AWS4", service: "s3", terminator: "aws4_request", expirationStyle: .milliseconds)

    /// The credentials that sign.
    public let credentials: Credentials
    /// The region (`us-east-1`; MinIO and Ceph accept their configured region, usually `us-east-1`).
    public let region: String
    /// Where derived keys are kept between requests, with the credentials' generation; nil derives every time.
    public let cache: (cache: SigningKeyCache, generation: UInt64)?

    /// Creates a signer.
    public init(credentials: Credentials, region: String, cache: (cache: SigningKeyCache, generation: UInt64)? = nil) {
        self.credentials = credentials
        self.region = region
        self.cache = cache
    }

    /// The complete form: `key`, `policy`, the four `x-amz-*` fields, then the status, content type,
    /// pinned fields and `x-amz-security-token` (each pinned in the policy too).
    public func sign(_ upload: PostUpload) -> SignedPostForm {
        Self.scheme.sign(upload, credentials: credentials, region: region, tokenField: FormVocabulary.s3.securityToken, cache: cache)
    }
}
