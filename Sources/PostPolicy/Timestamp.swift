import ASCIIText

/// An instant in whole seconds since 1970-01-01T00:00:00Z, with the UTC renderings that signed
/// policies use. Pure arithmetic: no formatter objects, no time zones, no locale.
public struct Timestamp: Sendable, Hashable, Comparable {
    /// Seconds since the Unix epoch (UTC).
    public var secondsSince1970: Int64

    /// Creates the instant `secondsSince1970` seconds after the epoch.
    public init(secondsSince1970: Int64) { self.secondsSince1970 = secondsSince1970 }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.secondsSince1970 < b.secondsSince1970 }

    /// The instant `seconds` later.
    public func adding(seconds: Int64) -> Timestamp { Timestamp(secondsSince1970: secondsSince1970 + seconds) }

    /// The UTC calendar fields of this instant.
    public var utc: UTCDateTime { UTCDateTime(self) }

    /// `2026-11-29T12:00:00.000Z`: ISO 8601 in UTC with milliseconds, as OSS and S3 policies want.
    public var iso8601Milliseconds: String { iso8601(millisecond: 0) }

    /// ISO 8601 in UTC with the given millisecond (0...999) appended to this whole second.
    public func iso8601(millisecond: Int) -> String {
        var s = [UInt8]()
        s.reserveCapacity(24)
        appendISO8601(to: &s, millisecond: millisecond)
        return String(decoding: s, as: UTF8.self)
    }

    /// Appends the ISO 8601 text to `s`: with `.fff` when `millisecond` (clamped to 0...999) is
    /// given, else to the second (`2026-11-29T12:00:00Z`, as Google Cloud Storage policies want).
    public func appendISO8601(to s: inout [UInt8], millisecond: Int?) {
        let t = utc
        Self.append(t.year, width: 4, to: &s)
        s.append(UInt8(ascii: "-"))
        Self.append(t.month, width: 2, to: &s)
        s.append(UInt8(ascii: "-"))
        Self.append(t.day, width: 2, to: &s)
        s.append(UInt8(ascii: "T"))
        Self.append(t.hour, width: 2, to: &s)
        s.append(UInt8(ascii: ":"))
        Self.append(t.minute, width: 2, to: &s)
        s.append(UInt8(ascii: ":"))
        Self.append(t.second, width: 2, to: &s)
        if let millisecond {
            s.append(UInt8(ascii: "."))
            Self.append(min(max(millisecond, 0), 999), width: 3, to: &s)
        }
        s.append(UInt8(ascii: "Z"))
    }

    /// `20261129`: the date part of V4 credential scopes.
    public var compactDate: String {
        let t = utc
        // Eight bytes: a small string, stored inline (no allocation).
        return String(unsafeUninitializedCapacity: 8) { out in
            ASCII.writeDecimal(t.year, width: 4, into: out, at: 0)
            ASCII.writeDecimal(t.month, width: 2, into: out, at: 4)
            ASCII.writeDecimal(t.day, width: 2, into: out, at: 6)
            return 8
        }
    }

    /// `20261129T120000Z`: the V4 request date (`x-oss-date`, `x-amz-date`).
    public var compactDateTime: String {
        let t = utc
        // Written into the string's own storage: one allocation, no intermediate array.
        return String(unsafeUninitializedCapacity: 16) { out in
            ASCII.writeDecimal(t.year, width: 4, into: out, at: 0)
            ASCII.writeDecimal(t.month, width: 2, into: out, at: 4)
            ASCII.writeDecimal(t.day, width: 2, into: out, at: 6)
            out[8] = UInt8(ascii: "T")
            ASCII.writeDecimal(t.hour, width: 2, into: out, at: 9)
            ASCII.writeDecimal(t.minute, width: 2, into: out, at: 11)
            ASCII.writeDecimal(t.second, width: 2, into: out, at: 13)
            out[15] = UInt8(ascii: "Z")
            return 16
        }
    }

    /// Appends `value` as exactly `width` decimal digits (zero-padded, high digits dropped).
    static func append(_ value: Int, width: Int, to out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width))
        out.withUnsafeMutableBufferPointer { ASCII.writeDecimal(value, width: width, into: $0, at: start) }
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff]` followed by `Z` or an offset `±HH:MM` (the fraction is
    /// dropped); nil for anything else.
    public init?(iso8601 text: String) {
        let b = Array(text.utf8)
        func num(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var v = 0
            for c in b[from..<from + count] {
                guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
                v = v * 10 + Int(c - UInt8(ascii: "0"))
            }
            return v
        }
        guard b.count >= 20, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
            b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"),
            b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
            let year = num(0, 4), let month = num(5, 2), let day = num(8, 2),
            let hour = num(11, 2), let minute = num(14, 2), let second = num(17, 2)
        else { return nil }
        var i = 19
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") { i += 1 }
            guard i > start else { return nil }
        }
        // The zone: Z, or an offset ±HH:MM (STS answers Z; agents sometimes write local offsets).
        var offsetSeconds = 0
        if i == b.count - 1, b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            offsetSeconds = 0
        } else if i == b.count - 6, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-"), b[i + 3] == UInt8(ascii: ":"),
            let h = num(i + 1, 2), let m = num(i + 4, 2), h < 24, m < 60
        {
            offsetSeconds = (h * 3600 + m * 60) * (b[i] == UInt8(ascii: "+") ? 1 : -1)
        } else {
            return nil
        }
        guard (1...12).contains(month), hour < 24, minute < 60, second < 60,
            day >= 1, day <= UTCDateTime.daysIn(month: month, year: year)
        else { return nil }
        let days = UTCDateTime.daysFromCivil(year: year, month: month, day: day)
        self.init(secondsSince1970: Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second - offsetSeconds))
    }
}
