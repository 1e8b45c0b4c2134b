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

    /// Everything upsign knows about the store (`Stores/`): the one switch over stores.
    public var store: Store {
        switch self {
        case .aliyunOSS: .aliyunOSS
        case .s3: .s3
        case .tencentCOS: .tencentCOS
        case .huaweiOBS: .huaweiOBS
        case .qiniu: .qiniu
        case .gcs: .gcs
        }
    }
}

/// The signature scheme of a profile. Stores with one scheme use the version of its family:
/// v1 for the HMAC-SHA1 schemes (COS, OBS, Qiniu), v4 for derived-key HMAC-SHA256 (S3, GCS).
public enum SignatureVersion: String, Sendable, CaseIterable {
    /// OSS V1: base64 HMAC-SHA1 over the base64 policy (closed to new accounts and buckets).
    case v1
    /// OSS V4 (OSS4-HMAC-SHA256): hex HMAC-SHA256 with a key derived per day and region.
    case v4
}
