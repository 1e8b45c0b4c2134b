/// A storage access key pair, with the STS session token when the pair is temporary.
public struct Credentials: Sendable, Equatable {
    /// The public access key id (`OSSAccessKeyId`, `x-amz-credential`'s first part).
    public var accessKeyId: String
    /// The secret: it signs, and never leaves the process.
    public var secret: Secret
    /// The STS security token, present for temporary credentials.
    public var securityToken: String?

    /// Creates credentials.
    public init(accessKeyId: String, secret: Secret, securityToken: String? = nil) {
        self.accessKeyId = accessKeyId
        self.secret = secret
        self.securityToken = securityToken
    }
}
