import JSONText
import Testing

struct JSONWriterTests {
    @Test func writesCompactObjectsInOrder() {
        var w = JSONWriter()
        w.beginObject()
        w.field("b", "1")
        w.key("a")
        w.beginArray()
        w.integer(-3)
        w.bool(true)
        w.string("x")
        w.endArray()
        w.key("c")
        w.beginObject()
        w.endObject()
        w.endObject()
        #expect(w.text == #"{"b":"1","a":[-3,true,"x"],"c":{}}"#)
    }

    @Test func escapesQuotesBackslashesControlsAndHTMLCharacters() {
        var w = JSONWriter()
        w.string("a\"b\\c\nd\u{1}e<f>&g\u{7f}é")
        #expect(w.text == #""a\"b\\c\nd\u0001e\u003cf\u003e\u0026g\u007fé""#)
    }
}

struct JSONWriterEscapeScanTests {
    /// Every byte that needs escaping, at every position of strings long enough for the 8-byte
    /// scan, is found and escaped; plain strings of every length are copied as they are.
    @Test func findsEachEscapedByteAtEveryPositionOfLongStrings() {
        let escaped: [(Character, String)] = [
            ("\"", #"\""#), ("\\", #"\\"#), ("<", #"\u003c"#), (">", #"\u003e"#), ("&", #"\u0026"#),
            ("\u{7f}", #"\u007f"#), ("\u{1f}", #"\u001f"#), ("\n", #"\n"#),
        ]
        for length in [1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47] {
            let plain = String(repeating: "a", count: length)
            var w = JSONWriter()
            w.string(plain)
            #expect(w.text == "\"\(plain)\"")
            for position in 0..<length {
                for (c, form) in escaped {
                    var chars = Array(plain)
                    chars[position] = c
                    var w = JSONWriter()
                    w.string(String(chars))
                    let expected = String(repeating: "a", count: position) + form + String(repeating: "a", count: length - position - 1)
                    #expect(w.text == "\"\(expected)\"", "byte \(c.unicodeScalars.first!.value) at \(position) of \(length)")
                }
            }
        }
    }
}

extension JSONWriterEscapeScanTests {
    /// Bytes that need no escaping next to those that do (0x1F/0x20, 0x21/0x22, 0x7E/0x7F, UTF-8
    /// continuation bytes) are told apart in every lane of the word scan.
    @Test func tellsNeighbouringBytesApartInEveryLane() {
        for filler in ["\u{20}", "!", "#", "%", "'", ";", "=", "?", "[", "]", "~", "é", "中"] {
            let plain = String(repeating: filler, count: 24)
            var w = JSONWriter()
            w.string(plain)
            #expect(w.text == "\"\(plain)\"", "filler \(filler)")
        }
    }
}
