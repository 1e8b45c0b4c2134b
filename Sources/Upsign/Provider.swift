import PostPolicy

/// The object store a profile signs for.
public enum Provider: String, Sendable, CaseIterable {
    /// Aliyun Object Storage Service (V1 and V4 signatures, STS, upload callbacks).
    case aliyunOSS = "aliyun-oss"
    /// Amazon S3 and S3-compatible stores (MinIO, Ceph RGW, Wasabi, ...): SigV4 POST.
    case s3
    /// Tencent Cloud Object Storage: POST Object with `q-*` fields.
    case tencentCOS = "tencent-cos"
    /// Huawei Object Storage Service: browser POST with `AccessKeyId` and `signature`.
    case huaweiOBS = "huawei-obs"
    /// Qiniu Kodo: form upload with an upload token.
    case qiniu
    /// Google Cloud Storage: V4 POST policies signed with HMAC keys.
    case gcs

    /// How the store names its optional form fields.
    public var vocabulary: FormVocabulary {
        switch self {
        case .aliyunOSS: .aliyunOSS
        case .s3: .s3
        case .tencentCOS: .tencentCOS
        case .huaweiOBS: .huaweiOBS
        case .qiniu: .qiniu
        case .gcs: .gcs
        }
    }

    /// The variables `credentials = "env"` reads: access key id, secret and session token (nil
    /// for stores without session tokens). OSS also falls back to the `ALIBABA_CLOUD_*` names.
    public var environmentVariables: (accessKeyId: String, secret: String, token: String?) {
        switch self {
        case .aliyunOSS: ("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SESSION_TOKEN")
        case .s3: ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
        case .tencentCOS: ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TENCENTCLOUD_SESSION_TOKEN")
        case .huaweiOBS: ("OBS_ACCESS_KEY_ID", "OBS_SECRET_ACCESS_KEY", "OBS_SECURITY_TOKEN")
        case .qiniu: ("QINIU_ACCESS_KEY", "QINIU_SECRET_KEY", nil)
        case .gcs: ("GCS_HMAC_ACCESS_ID", "GCS_HMAC_SECRET", nil)
        }
    }

    /// The region used when a profile names none; nil when the store needs one to be named.
    public var defaultRegion: String? {
        switch self {
        case .s3: "us-east-1"
        case .qiniu: "z0"
        case .gcs: "auto"
        case .aliyunOSS, .tencentCOS, .huaweiOBS: nil
        }
    }

    /// The form URL for `bucket` in `region` when a profile names no endpoint.
    public func defaultEndpoint(bucket: String, region: String) -> String {
        switch self {
        case .aliyunOSS: "https://\(bucket).oss-\(region).aliyuncs.com"
        case .s3: "https://\(bucket).s3.\(region).amazonaws.com"
        case .tencentCOS: "https://\(bucket).cos.\(region).myqcloud.com"
        case .huaweiOBS: "https://\(bucket).obs.\(region).myhuaweicloud.com"
        case .qiniu: "https://up-\(region).qiniup.com"
        case .gcs: "https://storage.googleapis.com/\(bucket)"
        }
    }

    /// The signature versions the store's forms can carry; the first is the default.
    public var signatures: [SignatureVersion] {
        switch self {
        case .aliyunOSS: [.v4, .v1]
        case .s3, .gcs: [.v4]
        case .tencentCOS, .huaweiOBS, .qiniu: [.v1]
        }
    }

    /// The canned ACLs the store's ACL field takes.
    public var objectACLs: [String] {
        switch self {
        case .aliyunOSS: ["default", "private", "public-read", "public-read-write"]
        case .s3: ["private", "public-read", "public-read-write", "authenticated-read", "bucket-owner-read", "bucket-owner-full-control"]
        case .tencentCOS: ["default", "private", "public-read"]
        case .huaweiOBS: ["private", "public-read", "public-read-write", "public-read-delivered", "public-read-write-delivered", "bucket-owner-full-control"]
        case .gcs: ["private", "public-read", "project-private", "authenticated-read", "bucket-owner-read", "bucket-owner-full-control"]
        case .qiniu: []
        }
    }

    /// The server-side encryption values the store's encryption field takes, and the one that
    /// takes a KMS key id.
    public var encryptions: (values: [String], kms: String?) {
        switch self {
        case .aliyunOSS: (["AES256", "KMS", "SM4"], "KMS")
        case .s3: (["AES256", "aws:kms"], "aws:kms")
        case .tencentCOS: (["AES256", "cos/kms"], "cos/kms")
        case .huaweiOBS: (["AES256", "kms"], "kms")
        case .qiniu, .gcs: ([], nil)
        }
    }
}
