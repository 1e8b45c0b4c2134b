import Glibc

/// A private temporary folder for the files a target's configuration names (credentials files,
/// a public key), made once per process and removed when it exits normally. Paths that come from
/// fuzzed input are mapped into it, so no input reads or writes anywhere else.
public final class Sandbox: @unchecked Sendable {
    /// The folder, without a trailing slash.
    public let path: String
    private var files: [String] = []

    nonisolated(unsafe) private static var all: [Sandbox] = []

    /// Makes the folder under `$TMPDIR` (default `/tmp`), or when `memory` is true under
    /// `$UPSIGN_FUZZ_SHM` (default `/dev/shm`, where `fsync` costs nothing). Fuzz/run.sh points
    /// both into folders it removes, as a crashing run exits without removing its sandboxes.
    public init(memory: Bool = false) {
        func env(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
        let base = memory ? (env("UPSIGN_FUZZ_SHM") ?? "/dev/shm") : (env("TMPDIR") ?? "/tmp")
        var template = Array("\(base)/upsign-fuzz.XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else {
            FuzzSink.say("fuzz: cannot make a temporary folder under \(base)\n")
            exit(2)
        }
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        if Self.all.isEmpty {
            atexit {
                for s in Sandbox.all { s.remove() }
            }
        }
        Self.all.append(self)
    }

    /// Writes `text` to the file `name` with `mode`; returns its path.
    @discardableResult
    public func write(_ name: String, _ text: String, mode: mode_t = 0o600) -> String {
        let file = "\(path)/\(name)"
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else {
            FuzzSink.say("fuzz: cannot write \(file)\n")
            exit(2)
        }
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        fchmod(fd, mode)
        close(fd)
        if !files.contains(file) { files.append(file) }
        return file
    }

    /// A path inside the folder for any `path`: its last component (at most 64 bytes), so inputs
    /// can name the folder's files, and everything else names a file that does not exist.
    public func map(_ path: String) -> String {
        let last = path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? ""
        let safe = last.utf8.count <= 64 && !last.isEmpty && last != "." && last != ".." ? last : "missing"
        return "\(self.path)/\(safe)"
    }

    /// Removes the files in the folder (it has no subfolders) and the folder.
    public func remove() {
        for f in files { unlink(f) }
        if let dir = opendir(path) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
                }
                if name != "." && name != ".." { unlink("\(path)/\(name)") }
            }
            closedir(dir)
        }
        rmdir(path)
    }
}
