import COpenSSL

/// Standard base64 (RFC 4648 §4, with padding) through OpenSSL's EVP block coder.
public enum Base64 {
    /// Returns the base64 text of `bytes`.
    public static func encode(_ bytes: some ContiguousBytes) -> String {
        encode(bytes, urlSafe: false)
    }

    /// Returns the URL-safe base64 text of `bytes` (RFC 4648 §5: `-` and `_` for `+` and `/`,
    /// with padding), as Qiniu's upload tokens use it.
    public static func encodeURLSafe(_ bytes: some ContiguousBytes) -> String {
        encode(bytes, urlSafe: true)
    }

    private static func encode(_ bytes: some ContiguousBytes, urlSafe: Bool) -> String {
        bytes.withUnsafeBytes { input in
            let outputCount = 4 * ((input.count + 2) / 3)
            if outputCount == 0 { return "" }
            return String(unsafeUninitializedCapacity: outputCount + 1) { out in
                let written = Int(
                    EVP_EncodeBlock(
                        out.baseAddress, input.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(input.count)))
                if urlSafe {
                    for i in 0..<written {
                        if out[i] == UInt8(ascii: "+") {
                            out[i] = UInt8(ascii: "-")
                        } else if out[i] == UInt8(ascii: "/") {
                            out[i] = UInt8(ascii: "_")
                        }
                    }
                }
                return written
            }
        }
    }

    /// Returns the bytes that `text` encodes, or nil when it is not canonical padded base64.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 4 == 0 else { return nil }
        if utf8.isEmpty { return [] }
        for (index, byte) in utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"):
                continue
            case UInt8(ascii: "=") where index >= utf8.count - 2:
                // '=' only as the last one or two characters, and nothing but '=' after it.
                if index == utf8.count - 2 && utf8[index + 1] != UInt8(ascii: "=") { return nil }
            default:
                return nil
            }
        }
        let padding = utf8.suffix(2).filter { $0 == UInt8(ascii: "=") }.count
        var out = [UInt8](repeating: 0, count: utf8.count / 4 * 3)
        let written = utf8.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { o in
                EVP_DecodeBlock(o.baseAddress, input.baseAddress, Int32(input.count))
            }
        }
        guard written >= 0 else { return nil }
        // EVP_DecodeBlock counts the padding as zero bytes; drop them.
        out.removeLast(padding)
        return out
    }
}
