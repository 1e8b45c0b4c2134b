import Crypto

/// Signs Aliyun OSS PostObject forms with the V1 scheme (OSS API reference, "PostObject",
/// section "Post Policy" and "Post Signature"): `Signature = base64(HMAC-SHA1(secret, base64(policy)))`.
public struct OSSPostSignerV1: PostSigner {
    /// The credentials that sign.
    public let credentials: Credentials

    /// Creates a signer for `credentials`.
    public init(credentials: Credentials) { self.credentials = credentials }

    /// Step 2 (Post Signature): base64(HMAC-SHA1(AccessKeySecret, base64 policy)).
    public func signature(policyBase64: String) -> String {
        credentials.secret.base64HMACSHA1(policyBase64)
    }

    /// The complete form: policy, signature and the fields in the order the client sends them.
    public func sign(_ upload: PostUpload) -> SignedPostForm {
        // Step 1 (Post Policy): the conditions pinning everything the client must not change:
        // bucket, exact key, size range, then the optional status, content type and STS token.
        let token = credentials.token(named: FormVocabulary.aliyunOSS.securityToken)
        let policy = Base64.encode(
            PolicyDocument.render(expiration: upload.expiration, style: .milliseconds) { w in
                upload.writeConditions(to: &w, leading: { _ in }, token: token)
            })
        let signature = signature(policyBase64: policy)
        return SignedPostForm(
            upload: upload, policy: policy, signature: signature, credentials: credentials,
            authentication: { fields in
                fields.append(.init("OSSAccessKeyId", credentials.accessKeyId))
                fields.append(.init("Signature", signature))
            },
            tokenField: FormVocabulary.aliyunOSS.securityToken)
    }
}
