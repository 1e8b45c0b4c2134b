import ASCIIText
import Testing

/// Each class, checked against the whole byte range by its definition in words.
struct ASCIITests {
    @Test func everyByteIsClassedAsItsDefinitionSays() {
        for b in 0...255 {
            let c = UInt8(b)
            let ch = Character(Unicode.Scalar(c))
            #expect(ASCII.isDigit(c) == (b < 128 && ch.isNumber))
            #expect(ASCII.isLower(c) == (b < 128 && ch.isLowercase))
            #expect(ASCII.isUpper(c) == (b < 128 && ch.isUppercase))
            #expect(ASCII.isAlnum(c) == (b < 128 && (ch.isLetter || ch.isNumber)))
            #expect(ASCII.isPrintable(c) == (b >= 32 && b <= 126))
            #expect(ASCII.isVisible(c) == (b >= 33 && b <= 126))
            #expect(ASCII.isUnreserved(c) == (b < 128 && (ch.isLetter || ch.isNumber || "-._~".contains(ch))))
            let hex = "0123456789abcdef".firstIndex(of: Character(ch.lowercased())).map {
                "0123456789abcdef".distance(from: "0123456789abcdef".startIndex, to: $0)
            }
            #expect(ASCII.hexValue(c).map(Int.init) == (b < 128 ? hex : nil))
        }
    }

    @Test func stringsAreCheckedByteByByte() {
        #expect(ASCII.isWord("UPSIGN_USER") && !ASCII.isWord("") && !ASCII.isWord("a-b"))
        #expect(ASCII.isVisible("max-age=1") && !ASCII.isVisible("a b") && !ASCII.isVisible(""))
        #expect(ASCII.isPrintable("a b") && !ASCII.isPrintable("caf\u{e9}") && !ASCII.isPrintable("a\tb"))
    }
}

/// The one percent-decoder.
struct PercentDecodingTests {
    @Test(arguments: [
        ("a%20b+c", true, "a b c"), ("a%20b+c", false, "a b+c"), ("%E4%BD%A0", true, "你"), ("%2f%2F", false, "//"), ("", true, ""),
    ])
    func escapesAndPlusesAreDecoded(_ text: String, _ plus: Bool, _ expected: String) {
        #expect(ASCII.percentDecoded(Array(text.utf8), plusAsSpace: plus) == Array(expected.utf8))
    }

    @Test(arguments: ["%", "%4", "%4g", "a%zz", "%%41"])
    func aBrokenEscapeIsRefused(_ text: String) {
        #expect(ASCII.percentDecoded(Array(text.utf8), plusAsSpace: true) == nil)
    }
}
