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
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        /// Byte offset of the problem.
        public let offset: Int
        /// What is wrong there.
        public let reason: String
        /// "<reason> at byte <offset>".
        public var description: String { "\(reason) at byte \(offset)" }
    }

    /// Parses `bytes` as one JSON object with scalar values.
    public static func parse(_ bytes: some Collection<UInt8>) throws(ParseError) -> FlatJSONObject {
        var reader = Reader(Array(bytes))
        return try reader.object()
    }

    private struct Reader {
        let b: [UInt8]
        var i = 0
        init(_ b: [UInt8]) { self.b = b }

        func fail(_ reason: String) -> ParseError { ParseError(offset: i, reason: reason) }

        mutating func skipSpace() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
        }

        mutating func expect(_ c: UInt8, _ what: String) throws(ParseError) {
            skipSpace()
            guard i < b.count, b[i] == c else { throw fail("expected \(what)") }
            i += 1
        }

        mutating func object() throws(ParseError) -> FlatJSONObject {
            // A UTF-8 byte order mark is tolerated, as RFC 8259 §8.1 allows parsers to.
            if b.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
            try expect(UInt8(ascii: "{"), "'{'")
            var members: [(key: String, value: Value)] = []
            var seen = Set<String>()
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "}") {
                i += 1
            } else {
                while true {
                    skipSpace()
                    let keyStart = i
                    guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                    let key = try string()
                    guard seen.insert(key).inserted else { throw ParseError(offset: keyStart, reason: "duplicate key") }
                    try expect(UInt8(ascii: ":"), "':'")
                    members.append((key, try value()))
                    skipSpace()
                    guard i < b.count else { throw fail("unterminated object") }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "}") { i += 1; break }
                    throw fail("expected ',' or '}'")
                }
            }
            skipSpace()
            guard i == b.count else { throw fail("trailing characters") }
            return FlatJSONObject(members: members)
        }

        mutating func value() throws(ParseError) -> Value {
            skipSpace()
            guard i < b.count else { throw fail("expected a value") }
            switch b[i] {
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            case UInt8(ascii: "{"), UInt8(ascii: "["): throw fail("nested objects and arrays are not accepted")
            default: throw fail("expected a value")
            }
        }

        mutating func literal(_ word: String) throws(ParseError) {
            let w = Array(word.utf8)
            guard b.count - i >= w.count, Array(b[i..<i + w.count]) == w else { throw fail("invalid literal") }
            i += w.count
        }

        mutating func digits() -> Int {
            let start = i
            while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") { i += 1 }
            return i - start
        }

        mutating func number() throws(ParseError) -> String {
            let start = i
            if b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count else { throw fail("invalid number") }
            if b[i] == UInt8(ascii: "0") {
                i += 1
            } else if digits() == 0 {
                throw fail("invalid number")
            }
            if i < b.count, b[i] == UInt8(ascii: ".") {
                i += 1
                guard digits() > 0 else { throw fail("invalid number") }
            }
            if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
                guard digits() > 0 else { throw fail("invalid number") }
            }
            return String(decoding: b[start..<i], as: UTF8.self)
        }

        mutating func hex4() throws(ParseError) -> UInt32 {
            guard b.count - i >= 4 else { throw fail("invalid \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = b[i]
                let d: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
                default: throw fail("invalid \\u escape")
                }
                v = v << 4 | d
                i += 1
            }
            return v
        }

        /// Reads a string starting at the opening quote.
        mutating func string() throws(ParseError) -> String {
            i += 1
            var out: [UInt8] = []
            while true {
                guard i < b.count else { throw fail("unterminated string") }
                let c = b[i]
                if c == UInt8(ascii: "\"") { i += 1; break }
                if c < 0x20 { throw fail("control character in string") }
                if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
                i += 1
                guard i < b.count else { throw fail("unterminated escape") }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard b.count - i >= 6, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate")
                        }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw fail("unpaired surrogate")
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default: throw fail("invalid escape")
                }
            }
            guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8 in string") }
            return s
        }
    }
}
