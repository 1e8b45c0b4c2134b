import JSONText
import Testing

struct JSONWriterTests {
    @Test func writesCompactObjectsInOrder() {
        var w = JSONWriter()
        w.beginObject()
        w.field("b", "1")
        w.key("a"); w.beginArray(); w.integer(-3); w.bool(true); w.string("x"); w.endArray()
        w.key("c"); w.beginObject(); w.endObject()
        w.endObject()
        #expect(w.text == #"{"b":"1","a":[-3,true,"x"],"c":{}}"#)
    }

    @Test func escapesQuotesBackslashesControlsAndHTMLCharacters() {
        var w = JSONWriter()
        w.string("a\"b\\c\nd\u{1}e<f>&g\u{7f}é")
        #expect(w.text == #""a\"b\\c\nd\u0001e\u003cf\u003e\u0026g\u007fé""#)
    }
}
