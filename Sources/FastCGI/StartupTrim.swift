import CFastCGI
import Glibc
import SystemCalls

/// Gives back the memory only start-up used. Reading the configuration (TOMLKit and Foundation),
/// parsing arguments and loading libraries touch code and read-only data that no request needs
/// again, and those pages stay resident. A few seconds after start, one thread asks the kernel to
/// reclaim the process's read-only file-backed pages (`MADV_PAGEOUT`, Linux 5.4+); requests then
/// fault back in only what they use. Pages are clean copies of files, so nothing is lost; pages
/// another process also maps are left alone by the kernel. `Benchmarks/stack.sh` and
/// `Benchmarks/soak.sh` report the resident memory under load (docs/BENCHMARK.md).
public enum StartupTrim {

    /// Starts a detached thread that trims once, `delay` seconds from now.
    public static func schedule(afterSeconds delay: UInt32 = 3) {
        Threads.startDetached {
            sleep(delay)
            trimNow()
        }
    }

    /// Advises `MADV_PAGEOUT` on every mapping of `/proc/self/maps` that is backed by a file and
    /// not writable; returns how many mappings were advised (0 where the kernel lacks the advice).
    @discardableResult
    public static func trimNow() -> Int {
        guard let maps = fopen("/proc/self/maps", "r") else { return 0 }
        defer { fclose(maps) }
        var advised = 0
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        while getline(&line, &capacity, maps) > 0, let line {
            guard let mapping = Mapping(String(cString: line)), mapping.isReadOnlyFile else { continue }
            if madvise(UnsafeMutableRawPointer(bitPattern: mapping.start), Int(mapping.end - mapping.start), upsign_MADV_PAGEOUT) == 0 {
                advised += 1
            }
        }
        free(line)
        return advised
    }

    /// One line of `/proc/self/maps`: `start-end perms offset dev inode [path]`.
    public struct Mapping: Sendable, Equatable {
        /// The first address.
        public let start: UInt
        /// The address after the last.
        public let end: UInt
        /// `r-xp` and the like.
        public let permissions: Substring
        /// The file, `[heap]`, `[stack]`, or nil for anonymous memory.
        public let path: Substring?

        /// Parses one line; nil when it is not a mapping line.
        public init?(_ line: String) {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 5 else { return nil }
            let range = parts[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16), start < end else {
                return nil
            }
            self.start = start
            self.end = end
            permissions = parts[1]
            path = parts.count >= 6 ? parts[5].split(separator: "\n").first : nil
        }

        /// Code or read-only data of a file (the binary, a shared library, a locale file).
        public var isReadOnlyFile: Bool { !permissions.contains("w") && path?.first == "/" }
    }
}
