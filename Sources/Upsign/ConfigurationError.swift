/// Every problem found in a configuration, each with the dotted path of its field.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// One problem.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// The field, as `profiles.avatar.bucket` (or `file` for the file itself).
        public let path: String
        /// What is wrong.
        public let message: String
        /// `path: message`.
        public var description: String { "\(path): \(message)" }

        /// A problem with the field at `path`.
        public init(path: String, message: String) {
            self.path = path
            self.message = message
        }
    }

    /// The problems, in the order found.
    public let problems: [Problem]

    /// An error listing `problems`.
    public init(problems: [Problem]) { self.problems = problems }

    /// One line per problem.
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
