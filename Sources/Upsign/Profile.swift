import PostPolicy

/// One kind of upload the endpoint signs for: bucket, key template and the limits that are pinned
/// into every policy. Built and validated from the configuration.
public struct Profile: Sendable {
    /// The profile's name (`[profiles.NAME]`).
    public var name: String
    /// The store.
    public var provider: Provider
    /// The signature scheme.
    public var signature: SignatureVersion
    /// The bucket.
    public var bucket: String
    /// The region (`cn-hangzhou`), if set.
    public var region: String?
    /// The form's URL.
    public var endpoint: String
    /// The object-key template.
    public var key: KeyTemplate
    /// Allowed file extensions, lowercase; empty allows any alphanumeric one.
    public var extensions: [String]
    /// Allowed content types (`image/png`) or type prefixes (`image/`); empty allows any.
    public var contentTypes: [String]
    /// Smallest upload, in bytes.
    public var minSize: Int64
    /// Largest upload, in bytes.
    public var maxSize: Int64
    /// Policy lifetime in seconds.
    public var expiresIn: Int64
    /// The default answer shape.
    public var format: ResponseFormat
    /// True when a request must carry an authenticated user.
    public var requireUser: Bool
    /// Where the credentials come from.
    public var credentials: CredentialsSource

    /// True when `type` (lowercased) is allowed.
    public func allows(contentType type: String) -> Bool {
        contentTypes.isEmpty || contentTypes.contains { $0.hasSuffix("/") ? type.hasPrefix($0) : type == $0 }
    }
}

/// Where a profile's credentials are read from.
public enum CredentialsSource: Sendable, Hashable, CustomStringConvertible {
    /// `OSS_ACCESS_KEY_ID`/`OSS_ACCESS_KEY_SECRET`/`OSS_SESSION_TOKEN`, else the `ALIBABA_CLOUD_*` ones.
    case environment
    /// A JSON file (`AccessKeyId`, `AccessKeySecret`, `SecurityToken`), mode 0600 or stricter.
    case file(path: String)

    /// `env` or the file's path.
    public var description: String {
        switch self {
        case .environment: "env"
        case .file(let path): path
        }
    }
}
