/// Byte classes of ASCII text, for the hand-written checks of names, tokens and header values:
/// each rule written once, by name, instead of as ranges at every site.
public enum ASCII {
    /// `0`-`9`.
    @inlinable public static func isDigit(_ c: UInt8) -> Bool { c &- 0x30 < 10 }
    /// `a`-`z`.
    @inlinable public static func isLower(_ c: UInt8) -> Bool { c &- 0x61 < 26 }
    /// `A`-`Z`.
    @inlinable public static func isUpper(_ c: UInt8) -> Bool { c &- 0x41 < 26 }
    /// A letter of either case.
    @inlinable public static func isLetter(_ c: UInt8) -> Bool { isLower(c) || isUpper(c) }
    /// A letter of either case or a digit.
    @inlinable public static func isAlnum(_ c: UInt8) -> Bool { isLetter(c) || isDigit(c) }
    /// A lowercase letter or a digit.
    @inlinable public static func isLowerAlnum(_ c: UInt8) -> Bool { isLower(c) || isDigit(c) }
    /// Printable: a space through `~` (no control byte, no DEL, no byte of a multibyte UTF-8
    /// sequence).
    @inlinable public static func isPrintable(_ c: UInt8) -> Bool { c &- 0x20 < 0x5F }
    /// Printable and not a space: `!` through `~`.
    @inlinable public static func isVisible(_ c: UInt8) -> Bool { c &- 0x21 < 0x5E }
    /// A letter, digit or `_` (names of parameters, variables and profile keys).
    @inlinable public static func isWordByte(_ c: UInt8) -> Bool { isAlnum(c) || c == UInt8(ascii: "_") }
    /// RFC 3986's unreserved bytes: letters, digits, `-`, `.`, `_`, `~`.
    @inlinable public static func isUnreserved(_ c: UInt8) -> Bool {
        isAlnum(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "~")
    }
    /// The value of a hex digit of either case, or nil.
    @inlinable public static func hexValue(_ c: UInt8) -> UInt8? {
        if isDigit(c) { return c - 0x30 }
        if c &- 0x61 < 6 { return c - 0x61 + 10 }
        if c &- 0x41 < 6 { return c - 0x41 + 10 }
        return nil
    }

    /// True when every byte of `s` is printable.
    @inlinable public static func isPrintable(_ s: some StringProtocol) -> Bool { s.utf8.allSatisfy(isPrintable) }
    /// True when `s` is not empty and every byte is visible (printable, no space).
    @inlinable public static func isVisible(_ s: some StringProtocol) -> Bool { !s.isEmpty && s.utf8.allSatisfy(isVisible) }
    /// True when `s` is not empty and every byte is a letter, digit or `_`.
    @inlinable public static func isWord(_ s: some StringProtocol) -> Bool { !s.isEmpty && s.utf8.allSatisfy(isWordByte) }
}
