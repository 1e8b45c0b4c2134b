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

extension JSONScanner {
    fileprivate mutating func expect(_ c: UInt8, _ what: String) throws(JSONSyntaxError) {
        skipSpace()
        guard next == c else { throw fail("expected \(what)") }
        offset += 1
    }

    fileprivate mutating func flatObject() throws(JSONSyntaxError) -> FlatJSONObject {
        // A UTF-8 byte order mark is tolerated, as RFC 8259 §8.1 allows parsers to.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { offset = 3 }
        try expect(UInt8(ascii: "{"), "'{'")
        var members: [(key: String, value: FlatJSONObject.Value)] = []
        var seen = Set<String>()
        skipSpace()
        if next == UInt8(ascii: "}") {
            offset += 1
        } else {
            while true {
                skipSpace()
                let keyStart = offset
                guard next == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let key = try string()
                guard seen.insert(key).inserted else { throw JSONSyntaxError(offset: keyStart, reason: "duplicate key") }
                try expect(UInt8(ascii: ":"), "':'")
                members.append((key, try scalar()))
                skipSpace()
                guard let c = next else { throw fail("unterminated object") }
                if c == UInt8(ascii: ",") { offset += 1; continue }
                if c == UInt8(ascii: "}") { offset += 1; break }
                throw fail("expected ',' or '}'")
            }
        }
        skipSpace()
        guard offset == bytes.count else { throw fail("trailing characters") }
        return FlatJSONObject(members: members)
    }

    private mutating func scalar() throws(JSONSyntaxError) -> FlatJSONObject.Value {
        skipSpace()
        guard let c = next else { throw fail("expected a value") }
        switch c {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        case UInt8(ascii: "{"), UInt8(ascii: "["): throw fail("nested objects and arrays are not accepted")
        default: throw fail("expected a value")
        }
    }
}
