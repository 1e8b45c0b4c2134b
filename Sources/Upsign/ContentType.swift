/// Media type syntax (RFC 9110 §8.3.1), without parameters.
enum ContentType {
    /// RFC 9110 `tchar`.
    static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default: false
        }
    }

    /// True for `type/subtype` (or `type/` when `allowPrefix`), at most 255 bytes. `$` is refused
    /// too: policies treat it as a variable marker.
    static func isValid(_ s: String, allowPrefix: Bool = false) -> Bool {
        let b = Array(s.utf8)
        guard b.count <= 255, let slash = b.firstIndex(of: UInt8(ascii: "/")), slash > 0 else { return false }
        let type = b[..<slash]
        let subtype = b[(slash + 1)...]
        guard type.allSatisfy(isTokenChar), subtype.allSatisfy({ isTokenChar($0) }),
            !b.contains(UInt8(ascii: "$"))
        else { return false }
        return !subtype.isEmpty || allowPrefix
    }
}
