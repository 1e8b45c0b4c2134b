import JSONText

/// A strict RFC 8259 reader for the fuzz targets' oracles: every answer upsign gives must be JSON,
/// whatever the request held. It builds a small tree so a target can look inside (the `policy`
/// field of a signed form is base64 of another JSON document that must be well formed too).
public enum JSONCheck {
    /// A parsed JSON value.
    public indirect enum Value: Equatable {
        case object([(String, Value)])
        case array([Value])
        case string(String)
        case number(String)
        case bool(Bool)
        case null

        public static func == (a: Value, b: Value) -> Bool {
            switch (a, b) {
            case (.object(let x), .object(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            case (.array(let x), .array(let y)): x == y
            case (.string(let x), .string(let y)): x == y
            case (.number(let x), .number(let y)): x == y
            case (.bool(let x), .bool(let y)): x == y
            case (.null, .null): true
            default: false
            }
        }

        /// The member `key` of an object.
        public subscript(key: String) -> Value? {
            if case .object(let members) = self { return members.first(where: { $0.0 == key })?.1 }
            return nil
        }

        /// Every string value found under a member named `key`, at any depth.
        public func strings(named key: String) -> [String] {
            var out: [String] = []
            func walk(_ v: Value) {
                switch v {
                case .object(let members):
                    for (k, m) in members {
                        if k == key, case .string(let s) = m { out.append(s) }
                        walk(m)
                    }
                case .array(let items): items.forEach(walk)
                default: break
                }
            }
            walk(self)
            return out
        }
    }

    /// Why a text is not JSON.
    public typealias Failure = JSONSyntaxError

    /// Parses `bytes` as one JSON value (any type), nesting at most 32 deep. The tokens are read
    /// by `JSONScanner`, as `FlatJSONObject` reads them; the nesting grammar is this oracle's own.
    public static func parse(_ bytes: [UInt8]) -> Result<Value, Failure> {
        var scanner = JSONScanner(bytes)
        do throws(Failure) {
            let v = try scanner.anyValue(depth: 0)
            scanner.skipSpace()
            guard scanner.offset == bytes.count else { throw scanner.fail("trailing characters") }
            return .success(v)
        } catch {
            return .failure(error)
        }
    }
}

extension JSONScanner {
    fileprivate mutating func anyValue(depth: Int) throws(JSONSyntaxError) -> JSONCheck.Value {
        guard depth < 32 else { throw fail("nested too deep") }
        skipSpace()
        guard let c = next else { throw fail("expected a value") }
        switch c {
        case UInt8(ascii: "{"):
            offset += 1
            var members: [(String, JSONCheck.Value)] = []
            skipSpace()
            if next == UInt8(ascii: "}") {
                offset += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard next == UInt8(ascii: "\"") else { throw fail("expected a key") }
                let key = try string()
                skipSpace()
                guard next == UInt8(ascii: ":") else { throw fail("expected ':'") }
                offset += 1
                members.append((key, try anyValue(depth: depth + 1)))
                skipSpace()
                guard let c = next else { throw fail("unterminated object") }
                if c == UInt8(ascii: ",") {
                    offset += 1
                    continue
                }
                if c == UInt8(ascii: "}") {
                    offset += 1
                    return .object(members)
                }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            offset += 1
            var items: [JSONCheck.Value] = []
            skipSpace()
            if next == UInt8(ascii: "]") {
                offset += 1
                return .array(items)
            }
            while true {
                items.append(try anyValue(depth: depth + 1))
                skipSpace()
                guard let c = next else { throw fail("unterminated array") }
                if c == UInt8(ascii: ",") {
                    offset += 1
                    continue
                }
                if c == UInt8(ascii: "]") {
                    offset += 1
                    return .array(items)
                }
                throw fail("expected ',' or ']'")
            }
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
        default: throw fail("expected a value")
        }
    }
}
