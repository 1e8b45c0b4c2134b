import ASCIIText

/// Builds compact JSON text by appending into one UTF-8 buffer, keys in the order written.
///
/// Used for policy documents and responses, where the byte-exact output matters (a policy is signed
/// as written) and the shapes are fixed, so a general encoder would only add cost.
public struct JSONWriter: Sendable {
    /// The JSON text written so far, as UTF-8.
    public private(set) var bytes: [UInt8]
    private var needsComma = false

    /// Creates an empty writer with room for `capacity` bytes.
    public init(capacity: Int = 512) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// The JSON text written so far.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Opens an object (`{`).
    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }
    /// Closes an object (`}`).
    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }
    /// Opens an array (`[`).
    public mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }
    /// Closes an array (`]`).
    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// Writes an object key; the next value written is its value.
    public mutating func key(_ name: String) {
        separate()
        JSONWriter.appendQuoted(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    /// Writes a string value.
    public mutating func string(_ value: String) {
        separate()
        JSONWriter.appendQuoted(value, to: &bytes)
        needsComma = true
    }

    /// Writes the string value `prefix` + `value` (`"$key"` in policy conditions) without building
    /// the joined string; `prefix` must be a character that needs no escaping.
    public mutating func string(_ value: String, prefix: UInt8) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(prefix)
        JSONWriter.appendEscaped(value, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    /// Writes a string value whose UTF-8 text `body` appends straight into the buffer. The caller
    /// vouches that the text needs no escaping (dates, digits): nothing is checked.
    public mutating func unescapedString(_ body: (inout [UInt8]) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        body(&bytes)
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    /// Writes already rendered JSON: one value or several separated by commas (array elements),
    /// as the next value(s). The caller vouches that `fragment` is well-formed JSON; nothing is checked.
    public mutating func fragment(_ fragment: [UInt8]) {
        guard !fragment.isEmpty else { return }
        separate()
        bytes.append(contentsOf: fragment)
        needsComma = true
    }

    /// Writes an integer value.
    public mutating func integer(_ value: Int64) {
        separate()
        ASCII.appendDecimal(value, to: &bytes)
        needsComma = true
    }

    /// Writes an integer value.
    public mutating func integer(_ value: Int) { integer(Int64(value)) }

    /// Writes `true` or `false`.
    public mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
        needsComma = true
    }

    /// Writes `"name": "value"`.
    public mutating func field(_ name: String, _ value: String) {
        key(name)
        string(value)
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    /// Bytes 0x00-0x3F that need escaping: the control characters, `"`, `&`, `<` and `>`.
    private static let escapedLow: UInt64 = 0xFFFF_FFFF | 1 << 0x22 | 1 << 0x26 | 1 << 0x3C | 1 << 0x3E
    /// Bytes 0x40-0x7F that need escaping, less 0x40: `\` and DEL.
    private static let escapedHigh: UInt64 = 1 << (0x5C - 0x40) | 1 << (0x7F - 0x40)

    /// Whether `byte` is written escaped: a bit test, with no table to load (a global array costs
    /// a retain and a release per string).
    @inline(__always)
    private static func needsEscape(_ byte: UInt8) -> Bool {
        if byte < 0x40 { return escapedLow >> byte & 1 != 0 }
        if byte < 0x80 { return escapedHigh >> (byte &- 0x40) & 1 != 0 }
        return false
    }

    /// Whether any byte of `buffer` needs escaping: eight bytes at a time with word arithmetic
    /// (the exact "has a zero byte" and "has a byte less than n" tests), the rest one by one.
    /// Every string of a policy (bucket, key, dates, base64) passes through here and almost none
    /// needs escaping, so this scan runs over nearly the whole text on every request and one test
    /// per word beats one per byte. (Swift's `SIMD16` comparisons against a scalar compiled lane
    /// by lane, which gains nothing over bytes.) `Benchmarks/signing.sh`, and `upsign-bench
    /// nCOUNT` under callgrind, measure the signing path this is part of.
    private static func anyNeedsEscape(_ buffer: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = buffer.baseAddress else { return false }
        let raw = UnsafeRawPointer(base)
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func hasZeroByte(_ v: UInt64) -> Bool { (v &- ones) & ~v & highs != 0 }
        @inline(__always) func special(_ x: UInt64) -> Bool {
            // A byte below 0x20 (bytes of 0x80 and up have their top bit set, so ~x clears them).
            (x &- ones &* 0x20) & ~x & highs != 0
                || hasZeroByte(x ^ (ones &* 0x22)) || hasZeroByte(x ^ (ones &* 0x26)) || hasZeroByte(x ^ (ones &* 0x3C))
                || hasZeroByte(x ^ (ones &* 0x3E)) || hasZeroByte(x ^ (ones &* 0x5C)) || hasZeroByte(x ^ (ones &* 0x7F))
        }
        var i = 0
        while i + 8 <= buffer.count {
            if special(raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) { return true }
            i += 8
        }
        while i < buffer.count {
            if needsEscape(base[i]) { return true }
            i += 1
        }
        return false
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `value` as a quoted JSON string: `"` and `\` escaped, control characters as `\uXXXX`
    /// (or their short forms), everything else as UTF-8. `<`, `>` and `&` are escaped too, so the
    /// text can be embedded in HTML safely.
    public static func appendQuoted(_ value: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        appendEscaped(value, to: &out)
        out.append(UInt8(ascii: "\""))
    }

    /// Appends `value` escaped as in `appendQuoted`, without the quotes.
    public static func appendEscaped(_ value: String, to out: inout [UInt8]) {
        // Fast path: most values (base64, keys, URLs) need no escaping and are copied whole.
        var copy = value
        let plain = copy.withUTF8 { buffer -> Bool in
            let clean = !anyNeedsEscape(buffer)
            if clean { out.append(contentsOf: buffer) }
            return clean
        }
        if plain { return }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""):
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "\\"))
            case 0x0A:
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "n"))
            case 0x0D:
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "r"))
            case 0x09:
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "t"))
            case 0x00..<0x20, 0x7F, UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "&"):
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            default: out.append(byte)
            }
        }
    }
}
