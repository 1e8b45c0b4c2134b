import CFastCGI
import Glibc

/// Whole reads and writes on a descriptor, retried on `EINTR`: the one place the FastCGI layer
/// loops over short transfers.
enum Descriptor {
    /// Reads exactly `count` bytes into `buffer` (bytes known to be there: they were peeked);
    /// false when the descriptor ends or fails first.
    static func read(_ fd: Int32, exactly count: Int, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        var done = 0
        while done < count {
            let n = Glibc.read(fd, buffer.baseAddress! + done, min(count - done, buffer.count - done))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    /// Reads and drops exactly `count` bytes (known to be there), through `scratch`.
    static func skip(_ fd: Int32, _ count: Int, scratch: UnsafeMutableRawBufferPointer) -> Bool {
        var left = count
        while left > 0 {
            let n = Glibc.read(fd, scratch.baseAddress, min(left, scratch.count))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            left -= n
        }
        return true
    }

    /// Writes all of `bytes`. On a non-blocking socket a full send buffer fails the write (a
    /// peer that does not read); SIGPIPE is ignored process-wide, so a closed peer is an error.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }
}
