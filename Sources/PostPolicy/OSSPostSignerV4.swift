import Crypto

/// Signs Aliyun OSS PostObject forms with the V4 scheme (OSS API reference, "POST V4 signature"):
/// `x-oss-signature = hex(HMAC-SHA256(signing key, base64(policy)))`, the signing key derived from
/// the secret, the day, the region and the service.
///
/// Every date comes from the upload's single clock reading (`issuedAt`): `x-oss-date` and the
/// credential's day can never fall on two sides of UTC midnight.
public struct OSSPostSignerV4: Sendable {
    /// `x-oss-signature-version`.
    public static let algorithm = "OSS4-HMAC-SHA256"

    /// The credentials that sign.
    public let credentials: Credentials
    /// The region id without an `oss-` prefix (`cn-hangzhou`).
    public let region: String
    /// Where derived keys are kept between requests, with the credentials' generation; nil derives every time.
    public let cache: (cache: OSSSigningKeyCache, generation: UInt64)?

    /// Creates a signer. A region given as `oss-cn-hangzhou` is used as `cn-hangzhou`.
    public init(credentials: Credentials, region: String, cache: (cache: OSSSigningKeyCache, generation: UInt64)? = nil) {
        self.credentials = credentials
        self.region = region.hasPrefix("oss-") ? String(region.dropFirst(4)) : region
        self.cache = cache
    }

    /// Signing key derivation ("Step 3: calculate the signing key"):
    /// k1 = HMAC-SHA256("aliyun_v4" + secret, date), k2 = HMAC(k1, region), k3 = HMAC(k2, "oss"),
    /// key = HMAC(k3, "aliyun_v4_request").
    public static func signingKey(secret: Secret, date: String, region: String) -> [UInt8] {
        let k1 = secret.withBytes { HMAC.sha256(key: Array("aliyun_v4".utf8) + $0, message: date) }
        let k2 = HMAC.sha256(key: k1, message: region)
        let k3 = HMAC.sha256(key: k2, message: "oss")
        return HMAC.sha256(key: k3, message: "aliyun_v4_request")
    }

    /// `AKID/YYYYMMDD/REGION/oss/aliyun_v4_request` for the day of `instant`.
    public func credential(at instant: Timestamp) -> String { credential(day: instant.compactDate) }

    func credential(day: String) -> String { "\(credentials.accessKeyId)/\(day)/\(region)/oss/aliyun_v4_request" }

    /// Step 1 (the policy): bucket and the V4 fields pinned first, then the key, the size range and
    /// the optional status, content type and STS token.
    public func policy(for upload: PostUpload) -> PolicyDocument {
        policy(for: upload, credential: credential(at: upload.issuedAt), date: upload.issuedAt.compactDateTime)
    }

    /// The policy with the credential and date already rendered (each is rendered once per form).
    func policy(for upload: PostUpload, credential: String, date: String) -> PolicyDocument {
        var conditions: [PolicyCondition] = [
            .exact(field: "bucket", value: upload.bucket),
            .exact(field: "x-oss-signature-version", value: Self.algorithm),
            .exact(field: "x-oss-credential", value: credential),
            .exact(field: "x-oss-date", value: date),
            upload.keyCondition,
            .contentLengthRange(min: upload.contentLength.lowerBound, max: upload.contentLength.upperBound),
        ]
        conditions += upload.trailingConditions(securityToken: credentials.securityToken)
        return PolicyDocument(expiration: upload.expiration, conditions: conditions)
    }

    /// Step 2 (the string to sign is the base64 policy) and step 4 (the signature).
    public func signature(policyBase64: String, date: String) -> String {
        let key = cache.map { $0.cache.key(for: credentials, generation: $0.generation, date: date, region: region) }
            ?? Self.signingKey(secret: credentials.secret, date: date, region: region)
        return Hex.encode(HMAC.sha256(key: key, message: policyBase64))
    }

    /// The complete form, fields in the order the client sends them.
    public func sign(_ upload: PostUpload) -> SignedPostForm {
        let day = upload.issuedAt.compactDate
        let credential = credential(day: day)
        let date = upload.issuedAt.compactDateTime
        let policy = policy(for: upload, credential: credential, date: date).base64
        let signature = signature(policyBase64: policy, date: day)
        return SignedPostForm(
            upload: upload, policy: policy, signature: signature, credentials: credentials,
            authentication: [
                .init("x-oss-signature-version", Self.algorithm),
                .init("x-oss-credential", credential),
                .init("x-oss-date", date),
                .init("x-oss-signature", signature),
            ])
    }
}
