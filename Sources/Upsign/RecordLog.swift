import Crypto
import Glibc
import Synchronization
import SystemCalls

/// An append-only JSON-lines file of verified uploads. Each record is written whole or not at
/// all (a short write is cut back off), records from concurrent requests never interleave, and a
/// record is on disk (`fsync`) before the request that wrote it is answered.
///
/// Exactly once: a record whose upload (everything but its `time`) is among the last
/// `rememberedUploads` records is not written again. nginx resends a callback on a new
/// connection when upsign restarts under it, so the same upload can arrive twice, also across a
/// restart: the file's tail is read back when it is first opened.
public final class RecordLog: Sendable {
    /// Why a record could not be written.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// The system's reason.
        public let description: String
    }

    /// What `append` did.
    public enum Outcome: Sendable, Equatable {
        /// The record was written and is on disk.
        case recorded
        /// The same upload was recorded before (and is on disk); nothing was written.
        case alreadyRecorded
    }

    /// How many recent uploads are remembered: a resent callback arrives seconds after the
    /// first (nginx resends at once; OSS itself never retries), so this covers any resend while
    /// bounding memory (16 bytes each) and the tail read at start.
    public static let rememberedUploads = 65_536

    /// The file's path.
    public let path: String
    /// How many recent uploads this log remembers.
    public let remembering: Int
    private let state = Mutex<State>(State())

    private struct State {
        var fd: Int32 = -1
        /// Digests of the remembered uploads, and the same in arrival order (oldest first) to
        /// forget the oldest.
        var seen: Set<UploadDigest> = []
        var order: [UploadDigest] = []
        var next = 0
    }

    /// The first 16 bytes of SHA-256 over a record without its time.
    struct UploadDigest: Hashable, Sendable {
        let high: UInt64
        let low: UInt64

        init(_ upload: some Collection<UInt8>) {
            let d = Digest.sha256(Array(upload))
            var h: UInt64 = 0
            var l: UInt64 = 0
            for i in 0..<8 { h = h << 8 | UInt64(d[i]) }
            for i in 8..<16 { l = l << 8 | UInt64(d[i]) }
            high = h
            low = l
        }
    }

    /// A log appending to `path` (opened on first use, created with mode 0640), remembering the
    /// last `remembering` uploads.
    public init(path: String, remembering: Int = rememberedUploads) {
        self.path = path
        self.remembering = max(1, remembering)
    }

    deinit {
        let f = state.withLock { $0.fd }
        if f >= 0 { close(f) }
    }

    /// The part of a record line that names the upload: everything before its trailing
    /// `,"time":` member (`Application.record` writes `time` last).
    static func upload(of line: some Collection<UInt8>) -> ArraySlice<UInt8> {
        let bytes = Array(line)
        let marker = Array(#","time":"#.utf8)
        var i = bytes.count - marker.count
        while i >= 0 {
            if bytes[i] == marker[0] && bytes[i..<(i + marker.count)].elementsEqual(marker) { return bytes[..<i] }
            i -= 1
        }
        return bytes[...]
    }
    /// Appends `line` and a newline unless the same upload was recorded before, then waits for
    /// the file to reach the disk.
    public func append(_ line: [UInt8]) -> Result<Outcome, Failure> {
        let digest = UploadDigest(Self.upload(of: line))
        var bytes = line
        bytes.append(0x0A)
        let written: Result<(Int32, Outcome), Failure> = state.withLock { state in
            if state.fd < 0 {
                state.fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
                if state.fd < 0 { return .failure(Failure(description: "\(path): \(String(cString: strerror(errno)))")) }
                for upload in Self.tailUploads(state.fd, count: remembering) { Self.remember(UploadDigest(upload), in: &state, bound: remembering) }
            }
            if state.seen.contains(digest) { return .success((state.fd, .alreadyRecorded)) }
            let fd = state.fd
            let start = lseek(fd, 0, SEEK_END)
            guard FD.writeAll(fd, bytes) else {
                let reason = String(cString: strerror(errno))
                // Whole or not at all: cut a partial record back off.
                if start >= 0 { _ = ftruncate(fd, start) }
                return .failure(Failure(description: "\(path): \(reason)"))
            }
            Self.remember(digest, in: &state, bound: remembering)
            return .success((fd, .recorded))
        }
        switch written {
        case .failure(let e): return .failure(e)
        case .success(let (f, outcome)):
            // Outside the lock: concurrent requests' fsyncs overlap, and the kernel merges them.
            // A repeat waits too, so its answer never runs ahead of the first record's disk write.
            guard fsync(f) == 0 else { return .failure(Failure(description: "\(path): fsync: \(String(cString: strerror(errno)))")) }
            return .success(outcome)
        }
    }

    private static func remember(_ digest: UploadDigest, in state: inout State, bound: Int) {
        guard state.seen.insert(digest).inserted else { return }
        if state.order.count < bound {
            state.order.append(digest)
        } else {
            state.seen.remove(state.order[state.next])
            state.order[state.next] = digest
            state.next = (state.next + 1) % bound
        }
    }

    /// The uploads of the file's last whole lines, at most `count` of them (read from its last
    /// 32 MiB: far more than `rememberedUploads` records).
    private static func tailUploads(_ fd: Int32, count: Int) -> [ArraySlice<UInt8>] {
        let end = lseek(fd, 0, SEEK_END)
        guard end > 0 else { return [] }
        let start = max(0, end - 32 << 20)
        var bytes = [UInt8](repeating: 0, count: Int(end - start))
        let done = bytes.withUnsafeMutableBytes { FD.read(fd, at: start, into: $0) }
        var lines = bytes[..<done].split(separator: 0x0A, omittingEmptySubsequences: true)
        if start > 0 { lines = Array(lines.dropFirst()) }  // the first one is cut
        return lines.suffix(count).map { upload(of: $0) }
    }
}
