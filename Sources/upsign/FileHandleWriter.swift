import Glibc

/// Unbuffered writes to stdout and stderr.
enum FileHandleWriter {
    static func stdout(_ s: String) { write(1, s) }
    static func stderr(_ s: String) { write(2, s) }
    private static func write(_ fd: Int32, _ s: String) {
        var bytes = Array(s.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            bytes = bytes.dropFirst(n)
        }
    }
}
