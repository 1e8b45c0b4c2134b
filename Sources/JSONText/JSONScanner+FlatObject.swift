/// `FlatJSONObject`'s grammar over the scanner's tokens: one object of scalar members.
extension JSONScanner {
    /// Skips whitespace and consumes `c`, else fails with "expected `what`".
    mutating func expect(_ c: UInt8, _ what: String) throws(JSONSyntaxError) {
        skipSpace()
        guard next == c else { throw fail("expected \(what)") }
        offset += 1
    }

    /// Reads one flat object that is the whole text (after an optional UTF-8 byte order mark).
    mutating func flatObject() throws(JSONSyntaxError) -> FlatJSONObject {
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
                if c == UInt8(ascii: ",") {
                    offset += 1
                    continue
                }
                if c == UInt8(ascii: "}") {
                    offset += 1
                    break
                }
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
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        case UInt8(ascii: "{"), UInt8(ascii: "["): throw fail("nested objects and arrays are not accepted")
        default: throw fail("expected a value")
        }
    }
}
