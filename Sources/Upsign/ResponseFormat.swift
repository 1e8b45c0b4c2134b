/// The shape of a policy answer.
public enum ResponseFormat: String, Sendable, CaseIterable {
    /// The Java backend's bean: `{url, policy, signature, ossAccessKeyId, key}` (V1 only).
    case java
    /// `{provider, method, url, key, expiresAt, fields}`, `fields` being the exact form data.
    case native
    /// Aliyun's "server-side signature" sample servers: `{accessid, host, policy, signature,
    /// expire, dir}` (V1) or `{host, policy, x_oss_signature_version, x_oss_credential,
    /// x_oss_date, signature, security_token, dir}` (V4); the client posts to `host` with
    /// `key = dir + its file name`.
    case aliyunAppserver = "aliyun-appserver"
    /// Uppy's AwsS3 plugin and Shrine's presign endpoint: `{method, url, fields, headers}`.
    case uppy

    /// True when the answer hands the client every form field, so anything can be pinned.
    /// The Java and Aliyun-sample clients send a fixed set of fields of their own.
    public var handsOverFields: Bool {
        switch self {
        case .native, .uppy: true
        case .java, .aliyunAppserver: false
        }
    }

    /// True for the shapes only Aliyun OSS clients understand (java, aliyun-appserver).
    public var isAliyunOnly: Bool { !handsOverFields }
}
