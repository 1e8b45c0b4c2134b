/// Whether bytes are one whole JSON text (RFC 8259: any value, nested, with surrounding
/// whitespace), read with `JSONScanner` without building anything: for passing on a JSON answer
/// upsign did not write (the application's answer to a forwarded callback).
public enum JSONValidation {
    /// Why `bytes` is not one JSON text, or nil when it is. Nesting deeper than `maxDepth`
    /// arrays and objects is refused; the reading is iterative, so no input can exhaust the stack.
    public static func problem(in bytes: [UInt8], maxDepth: Int = 64) -> JSONSyntaxError? {
        var s = JSONScanner(bytes)
        // The open containers, innermost last: true for an object.
        var open: [Bool] = []
        do throws(JSONSyntaxError) {
            s.skipSpace()
            value: while true {
                // A value is expected here.
                guard let c = s.next else { throw s.fail("a value is missing") }
                switch c {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    guard open.count < maxDepth else { throw s.fail("nested deeper than \(maxDepth)") }
                    s.offset += 1
                    s.skipSpace()
                    let isObject = c == UInt8(ascii: "{")
                    open.append(isObject)
                    if s.next == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                        s.offset += 1
                        open.removeLast()
                    } else {
                        if isObject { try member(&s) }
                        continue value
                    }
                case UInt8(ascii: "\""): _ = try s.string()
                case UInt8(ascii: "t"): try s.literal("true")
                case UInt8(ascii: "f"): try s.literal("false")
                case UInt8(ascii: "n"): try s.literal("null")
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): _ = try s.number()
                default: throw s.fail("unexpected byte")
                }
                // A value ended: close containers, or go on to the next element.
                while let isObject = open.last {
                    s.skipSpace()
                    if s.next == UInt8(ascii: ",") {
                        s.offset += 1
                        s.skipSpace()
                        if isObject { try member(&s) }
                        continue value
                    }
                    guard s.next == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) else { throw s.fail("expected ',' or a closing bracket") }
                    s.offset += 1
                    open.removeLast()
                }
                s.skipSpace()
                guard s.next == nil else { throw s.fail("text after the value") }
                return nil
            }
        } catch {
            return error
        }
    }

    /// Reads an object member's name and colon, leaving the scanner at its value.
    private static func member(_ s: inout JSONScanner) throws(JSONSyntaxError) {
        guard s.next == UInt8(ascii: "\"") else { throw s.fail("expected a member name") }
        _ = try s.string()
        s.skipSpace()
        guard s.next == UInt8(ascii: ":") else { throw s.fail("expected ':'") }
        s.offset += 1
        s.skipSpace()
    }
}
