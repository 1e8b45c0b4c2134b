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
