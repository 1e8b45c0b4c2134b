import JSONText
import Testing

/// `JSONValidation`: one whole RFC 8259 text, nested, read without recursion.
struct JSONValidationTests {
    @Test(arguments: [
        "{}", "[]", " {\"a\": [1, -2.5e3, true, false, null, \"x\\u00e9\", {\"b\": {}}]} ", "\"s\"", "0", "[[[]]]",
        "{\"a\":1,\"b\":[{\"c\":[]},2]}",
    ])
    func wholeJSONTextsPass(_ text: String) {
        #expect(JSONValidation.problem(in: Array(text.utf8)) == nil)
    }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{a:1}", "[1 2]", "01", "{}x", "{} {}", "[\"\u{01}\"]",
        "'s'", "nul", "[1,,2]", "{\"a\":1 \"b\":2}", "{,}", "[,]",
    ])
    func anythingElseFails(_ text: String) {
        #expect(JSONValidation.problem(in: Array(text.utf8)) != nil)
    }

    @Test func depthIsBoundedWithoutRecursion() {
        #expect(JSONValidation.problem(in: Array((String(repeating: "[", count: 64) + String(repeating: "]", count: 64)).utf8)) == nil)
        #expect(JSONValidation.problem(in: Array((String(repeating: "[", count: 65) + String(repeating: "]", count: 65)).utf8)) != nil)
        #expect(JSONValidation.problem(in: Array(String(repeating: "[", count: 1_000_000).utf8)) != nil)
    }
}
