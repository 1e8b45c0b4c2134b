import Glibc

/// Whole transfers on a file descriptor, with the one `EINTR` rule: a call a signal interrupted
/// is made again; any other failure, or the end of the file, ends the transfer.
public enum FD {
    /// Calls `call` again while it fails (-1) with `EINTR`; returns its first other result.
    @inlinable
    public static func retrying<T: BinaryInteger>(_ call: () -> T) -> T {
        while true {
            let n = call()
            if n == -1 && errno == EINTR { continue }
            return n
        }
    }

    /// Writes all of `bytes`; false when the descriptor fails first (`errno` says why). On a
    /// non-blocking descriptor a full buffer is such a failure.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = retrying { Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done) }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    /// Writes all of `bytes`; false when the descriptor fails first.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { writeAll(fd, $0) }
    }

    /// Reads exactly `count` bytes into `buffer`, or as many as `buffer` holds when that is
    /// fewer; false when the descriptor ends or fails first.
    public static func read(_ fd: Int32, exactly count: Int, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        let want = min(count, buffer.count)
        var done = 0
        while done < want {
            let n = retrying { Glibc.read(fd, buffer.baseAddress! + done, want - done) }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    /// Reads and drops exactly `count` bytes through `scratch`; false when the descriptor ends
    /// or fails first.
    public static func skip(_ fd: Int32, _ count: Int, scratch: UnsafeMutableRawBufferPointer) -> Bool {
        var left = count
        while left > 0 {
            let n = retrying { Glibc.read(fd, scratch.baseAddress, min(left, scratch.count)) }
            if n <= 0 { return false }
            left -= n
        }
        return true
    }

    /// A one-way channel whose two ends are close-on-exec from the moment they exist, so that
    /// a process another thread spawns meanwhile inherits neither (`pipe` then `fcntl` leaves a
    /// window; glibc's `pipe2` is not visible to Swift): a connected unix socket pair, each end
    /// shut down in the direction it does not carry. Nil with `errno` set on failure.
    public static func closeOnExecPipe() -> (read: Int32, write: Int32)? {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else { return nil }
        _ = shutdown(fds[0], Int32(SHUT_WR))
        _ = shutdown(fds[1], Int32(SHUT_RD))
        return (fds[0], fds[1])
    }

    /// Why a read failed: the `errno` value.
    public struct Failure: Error, Equatable, CustomStringConvertible {
        /// The `errno` value.
        public let code: Int32
        /// The failure with `errno` value `code`.
        public init(code: Int32) { self.code = code }
        /// `strerror`'s sentence.
        public var description: String { String(cString: strerror(code)) }
    }

    /// Reads to the end of the descriptor, at most `limit` bytes (more is a failure, `EFBIG`).
    public static func readAll(_ fd: Int32, limit: Int) -> Result<[UInt8], Failure> {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let n = chunk.withUnsafeMutableBytes { c in retrying { Glibc.read(fd, c.baseAddress, c.count) } }
            if n < 0 { return .failure(Failure(code: errno)) }
            if n == 0 { return .success(out) }
            guard out.count + n <= limit else { return .failure(Failure(code: EFBIG)) }
            out.append(contentsOf: chunk[..<n])
        }
    }

    /// Reads from `offset` into `buffer` until it is full or the file ends; returns how many
    /// bytes were read (fewer at the end of the file or on a failure).
    public static func read(_ fd: Int32, at offset: off_t, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        var done = 0
        while done < buffer.count {
            let n = retrying { pread(fd, buffer.baseAddress! + done, buffer.count - done, offset + off_t(done)) }
            if n <= 0 { break }
            done += n
        }
        return done
    }
}
