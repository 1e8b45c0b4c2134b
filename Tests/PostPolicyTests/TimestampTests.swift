import PostPolicy
import Testing

struct TimestampTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z", "19700101", "19700101T000000Z"),
        (Int64(951_782_400), "2000-02-29T00:00:00.000Z", "20000229", "20000229T000000Z"),
        (Int64(1_709_251_199), "2024-02-29T23:59:59.000Z", "20240229", "20240229T235959Z"),
        (Int64(1_767_225_599), "2025-12-31T23:59:59.000Z", "20251231", "20251231T235959Z"),
        (Int64(1_767_323_045), "2026-01-02T03:04:05.000Z", "20260102", "20260102T030405Z"),
        (Int64(4_102_444_800), "2100-01-01T00:00:00.000Z", "21000101", "21000101T000000Z"),
    ])
    func rendersUTC(_ seconds: Int64, _ iso: String, _ date: String, _ dateTime: String) {
        let t = Timestamp(secondsSince1970: seconds)
        #expect(t.iso8601Milliseconds == iso)
        #expect(t.compactDate == date)
        #expect(t.compactDateTime == dateTime)
        #expect(Timestamp(iso8601: iso) == t)
    }

    @Test func parsesWithoutFractionAndWithLowercaseMarkers() {
        #expect(Timestamp(iso8601: "2026-01-02T03:04:05Z")?.secondsSince1970 == 1_767_323_045)
        #expect(Timestamp(iso8601: "2026-01-02t03:04:05.123456z")?.secondsSince1970 == 1_767_323_045)
    }

    @Test(arguments: [
        "", "2026-01-02", "2026-01-02T03:04:05", "2026-01-02T03:04:05+0800", "2026-01-02T03:04:05+24:00", "2026-13-02T03:04:05Z",
        "2026-02-29T00:00:00Z", "2026-01-02T24:00:00Z", "2026-01-02T03:04:05.Z", "abcd-01-02T03:04:05Z",
    ])
    func refusesAnythingButUTCDateTimes(_ text: String) {
        #expect(Timestamp(iso8601: text) == nil)
    }

    @Test func offsetsAreConvertedToUTC() {
        #expect(Timestamp(iso8601: "2026-01-02T11:04:05+08:00") == Timestamp(iso8601: "2026-01-02T03:04:05Z"))
        #expect(Timestamp(iso8601: "2026-01-01T22:04:05.5-05:00") == Timestamp(iso8601: "2026-01-02T03:04:05Z"))
    }

    @Test func millisecondsAreRenderedAndClamped() {
        let t = Timestamp(secondsSince1970: 0)
        #expect(t.iso8601(millisecond: 7) == "1970-01-01T00:00:00.007Z")
        #expect(t.iso8601(millisecond: 1500) == "1970-01-01T00:00:00.999Z")
    }
}
