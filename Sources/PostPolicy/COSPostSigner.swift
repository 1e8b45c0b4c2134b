import Crypto

/// Signs Tencent COS POST Object forms (COS API reference, "POST Object"): with
/// `KeyTime = "<start>;<end>"` in Unix seconds, `SignKey = hex(HMAC-SHA1(SecretKey, KeyTime))`,
/// `StringToSign = hex(SHA1(policy JSON))` (the JSON text, not its base64) and
/// `q-signature = hex(HMAC-SHA1(SignKey, StringToSign))`. The policy pins the algorithm, the
/// SecretId and the key time.
public struct COSPostSigner: PostSigner {
    /// The credentials that sign (SecretId, SecretKey, and the token of temporary keys).
    public let credentials: Credentials

    /// Creates a signer for `credentials`.
    public init(credentials: Credentials) { self.credentials = credentials }

    /// `q-key-time`: from the moment of issue to the expiration.
    public static func keyTime(_ upload: PostUpload) -> String {
        "\(upload.issuedAt.secondsSince1970);\(upload.expiration.secondsSince1970)"
    }

    /// The signature over the policy's JSON text.
    public func signature(policyJSON: [UInt8], keyTime: String) -> String {
        let signKey = credentials.secret.withBytes { Hex.encode(HMAC.sha1(key: $0, message: keyTime)) }
        return Hex.encode(HMAC.sha1(key: signKey, message: Hex.encode(Digest.sha1(policyJSON))))
    }

    /// The complete form: `key`, `policy`, the four `q-*` fields, then the status, content type,
    /// pinned fields and `x-cos-security-token`.
    public func sign(_ upload: PostUpload) -> SignedPostForm {
        let tokenField = FormVocabulary.tencentCOS.securityToken
        let keyTime = Self.keyTime(upload)
        // The policy: the bucket, the algorithm, SecretId and key time, then what every store shares.
        let json = PolicyDocument.render(expiration: upload.expiration, style: .milliseconds) { w in
            upload.writeConditions(
                to: &w,
                leading: { w in
                    PolicyCondition.exact(field: "q-sign-algorithm", value: "sha1").write(to: &w)
                    PolicyCondition.exact(field: "q-ak", value: credentials.accessKeyId).write(to: &w)
                    PolicyCondition.exact(field: "q-sign-time", value: keyTime).write(to: &w)
                }, token: credentials.token(named: tokenField))
        }
        let signature = signature(policyJSON: json, keyTime: keyTime)
        return SignedPostForm(
            upload: upload, policy: Base64.encode(json), signature: signature, credentials: credentials,
            authentication: { fields in
                fields.append(.init("q-sign-algorithm", "sha1"))
                fields.append(.init("q-ak", credentials.accessKeyId))
                fields.append(.init("q-key-time", keyTime))
                fields.append(.init("q-signature", signature))
            },
            tokenField: tokenField)
    }
}
