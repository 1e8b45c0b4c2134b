import Foundation
import Testing

@testable import Upsign

/// Exactly once: a resent callback of an upload already recorded writes nothing, also after a
/// restart; only the last `remembering` uploads are remembered.
struct RecordLogTests {
    func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("upsign-records-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent("uploads.jsonl").path
    }

    func line(_ key: String, etag: String = "E1", time: String = "2026-01-02T03:04:05.000Z") -> [UInt8] {
        Array(#"{"bucket":"b","key":"\#(key)","size":1,"mimeType":"image/png","etag":"\#(etag)","user":"alice","time":"\#(time)"}"#.utf8)
    }

    func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    @Test func aRepeatedUploadIsRecordedOnceWhateverItsTime() throws {
        let path = try scratch()
        let log = RecordLog(path: path)
        #expect(try log.append(line("a.png")).get() == .recorded)
        #expect(try log.append(line("a.png", time: "2026-01-02T03:04:09.000Z")).get() == .alreadyRecorded)
        // Another object, or the same key uploaded again with other content, is a new upload.
        #expect(try log.append(line("b.png")).get() == .recorded)
        #expect(try log.append(line("a.png", etag: "E2")).get() == .recorded)
        #expect(try lines(path).count == 3)
    }

    @Test func aRestartRemembersWhatTheFileHolds() throws {
        let path = try scratch()
        #expect(try RecordLog(path: path).append(line("a.png")).get() == .recorded)
        let after = RecordLog(path: path)
        #expect(try after.append(line("a.png", time: "2026-01-02T04:00:00.000Z")).get() == .alreadyRecorded)
        #expect(try after.append(line("c.png")).get() == .recorded)
        #expect(try lines(path).count == 2)
    }

    @Test func onlyTheLastUploadsAreRemembered() throws {
        let path = try scratch()
        let log = RecordLog(path: path, remembering: 3)
        for key in ["1", "2", "3", "4"] { #expect(try log.append(line(key)).get() == .recorded) }
        #expect(try log.append(line("4")).get() == .alreadyRecorded)
        #expect(try log.append(line("2")).get() == .alreadyRecorded)
        #expect(try log.append(line("1")).get() == .recorded)  // forgotten: the oldest of four
        let restarted = RecordLog(path: path, remembering: 3)
        #expect(try restarted.append(line("1")).get() == .alreadyRecorded)
        #expect(try restarted.append(line("2")).get() == .recorded)  // the file's last three: 3, 4, 1
    }

    @Test func theUploadIsTheRecordWithoutItsTime() {
        #expect(
            String(decoding: RecordLog.upload(of: line("k")), as: UTF8.self)
                == #"{"bucket":"b","key":"k","size":1,"mimeType":"image/png","etag":"E1","user":"alice""#)
    }
}
