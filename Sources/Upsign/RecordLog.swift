import Glibc
import Synchronization

/// An append-only JSON-lines file of verified uploads. Each record is written whole or not at
/// all (a short write is cut back off), records from concurrent requests never interleave, and a
/// record is on disk (`fsync`) before the request that wrote it is answered.
public final class RecordLog: Sendable {
    /// Why a record could not be written.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// The system's reason.
        public let description: String
    }

    /// The file's path.
    public let path: String
    private let fd = Mutex<Int32>(-1)

    /// A log appending to `path` (opened on first use, created with mode 0640).
    public init(path: String) { self.path = path }

    deinit {
        let f = fd.withLock { $0 }
        if f >= 0 { close(f) }
    }

    /// Appends `line` and a newline, then waits for it to reach the disk.
    public func append(_ line: [UInt8]) -> Result<Void, Failure> {
        var bytes = line
        bytes.append(0x0A)
        let written: Result<Int32, Failure> = fd.withLock { fd in
            if fd < 0 {
                fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
                if fd < 0 { return .failure(Failure(description: "\(path): \(String(cString: strerror(errno)))")) }
            }
            let start = lseek(fd, 0, SEEK_END)
            var done = 0
            while done < bytes.count {
                let n = bytes[done...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    let reason = String(cString: strerror(errno))
                    // Whole or not at all: cut a partial record back off.
                    if start >= 0 { _ = ftruncate(fd, start) }
                    return .failure(Failure(description: "\(path): \(reason)"))
                }
                done += n
            }
            return .success(fd)
        }
        switch written {
        case .failure(let e): return .failure(e)
        case .success(let f):
            // Outside the lock: concurrent requests' fsyncs overlap, and the kernel merges them.
            guard fsync(f) == 0 else { return .failure(Failure(description: "\(path): fsync: \(String(cString: strerror(errno)))")) }
            return .success(())
        }
    }
}
