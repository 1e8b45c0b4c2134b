import Glibc
import SystemCalls
import Upsign

/// Parses configuration text in a child process, so that a parser that aborts (see
/// `ConfigurationLoader`) ends the child, not the worker. The child reads the text on its stdin
/// and exits when done; only how it ended matters.
public struct ConfigurationProbe: Sendable {
    /// The hidden subcommand that is the child's side (`parseStandardInput`).
    public static let subcommand = "_parse-probe"
    /// This very executable (`/proc/self/exe`) running `upsign _parse-probe`.
    public static let selfExecutable = ConfigurationProbe(executable: "/proc/self/exe", arguments: ["upsign", subcommand])

    /// The program started as the child.
    public let executable: String
    /// Its arguments, the first being its name (`argv[0]`).
    public let arguments: [String]
    /// How long the child may take before it is killed and the text refused.
    public let timeoutSeconds: Int

    /// Creates a probe that runs `executable` with `arguments` (`argv`, its name first).
    public init(executable: String, arguments: [String], timeoutSeconds: Int = 10) {
        self.executable = executable
        self.arguments = arguments
        self.timeoutSeconds = timeoutSeconds
    }

    /// Parses `text` in a child process; nil when the child finished (whatever it thought of the
    /// text), else how it died. A child that cannot be started is reported too: a worker that
    /// cannot check a new file must not parse it in-process.
    public func check(_ text: String) -> String? {
        // Close-on-exec from the start: the child gets the read end only as its stdin (dup2
        // clears the flag), and no process another thread spawns gets either end.
        guard let input = FD.closeOnExecPipe() else { return "pipe: \(String(cString: strerror(errno)))" }
        let (readEnd, writeEnd) = input
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // The child's stdout is a pipe whose only write end it holds: its exit is this pipe's
        // end-of-file, which `poll` waits for without polling the child's status.
        guard let exitChannel = FD.closeOnExecPipe() else {
            close(readEnd)
            close(writeEnd)
            return "pipe: \(String(cString: strerror(errno)))"
        }
        let (exitRead, exitWrite) = exitChannel
        defer { close(exitRead) }
        posix_spawn_file_actions_adddup2(&actions, readEnd, 0)
        posix_spawn_file_actions_adddup2(&actions, exitWrite, 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The worker blocks its shutdown signals; the child starts with none blocked.
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))

        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, &argv, environ)
        close(readEnd)
        close(exitWrite)
        guard spawned == 0 else {
            close(writeEnd)
            return "cannot start the check: \(String(cString: strerror(spawned)))"
        }
        // A child that died early closes the pipe: the write then fails with EPIPE instead of
        // killing this process (`serve` ignores SIGPIPE from the start; the CLI commands too).
        signal(SIGPIPE, SIG_IGN)
        // A child that exits early leaves the rest unwritten: its exit is what is reported.
        _ = FD.writeAll(writeEnd, Array(text.utf8))
        close(writeEnd)

        // Wait for the child's exit (its stdout closing), at most `timeoutSeconds`.
        var deadline = timeoutSeconds * 1000
        var exited = false
        var scratch = [UInt8](repeating: 0, count: 256)
        while deadline > 0 {
            var p = pollfd(fd: exitRead, events: Int16(POLLIN), revents: 0)
            let started = Runtime.monotonicNanoseconds()
            let ready = poll(&p, 1, Int32(deadline))
            deadline -= Int((Runtime.monotonicNanoseconds() - started) / 1_000_000)
            if ready < 0 && errno != EINTR { break }
            if ready > 0 {
                // End of file once the child is gone (it writes nothing; anything is discarded).
                let n = scratch.withUnsafeMutableBytes { read(exitRead, $0.baseAddress, $0.count) }
                if n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN) {
                    exited = true
                    break
                }
            }
        }
        var status: Int32 = 0
        if !exited {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            return "the check did not finish in \(timeoutSeconds) s"
        }
        let waited = FD.retrying { waitpid(pid, &status, 0) }
        if waited < 0 { return "waitpid: \(String(cString: strerror(errno)))" }
        let signal = status & 0x7f
        if signal != 0 { return "the check died of signal \(signal)" }
        let code = (status >> 8) & 0xff
        return code == 0 ? nil : "the check exited \(code)"
    }

    /// The child's side (`upsign _parse-probe`): parses the configuration text on stdin (at most
    /// a little over 1 MiB is read) and returns whatever the verdict; only a crash shows.
    public static func parseStandardInput() {
        // The parent sends at most 1 MiB (`Configuration.text`); more is not a configuration.
        let bytes = (try? FD.readAll(0, limit: 2 << 20).get()) ?? []
        _ = try? Configuration.parse(toml: String(decoding: bytes, as: UTF8.self))
    }
}
