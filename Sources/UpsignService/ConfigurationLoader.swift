import Crypto
import Synchronization
import Upsign

/// Loads the configuration so that no file can take the process down.
///
/// TOMLKit's parser (toml++ 3.4) stops on some malformed TOML with a failed `assert`, which
/// aborts the whole process, in release builds too (`[+a]`, `a = [1, }]`; found by
/// `Fuzz/run.sh`). A worker must survive a bad file on SIGHUP, so the text is first parsed in a
/// child process (`ConfigurationProbe`: `upsign _parse-probe`, the same binary through
/// `/proc/self/exe`, reading the text on stdin); only text the child survived is parsed here.
/// The same text is parsed both times: the file is read once. Text a child already survived is
/// not probed again, so a SIGHUP that only rereads credentials costs no process.
public final class ConfigurationLoader: Sendable {
    /// The process's loader, probing with this executable's `_parse-probe`: the one `serve`,
    /// `sign`, `check-config` and every reload use, so what a probe survived is remembered once.
    public static let shared = ConfigurationLoader()

    /// The child process that parses text first.
    public let probe: ConfigurationProbe
    /// The SHA-256 of the last text a probe survived.
    private let survived = Mutex<[UInt8]>([])

    /// Creates a loader whose texts `probe` checks first.
    public init(probe: ConfigurationProbe = .selfExecutable) {
        self.probe = probe
    }

    /// Reads and parses the configuration at `path`. `isolated: false` skips the child: for a
    /// process that answers one CGI request and exits, whose crash ends only that request.
    public func load(path: String, isolated: Bool = true) throws(ConfigurationError) -> Configuration {
        let text = try Configuration.text(path: path)
        if isolated {
            let digest = Digest.sha256(text)
            if survived.withLock({ $0 != digest }) {
                if let crash = probe.check(text) {
                    throw ConfigurationError(problems: [
                        .init(path: "file", message: "\(path): not valid TOML (the TOML parser gave up on it: \(crash))")
                    ])
                }
                survived.withLock { $0 = digest }
            }
        }
        return try Configuration.parse(toml: text)
    }
}
