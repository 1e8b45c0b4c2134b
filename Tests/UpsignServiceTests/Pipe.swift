import Glibc

/// A pipe for standing in for a CGI program's stdin or stdout; both ends closed when it goes away.
final class Pipe {
    /// The end read from, and the end written to (-1 once closed).
    private(set) var readEnd: Int32
    private(set) var writeEnd: Int32

    init() {
        var fds: [Int32] = [-1, -1]
        precondition(pipe(&fds) == 0, "pipe")
        (readEnd, writeEnd) = (fds[0], fds[1])
    }

    deinit {
        closeRead()
        closeWrite()
    }

    /// Writes all of `bytes` (they must fit in the pipe's buffer), then closes the write end.
    func writeAndClose(_ bytes: [UInt8]) {
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { write(writeEnd, $0.baseAddress, $0.count) }
            precondition(n > 0, "write")
            done += n
        }
        closeWrite()
    }

    /// Everything left to read, up to end of file (the write end must be closed).
    func readAll() -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return out }
            out += chunk[..<n]
        }
    }

    func closeRead() {
        if readEnd >= 0 { close(readEnd) }
        readEnd = -1
    }

    func closeWrite() {
        if writeEnd >= 0 { close(writeEnd) }
        writeEnd = -1
    }
}
