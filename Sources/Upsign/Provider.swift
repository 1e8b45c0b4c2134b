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
