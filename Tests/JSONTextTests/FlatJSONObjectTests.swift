import JSONText
import Testing

struct FlatJSONObjectTests {
    @Test func readsScalarMembers() throws {
        let o = try FlatJSONObject.parse(Array(#" {"a":"x\u00e9\n","n":-1.5e3,"t":true,"f":false,"z":null, "e":"\ud83d\ude00"} "#.utf8))
        #expect(o["a"] == .string("xé\n"))
        #expect(o["n"] == .number("-1.5e3"))
        #expect(o["t"] == .bool(true))
        #expect(o["f"] == .bool(false))
        #expect(o["z"] == .null)
        #expect(o["e"] == .string("😀"))
        #expect(o.members.map(\.key) == ["a", "n", "t", "f", "z", "e"])
    }

    @Test func readsAnEmptyObject() throws {
        #expect(try FlatJSONObject.parse(Array("{}".utf8)).members.isEmpty)
    }

    @Test(arguments: [
        "", "[]", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":1}x", "{\"a\":{}}", "{\"a\":[1]}",
        "{\"a\":01}", "{\"a\":1.}", "{\"a\":-}", "{\"a\":\"\\x\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}",
        "{\"a\":\"tab\there\"}", "{\"a\":1,\"a\":2}", "{a:1}", "{\"a\":tru}", "{\"a\":\"unterminated}",
    ])
    func refusesMalformedOrNestedInput(_ text: String) {
        #expect(throws: FlatJSONObject.ParseError.self) { try FlatJSONObject.parse(Array(text.utf8)) }
    }

    @Test func refusesInvalidUTF8InStrings() {
        #expect(throws: FlatJSONObject.ParseError.self) { try FlatJSONObject.parse([0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D]) }
    }

    @Test func deepNestingFailsFastWithoutRecursion() {
        let deep = Array(repeating: UInt8(ascii: "["), count: 100_000)
        #expect(throws: FlatJSONObject.ParseError.self) { try FlatJSONObject.parse([UInt8(ascii: "{"), 0x22, 0x61, 0x22, 0x3A] + deep) }
    }
}
