/// A JSON object whose values are all scalars: what request bodies and credential files hold.
///
/// The reader is strict (RFC 8259 grammar, UTF-8 only, no duplicate keys) and refuses nesting,
/// so hostile input is bounded by its length: no recursion, no surprises.
public struct FlatJSONObject: Sendable, Equatable {
    /// A scalar JSON value.
    public enum Value: Sendable, Equatable {
        /// A string, unescaped.
        case string(String)
        /// A number, as written (validated against the JSON number grammar).
        case number(String)
        /// `true` or `false`.
        case bool(Bool)
        /// `null`.
        case null
    }

    /// The members in the order they appear.
    public private(set) var members: [(key: String, value: Value)]

    /// Creates an object from members (for tests and callers that build one).
    public init(members: [(key: String, value: Value)]) { self.members = members }

    /// The value of `key`, if present.
    public subscript(key: String) -> Value? {
        members.first(where: { $0.key == key })?.value
    }

    public static func == (a: FlatJSONObject, b: FlatJSONObject) -> Bool {
        a.members.count == b.members.count
            && zip(a.members, b.members).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    /// Why a text is not a flat JSON object.
    public typealias ParseError = JSONSyntaxError

    /// Parses `bytes` as one JSON object with scalar values.
    public static func parse(_ bytes: some Collection<UInt8>) throws(ParseError) -> FlatJSONObject {
        var scanner = JSONScanner(Array(bytes))
        return try scanner.flatObject()
    }
}
