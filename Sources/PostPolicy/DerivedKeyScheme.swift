import Crypto

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
        Hex.encode(HMAC.sha256(reusedKey: signingKey, message: policyBase64))
    }

    /// `AKID/YYYYMMDD/REGION/SERVICE/TERMINATOR`.
    public func credential(accessKeyId: String, day: String, region: String) -> String {
        "\(accessKeyId)/\(day)/\(region)/\(service)/\(terminator)"
    }

    /// The policy: the bucket, the algorithm, credential and date, then what every store shares.
    func policy(for upload: PostUpload, credential: String, date: String, token: SignedPostForm.Field?) -> PolicyDocument {
        let leading: [PolicyCondition] = [
            .exact(field: algorithmField, value: algorithm),
            .exact(field: credentialField, value: credential),
            .exact(field: dateField, value: date),
        ]
        return PolicyDocument(
            expiration: upload.expiration, conditions: upload.conditions(leading: leading, token: token),
            expirationStyle: expirationStyle)
    }

    /// Signs `upload`. Every date comes from the upload's single clock reading (`issuedAt`), so the
    /// date field and the credential's day never fall on two sides of UTC midnight.
    func sign(
        _ upload: PostUpload, credentials: Credentials, region: String, tokenField: String?,
        cache: (cache: SigningKeyCache, generation: UInt64)?
    ) -> SignedPostForm {
        let day = upload.issuedAt.compactDate
        let derived = cache.map { $0.cache.derived(self, credentials: credentials, generation: $0.generation, date: day, region: region) }
            ?? SigningKeyCache.Derived(
                key: signingKey(secret: credentials.secret, date: day, region: region),
                credential: credential(accessKeyId: credentials.accessKeyId, day: day, region: region))
        let credential = derived.credential
        let date = upload.issuedAt.compactDateTime
        let token = credentials.token(named: tokenField)
        let policy = policy(for: upload, credential: credential, date: date, token: token).base64
        let signature = signature(policyBase64: policy, signingKey: derived.key)
        return SignedPostForm(
            upload: upload, policy: policy, signature: signature, credentials: credentials,
            authentication: [
                .init(algorithmField, algorithm),
                .init(credentialField, credential),
                .init(dateField, date),
                .init(signatureField, signature),
            ],
            tokenField: tokenField)
    }
}
