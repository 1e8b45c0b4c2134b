import Crypto

/// Signs Huawei OBS browser-POST forms (OBS API reference, "Uploading Objects - POST"):
/// `signature = base64(HMAC-SHA1(SK, base64(policy)))`, sent with `AccessKeyId`. OBS refuses a form
/// whose extra fields the policy does not name, so every field after the signature is pinned.
public struct OBSPostSigner: PostSigner {
    /// The credentials that sign.
    public let credentials: Credentials

    /// Creates a signer for `credentials`.
    public init(credentials: Credentials) { self.credentials = credentials }

    /// The complete form: `key`, `policy`, `AccessKeyId`, `signature`, then the status, content
    /// type, pinned fields and `x-obs-security-token`.
    public func sign(_ upload: PostUpload) -> SignedPostForm {
        let tokenField = FormVocabulary.huaweiOBS.securityToken
        let token = credentials.token(named: tokenField)
        let policy = Base64.encode(
            PolicyDocument.render(expiration: upload.expiration, style: .milliseconds) { w in
                upload.writeConditions(to: &w, leading: { _ in }, token: token)
            })
        let signature = credentials.secret.base64HMACSHA1(policy)
        return SignedPostForm(
            upload: upload, policy: policy, signature: signature, credentials: credentials,
            authentication: { fields in
                fields.append(.init("AccessKeyId", credentials.accessKeyId))
                fields.append(.init("signature", signature))
            },
            tokenField: tokenField)
    }
}
