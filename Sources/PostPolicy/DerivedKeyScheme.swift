import Crypto
import JSONText

/// The family of signature schemes OSS V4, S3 SigV4 and GCS V4 POST share: the base64 policy is
/// signed with hex(HMAC-SHA256) under a key derived from the secret, the day, the region and the
/// service; the policy pins the algorithm, the credential scope and the date. The schemes differ
/// only in the names and constants below, so one implementation serves all three signer types.
public struct DerivedKeyScheme: Sendable {
    /// The algorithm's name (`AWS4-HMAC-SHA256`).
    public let algorithm: String
    /// The form field carrying `algorithm` (`x-amz-algorithm`).
    public let algorithmField: String
    /// The credential, date and signature fields (`x-amz-credential`, `x-amz-date`, `x-amz-signature`).
    public let credentialField: String, dateField: String, signatureField: String
    /// Prepended to the secret to make the first key (`AWS4`).
    public let secretPrefix: String
    /// The service in the credential scope (`s3`).
    public let service: String
    /// The last element of the scope (`aws4_request`).
    public let terminator: String
    /// How the policy writes its expiration.
    public let expirationStyle: PolicyDocument.ExpirationStyle

    /// k1 = HMAC-SHA256(prefix + secret, date), k2 = HMAC(k1, region), k3 = HMAC(k2, service),
    /// key = HMAC(k3, terminator).
    public func signingKey(secret: Secret, date: String, region: String) -> [UInt8] {
        let k1 = secret.withBytes { HMAC.sha256(key: Array(secretPrefix.utf8) + $0, message: date) }
        let k2 = HMAC.sha256(key: k1, message: region)
        let k3 = HMAC.sha256(key: k2, message: service)
        return HMAC.sha256(key: k3, message: terminator)
    }

    /// hex(HMAC-SHA256(signing key, base64 policy)): the string to sign is the `policy` field itself.
    public func signature(policyBase64: String, signingKey: [UInt8]) -> String {
        HMAC.authenticationCode(.sha256, reusedKey: signingKey, message: policyBase64, encoded: Hex.encode)
    }

    /// `AKID/YYYYMMDD/REGION/SERVICE/TERMINATOR`.
    public func credential(accessKeyId: String, day: String, region: String) -> String {
        "\(accessKeyId)/\(day)/\(region)/\(service)/\(terminator)"
    }

    /// The algorithm and credential conditions: the same for every form of a day's signing key.
    func leadingConditions(credential: String) -> [PolicyCondition] {
        [.exact(field: algorithmField, value: algorithm), .exact(field: credentialField, value: credential)]
    }

    /// The date condition (`x-amz-date`), which changes with every second.
    func dateCondition(_ date: String) -> PolicyCondition { .exact(field: dateField, value: date) }

    /// The signing key, the credential scope and the rendered leading conditions for a day.
    func derive(credentials: Credentials, date: String, region: String) -> SigningKeyCache.Derived {
        let credential = credential(accessKeyId: credentials.accessKeyId, day: date, region: region)
        var w = JSONWriter(capacity: 160)
        for c in leadingConditions(credential: credential) { c.write(to: &w) }
        return SigningKeyCache.Derived(
            key: signingKey(secret: credentials.secret, date: date, region: region), credential: credential,
            leadingConditions: w.bytes)
    }

    /// Signs `upload`. Every date comes from the upload's single clock reading (`issuedAt`), so the
    /// date field and the credential's day never fall on two sides of UTC midnight.
    func sign(
        _ upload: PostUpload, credentials: Credentials, region: String, tokenField: String?,
        cache: (cache: SigningKeyCache, generation: UInt64)?
    ) -> SignedPostForm {
        let day = upload.issuedAt.compactDate
        let derived =
            cache.map { $0.cache.derived(self, credentials: credentials, generation: $0.generation, date: day, region: region) }
            ?? derive(credentials: credentials, date: day, region: region)
        let credential = derived.credential
        let date = upload.issuedAt.compactDateTime
        let token = credentials.token(named: tokenField)
        // The policy: the bucket, the algorithm, credential and date, then what every store
        // shares; the day's leading conditions pre-rendered.
        let json = PolicyDocument.render(expiration: upload.expiration, style: expirationStyle) { w in
            upload.writeConditions(
                to: &w,
                leading: { w in
                    w.fragment(derived.leadingConditions)
                    dateCondition(date).write(to: &w)
                }, token: token)
        }
        let policy = Base64.encode(json)
        let signature = signature(policyBase64: policy, signingKey: derived.key)
        return SignedPostForm(
            upload: upload, policy: policy, signature: signature, credentials: credentials,
            authentication: { fields in
                fields.append(.init(algorithmField, algorithm))
                fields.append(.init(credentialField, credential))
                fields.append(.init(dateField, date))
                fields.append(.init(signatureField, signature))
            },
            tokenField: tokenField)
    }
}
