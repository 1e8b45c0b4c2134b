extension ASCII {
    /// Appends `value` in decimal (`-` first when negative), the one way upsign writes numbers
    /// into bytes: JSON, CGI headers.
    public static func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits = 1
        var rest = magnitude / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        let start = out.count
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits))
        var i = start + digits - 1
        while magnitude > 0 {
            out[i] = UInt8(ascii: "0") &+ UInt8(magnitude % 10)
            magnitude /= 10
            i -= 1
        }
    }

    /// Writes `value` as exactly `width` decimal digits at `offset` (zero-padded, high digits
    /// dropped, a negative value as zeros): the fixed-width fields of timestamps.
    public static func writeDecimal(_ value: Int, width: Int, into out: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        var v = value < 0 ? 0 : value
        var i = offset + width - 1
        while i >= offset {
            out[i] = UInt8(ascii: "0") &+ UInt8(v % 10)
            v /= 10
            i -= 1
        }
    }
}
