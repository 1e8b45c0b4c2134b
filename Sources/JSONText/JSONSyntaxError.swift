/// Where and why a text is not the JSON that was expected.
public struct JSONSyntaxError: Error, Equatable, CustomStringConvertible {
    /// Byte offset of the problem.
    public let offset: Int
    /// What is wrong there.
    public let reason: String

    /// Creates an error.
    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    /// "<reason> at byte <offset>".
    public var description: String { "\(reason) at byte \(offset)" }
}
