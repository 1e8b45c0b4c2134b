/// The object store a profile signs for.
public enum Provider: String, Sendable, CaseIterable {
    /// Aliyun Object Storage Service.
    case aliyunOSS = "aliyun-oss"
}

/// The signature scheme of a profile.
public enum SignatureVersion: String, Sendable, CaseIterable {
    /// OSS V1: base64 HMAC-SHA1 over the base64 policy (closed to new accounts and buckets).
    case v1
    /// OSS V4 (OSS4-HMAC-SHA256): hex HMAC-SHA256 with a key derived per day and region.
    case v4
}
