extension ASCII {
    /// `bytes` with each `%XX` replaced by the byte it names, and each `+` by a space when
    /// `plusAsSpace` (form encoding; a URL path keeps its `+`); nil for a `%` not followed by
    /// two hex digits. The one percent-decoder: forms, query strings, callback paths.
    public static func percentDecoded(_ bytes: some Collection<UInt8>, plusAsSpace: Bool) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i != bytes.endIndex {
            let c = bytes[i]
            if c == UInt8(ascii: "%") {
                let h = bytes.index(after: i)
                guard h != bytes.endIndex, let hi = hexValue(bytes[h]) else { return nil }
                let l = bytes.index(after: h)
                guard l != bytes.endIndex, let lo = hexValue(bytes[l]) else { return nil }
                out.append(hi << 4 | lo)
                i = bytes.index(after: l)
                continue
            }
            out.append(plusAsSpace && c == UInt8(ascii: "+") ? 0x20 : c)
            i = bytes.index(after: i)
        }
        return out
    }
}
