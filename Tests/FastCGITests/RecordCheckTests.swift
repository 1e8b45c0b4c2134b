import FastCGI
import Testing

struct RecordCheckTests {
    static func record(_ type: UInt8, id: UInt16 = 1, _ content: [UInt8], padding: UInt8 = 0) -> [UInt8] {
        [1, type, UInt8(id >> 8), UInt8(id & 0xFF), UInt8(content.count >> 8), UInt8(content.count & 0xFF), padding, 0]
            + content + [UInt8](repeating: 0, count: Int(padding))
    }

    static func pair(_ name: String, _ value: String) -> [UInt8] {
        func length(_ n: Int) -> [UInt8] {
            n < 128 ? [UInt8(n)] : [UInt8(0x80 | (n >> 24)), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)]
        }
        return length(name.utf8.count) + length(value.utf8.count) + Array(name.utf8) + Array(value.utf8)
    }

    static let begin = record(1, [0, 1, 1, 0, 0, 0, 0, 0])
    static let params = pair("REQUEST_METHOD", "GET") + pair("QUERY_STRING", String(repeating: "q", count: 300))
    static let request = begin + record(4, params, padding: 3) + record(4, []) + record(5, [])

    func verdict(_ bytes: [UInt8], bodyLimit: Int = .max) -> RecordCheck.Verdict {
        bytes.withUnsafeBytes { RecordCheck.inspect($0, bodyLimit: bodyLimit, maxConnections: 64) }
    }

    func isInvalid(_ v: RecordCheck.Verdict) -> Bool {
        if case .invalid = v { return true }
        return false
    }

    @Test func aWholeRequestIsCompleteWithItsLength() {
        let start = Self.request.count - 8
        #expect(verdict(Self.request) == .complete(length: Self.request.count, start: start, declaredLength: 0))
        // Bytes past it (a next request sent early) are not part of it.
        #expect(verdict(Self.request + Self.begin) == .complete(length: Self.request.count, start: start, declaredLength: 0))
    }

    @Test func theBodyIsCheckedToTheEndOfStdin() {
        let start = Self.begin + Self.record(4, Self.params + Self.pair("CONTENT_LENGTH", "7")) + Self.record(4, [])
        let withBody = start + Self.record(5, Array("{\"a\":1}".utf8), padding: 7)
        #expect(verdict(withBody) == .awaitingBody(needed: withBody.count + 8, start: start.count, declaredLength: 7))
        #expect(verdict(withBody + Self.record(5, [])) == .complete(length: withBody.count + 8, start: start.count, declaredLength: 7))
        // Past the body limit libfcgi is never asked for more, so nothing further is parsed.
        #expect(verdict(withBody, bodyLimit: 4) == .complete(length: withBody.count, start: start.count, declaredLength: 7))
    }

    @Test func theDeclaredLengthIsKnownOnceTheParamsEnd() {
        func declared(_ params: [UInt8]) -> Int?? {
            guard case .awaitingBody(_, _, let d) = verdict(Self.begin + Self.record(4, params) + Self.record(4, [])) else { return nil }
            return .some(d)
        }
        #expect(declared(Self.params) == .some(0))
        #expect(declared(Self.params + Self.pair("CONTENT_LENGTH", "900000")) == .some(900_000))
        #expect(declared(Self.params + Self.pair("CONTENT_LENGTH", "12x")) == .some(nil))
        // The last of repeated params counts, as in the application's lookup.
        #expect(declared(Self.pair("CONTENT_LENGTH", "1") + Self.pair("CONTENT_LENGTH", "2")) == .some(2))
    }

    @Test func aWaitNamesTheEndOfTheRecordBeingReceived() {
        let record = Self.record(4, Self.params, padding: 3)
        // A header cut short: the header's end; a content cut short: the record's end.
        #expect(verdict(Self.begin + Array(record[..<5])) == .incomplete(needed: Self.begin.count + 8))
        #expect(verdict(Self.begin + Array(record[..<20])) == .incomplete(needed: Self.begin.count + record.count))
    }

    @Test func managementRecordsInsideARequestAreRefused() {
        let start = Self.begin + Self.record(4, Self.params) + Self.record(4, [])
        // GET_VALUES with lengths libfcgi would overflow on (found by test_fastcgi_abuse).
        let huge: [UInt8] = [0xFF, 0xFF, 0xFF, 0xF0, 0x80, 0x00, 0x00, 0x10]
        #expect(isInvalid(verdict(start + Self.record(5, [1, 2]) + Self.record(9, id: 0, huge) + Self.record(5, []))))
        #expect(isInvalid(verdict(start + Self.record(12, id: 0, [1, 2, 3]) + Self.record(5, []))))
        // Even empty ones: libfcgi leaks 48 bytes for each (found by fuzzing).
        #expect(isInvalid(verdict(start + Self.record(12, id: 0, []) + Self.record(5, []))))
        #expect(isInvalid(verdict(Self.begin + Self.record(11, id: 0, []) + Self.record(4, Self.params) + Self.record(4, []) + Self.record(5, []))))
        #expect(isInvalid(verdict(start + Self.record(2, []) + Self.record(5, []))))  // ABORT_REQUEST
        #expect(isInvalid(verdict(start + Self.record(5, id: 2, [1]) + Self.record(5, []))))
    }

    @Test func getValuesBeforeARequestIsAnsweredWithEachVariableOnce() {
        // Naming a variable four times overran libfcgi's 64-byte answer buffer (found by test_fastcgi_abuse).
        let names =
            Array(repeating: Self.pair("FCGI_MAX_CONNS", ""), count: 6).flatMap { $0 } + Self.pair("FCGI_MPXS_CONNS", "") + Self.pair("OTHER", "")
        let record = Self.record(9, id: 0, names)
        guard case .management(let length, let reply) = verdict(record + Self.request) else {
            Issue.record("not answered")
            return
        }
        #expect(length == record.count)
        let content = Self.pair("FCGI_MAX_CONNS", "64") + Self.pair("FCGI_MPXS_CONNS", "0")
        #expect(reply == [1, 10, 0, 0, 0, UInt8(content.count), 0, 0] + content)
        #expect(isInvalid(verdict(Self.record(9, id: 0, [0x81]) + Self.request)))
    }

    @Test func anUnknownManagementRecordIsAnsweredUnknownType() {
        #expect(
            verdict(Self.record(200, id: 0, [1, 2, 3], padding: 5) + Self.request)
                == .management(length: 16, reply: [1, 11, 0, 0, 0, 8, 0, 0, 200, 0, 0, 0, 0, 0, 0, 0]))
    }

    @Test func paramsSplitAcrossRecordsAreJoined() {
        let half = Self.params.count / 2
        let split =
            Self.begin + Self.record(4, Array(Self.params[..<half])) + Self.record(4, Array(Self.params[half...])) + Self.record(4, [])
            + Self.record(5, [])
        #expect(verdict(split) == .complete(length: split.count, start: split.count - 8, declaredLength: 0))
    }

    @Test func everyPrefixIsIncompleteNotInvalid() {
        let upToParamsEnd = Self.begin.count + Self.record(4, Self.params, padding: 3).count + 8
        for n in 0..<upToParamsEnd {
            guard case .incomplete(let needed) = verdict(Array(Self.request[..<n])) else {
                Issue.record("prefix \(n) not incomplete")
                continue
            }
            #expect(needed > n && needed <= Self.request.count, "prefix \(n) waits for \(needed)")
        }
        for n in upToParamsEnd..<Self.request.count {
            #expect(
                verdict(Array(Self.request[..<n])) == .awaitingBody(needed: Self.request.count, start: upToParamsEnd, declaredLength: 0),
                "prefix \(n)")
        }
    }

    @Test func lengthsThatOverflowOrOverrunAreInvalid() {
        let overflowing: [UInt8] = [0xFF, 0xFF, 0xFF, 0xF0, 0x80, 0x00, 0x00, 0x10] + [UInt8](repeating: 0x78, count: 20)
        if case .invalid = verdict(Self.begin + Self.record(4, overflowing) + Self.record(4, [])) {} else { Issue.record("not invalid") }
        if case .invalid = verdict(Self.begin + Self.record(4, [5, 200] + Array("NAMEX".utf8)) + Self.record(4, [])) {
        } else {
            Issue.record("overrun accepted")
        }
        if case .invalid = verdict(Self.begin + Self.record(4, [0x81]) + Self.record(4, [])) {} else { Issue.record("truncated length accepted") }
    }

    @Test func protocolViolationsAreInvalid() {
        for bytes in [
            [2] + Array(Self.request.dropFirst()),  // version 2
            Self.record(4, Self.params) + Self.record(4, []),  // PARAMS before BEGIN
            Self.begin + Self.begin,  // multiplexing
            Self.begin + Self.record(5, []),  // STDIN before the params end
            Self.record(1, [0, 1, 1, 0, 0, 0]),  // short BEGIN
            Self.record(1, [0, 1, 1, 0, 0, 0, 0, 0], padding: 8) + Array(Self.request.dropFirst(16)),  // padded BEGIN
            Self.begin + Self.record(4, id: 2, Self.params) + Self.record(4, []),  // params for another id
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
