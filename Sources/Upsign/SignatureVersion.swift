/// The signature scheme of a profile. Stores with one scheme use the version of its family:
/// v1 for the HMAC-SHA1 schemes (COS, OBS, Qiniu), v4 for derived-key HMAC-SHA256 (S3, GCS).
public enum SignatureVersion: String, Sendable, CaseIterable {
    /// OSS V1: base64 HMAC-SHA1 over the base64 policy (closed to new accounts and buckets).
    case v1
    /// OSS V4 (OSS4-HMAC-SHA256): hex HMAC-SHA256 with a key derived per day and region.
    case v4
}
