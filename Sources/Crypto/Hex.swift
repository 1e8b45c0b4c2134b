/// Lowercase hexadecimal text, as the V4 signature schemes want it.
public enum Hex {

    /// Returns the lowercase hex text of `bytes`.
    public static func encode(_ bytes: some ContiguousBytes) -> String {
        bytes.withUnsafeBytes { input in
            String(unsafeUninitializedCapacity: input.count * 2) { out in
                var i = 0
                for byte in input {
                    out[i] = digit(byte >> 4)
                    out[i + 1] = digit(byte & 0x0F)
                    i += 2
                }
                return i
            }
        }
    }

    /// The digit of a nibble: arithmetic, not a table (a global array costs a retain and a release).
    @inline(__always)
    static func digit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "a") &+ (nibble &- 10)
    }
}
