import Glibc
import SystemCalls

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
        let out: [UInt8]
        switch FD.readAll(fd, limit: limit) {
        case .success(let bytes): out = bytes
        case .failure(let e) where e.code == EFBIG: throw Failure(description: "larger than \(limit) bytes")
        case .failure(let e): throw Failure(description: e.description)
        }
        guard let text = String(validating: out, as: UTF8.self) else { throw Failure(description: "not UTF-8 text") }
        return text
    }
}
