/// How one store names the optional form fields of a POST upload. A field the store has no
/// form field for is nil: a profile cannot pin it.
public struct FormVocabulary: Sendable, Equatable {
    /// The temporary-credentials token (sent and pinned), if the store has session tokens.
    public let securityToken: String?
    /// The canned-ACL field.
    public let acl: String?
    /// The server-side-encryption field.
    public let serverSideEncryption: String?
    /// The KMS key id field that goes with `serverSideEncryption`.
    public let serverSideEncryptionKeyId: String?
    /// The prefix of user-metadata fields (`x-amz-meta-`).
    public let metaPrefix: String?
    /// The field that refuses to overwrite an existing object.
    public let forbidOverwrite: String?
    /// True when the form carries `success_action_status`, `Content-Type`, `Cache-Control` and
    /// `Content-Disposition` fields (every store but Qiniu).
    public let hasStandardFields: Bool

    /// Aliyun OSS PostObject.
    public static let aliyunOSS = FormVocabulary(
        securityToken: "x-oss-security-token", acl: "x-oss-object-acl",
        serverSideEncryption: "x-oss-server-side-encryption",
        serverSideEncryptionKeyId: "x-oss-server-side-encryption-key-id",
        metaPrefix: "x-oss-meta-", forbidOverwrite: "x-oss-forbid-overwrite", hasStandardFields: true)

    /// Amazon S3 POST (and S3-compatible stores).
    public static let s3 = FormVocabulary(
        securityToken: "x-amz-security-token", acl: "acl",
        serverSideEncryption: "x-amz-server-side-encryption",
        serverSideEncryptionKeyId: "x-amz-server-side-encryption-aws-kms-key-id",
        metaPrefix: "x-amz-meta-", forbidOverwrite: nil, hasStandardFields: true)

    /// Tencent COS POST Object.
    public static let tencentCOS = FormVocabulary(
        securityToken: "x-cos-security-token", acl: "x-cos-acl",
        serverSideEncryption: "x-cos-server-side-encryption",
        serverSideEncryptionKeyId: "x-cos-server-side-encryption-cos-kms-key-id",
        metaPrefix: "x-cos-meta-", forbidOverwrite: nil, hasStandardFields: true)

    /// Huawei OBS browser POST.
    public static let huaweiOBS = FormVocabulary(
        securityToken: "x-obs-security-token", acl: "x-obs-acl",
        serverSideEncryption: "x-obs-server-side-encryption",
        serverSideEncryptionKeyId: "x-obs-server-side-encryption-kms-key-id",
        metaPrefix: "x-obs-meta-", forbidOverwrite: nil, hasStandardFields: true)

    /// Google Cloud Storage V4 POST with HMAC keys (no session tokens).
    public static let gcs = FormVocabulary(
        securityToken: nil, acl: "acl", serverSideEncryption: nil, serverSideEncryptionKeyId: nil,
        metaPrefix: "x-goog-meta-", forbidOverwrite: nil, hasStandardFields: true)

    /// Qiniu form upload: everything lives in the upload token's putPolicy.
    public static let qiniu = FormVocabulary(
        securityToken: nil, acl: nil, serverSideEncryption: nil, serverSideEncryptionKeyId: nil,
        metaPrefix: nil, forbidOverwrite: nil, hasStandardFields: false)
}
