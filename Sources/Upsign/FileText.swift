import Glibc

/// Reading small text files (configuration, credentials) without Foundation.
enum FileText {
    /// Why a file could not be read.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The file's mode bits and owner, from `stat(2)`.
    static func mode(_ path: String) throws(Failure) -> mode_t {
        var st = stat()
        guard stat(path, &st) == 0 else { throw Failure(description: String(cString: strerror(errno))) }
        return st.st_mode
    }

    /// Reads the whole file as UTF-8, refusing files over `limit` bytes.
    static func read(_ path: String, limit: Int) throws(Failure) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: String(cString: strerror(errno))) }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(description: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[..<n])
            if out.count > limit { throw Failure(description: "larger than \(limit) bytes") }
        }
        guard let text = String(validating: out, as: UTF8.self) else { throw Failure(description: "not UTF-8 text") }
        return text
    }
}
