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

/// A secret string that never shows itself: printing, interpolating, dumping or reflecting it gives
/// `<redacted>`. Read it only where it is used to sign, through `withBytes`.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let bytes: [UInt8]

    /// Wraps a secret value.
    public init(_ value: String) { bytes = Array(value.utf8) }

    /// Calls `body` with the secret's UTF-8 bytes.
    public func withBytes<R>(_ body: ([UInt8]) throws -> R) rethrows -> R { try body(bytes) }

    /// True when the secret is the empty string.
    public var isEmpty: Bool { bytes.isEmpty }

    /// Always `<redacted>`.
    public var description: String { "<redacted>" }
    /// Always `<redacted>`.
    public var debugDescription: String { "<redacted>" }
    /// A mirror with no children.
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}
