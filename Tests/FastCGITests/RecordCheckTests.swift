import FastCGI
import Testing

struct RecordCheckTests {
    static func record(_ type: UInt8, id: UInt16 = 1, _ content: [UInt8], padding: UInt8 = 0) -> [UInt8] {
        [1, type, UInt8(id >> 8), UInt8(id & 0xFF), UInt8(content.count >> 8), UInt8(content.count & 0xFF), padding, 0]
            + content + [UInt8](repeating: 0, count: Int(padding))
    }

    static func pair(_ name: String, _ value: String) -> [UInt8] {
        func length(_ n: Int) -> [UInt8] { n < 128 ? [UInt8(n)] : [UInt8(0x80 | (n >> 24)), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)] }
        return length(name.utf8.count) + length(value.utf8.count) + Array(name.utf8) + Array(value.utf8)
    }

    static let begin = record(1, [0, 1, 1, 0, 0, 0, 0, 0])
    static let params = pair("REQUEST_METHOD", "GET") + pair("QUERY_STRING", String(repeating: "q", count: 300))
    static let request = begin + record(4, params, padding: 3) + record(4, []) + record(5, [])

    func verdict(_ bytes: [UInt8]) -> RecordCheck.Verdict {
        bytes.withUnsafeBytes { RecordCheck.inspect($0) }
    }

    @Test func aWholeRequestStartIsComplete() {
        #expect(verdict(Self.request) == .complete)
        #expect(verdict(Self.record(9, id: 0, Self.pair("FCGI_MAX_CONNS", "")) + Self.request) == .complete)
    }

    @Test func paramsSplitAcrossRecordsAreJoined() {
        let half = Self.params.count / 2
        let split = Self.begin + Self.record(4, Array(Self.params[..<half])) + Self.record(4, Array(Self.params[half...])) + Self.record(4, [])
        #expect(verdict(split) == .complete)
    }

    @Test func everyPrefixIsIncompleteNotInvalid() {
        let upToParamsEnd = Self.begin.count + Self.record(4, Self.params, padding: 3).count + 8
        for n in 0..<upToParamsEnd {
            #expect(verdict(Array(Self.request[..<n])) == .incomplete, "prefix \(n)")
        }
    }

    @Test func lengthsThatOverflowOrOverrunAreInvalid() {
        let overflowing: [UInt8] = [0xFF, 0xFF, 0xFF, 0xF0, 0x80, 0x00, 0x00, 0x10] + [UInt8](repeating: 0x78, count: 20)
        #expect(verdict(Self.begin + Self.record(4, overflowing) + Self.record(4, [])) != .complete)
        if case .invalid = verdict(Self.begin + Self.record(4, overflowing) + Self.record(4, [])) {} else { Issue.record("not invalid") }
        if case .invalid = verdict(Self.begin + Self.record(4, [5, 200] + Array("NAMEX".utf8)) + Self.record(4, [])) {} else { Issue.record("overrun accepted") }
        if case .invalid = verdict(Self.begin + Self.record(4, [0x81]) + Self.record(4, [])) {} else { Issue.record("truncated length accepted") }
    }

    @Test func protocolViolationsAreInvalid() {
        for bytes in [
            [2] + Array(Self.request.dropFirst()),                            // version 2
            Self.record(4, Self.params) + Self.record(4, []),                 // PARAMS before BEGIN
            Self.begin + Self.begin,                                          // multiplexing
            Self.begin + Self.record(5, []),                                  // STDIN before the params end
            Self.record(1, [0, 1, 1, 0, 0, 0]),                               // short BEGIN
        ] {
            if case .invalid = verdict(bytes) {} else { Issue.record("accepted \(bytes.prefix(16))") }
        }
    }

    @Test func tooManyParamBytesAreInvalid() {
        var bytes = Self.begin
        let chunk = [UInt8](repeating: 0x61, count: 60_000)
        for _ in 0..<3 { bytes += Self.record(4, Array(chunk.prefix(59_000))) }
        if case .invalid = verdict(bytes) {} else { Issue.record("accepted \(bytes.count) bytes of params") }
    }
}
