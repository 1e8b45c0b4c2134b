import Crypto

/// Signs Aliyun OSS PostObject forms with the V1 scheme (OSS API reference, "PostObject",
/// section "Post Policy" and "Post Signature"): `Signature = base64(HMAC-SHA1(secret, base64(policy)))`.
public struct OSSPostSignerV1: Sendable {
    /// The credentials that sign.
    public let credentials: Credentials

    /// Creates a signer for `credentials`.
    public init(credentials: Credentials) { self.credentials = credentials }

    /// Step 1 (Post Policy): the conditions pinning everything the client must not change:
    /// bucket, exact key, size range, then the optional status, content type and STS token.
    public func policy(for upload: PostUpload) -> PolicyDocument {
        var conditions: [PolicyCondition] = [
            .exact(field: "bucket", value: upload.bucket),
            upload.keyCondition,
            .contentLengthRange(min: upload.contentLength.lowerBound, max: upload.contentLength.upperBound),
        ]
        conditions += upload.trailingConditions(securityToken: credentials.securityToken)
        return PolicyDocument(expiration: upload.expiration, conditions: conditions)
    }

    /// Step 2 (Post Signature): base64(HMAC-SHA1(AccessKeySecret, base64 policy)).
    public func signature(policyBase64: String) -> String {
        credentials.secret.withBytes { Base64.encode(HMAC.sha1(key: $0, message: policyBase64)) }
    }

    /// The complete form: policy, signature and the fields in the order the client sends them.
    public func sign(_ upload: PostUpload) -> SignedPostForm {
        let policy = policy(for: upload).base64
        let signature = signature(policyBase64: policy)
        return SignedPostForm(
            upload: upload, policy: policy, signature: signature, credentials: credentials,
            authentication: [
                .init("OSSAccessKeyId", credentials.accessKeyId),
                .init("Signature", signature),
            ])
    }
}
