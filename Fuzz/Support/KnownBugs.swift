import Glibc

/// Bugs already reported and not yet fixed, which the fuzz targets step past so they can look for
/// others: now the toml++ assertions that abort upsign on malformed TOML (Fuzz/toml_assert.h). `UPSIGN_FUZZ_KNOWN_BUGS=crash` makes them crash as production does (`Fuzz/run.sh
/// --known` replays the committed regression seeds that way, to show whether a bug is still
/// there). Remove an entry once its fix lands.
public enum KnownBugs {
    /// False when UPSIGN_FUZZ_KNOWN_BUGS=crash.
    public static let bypassed: Bool = {
        guard let v = getenv("UPSIGN_FUZZ_KNOWN_BUGS") else { return true }
        return String(cString: v) != "crash"
    }()

    static func registerReport() {
        guard !reporting else { return }
        reporting = true
        atexit {
            var text = ""
            for (site, n) in KnownBugs.tomlAssertions.sorted(by: { $0.key < $1.key }) {
                text +=
                    "KNOWN BUG (bypassed) \(n)x: toml++ assertion that aborts the parser (upsign: only its probe child; ConfigurationLoader): \(site)\n"
            }
            if !text.isEmpty { FuzzSink.say(text) }
        }
    }

    nonisolated(unsafe) static var tomlAssertions: [String: Int] = [:]
    nonisolated(unsafe) static var reporting = false

    /// Notes one bypassed toml++ assertion (see Fuzz/toml_assert.h).
    static func tomlAssertion(_ expression: String, _ file: String, _ line: UInt32) {
        let site = "\(file.split(separator: "/").last ?? ""):\(line): \(expression)"
        if !bypassed {
            FuzzSink.say("\(file):\(line): toml++ assertion `\(expression)' failed (known bug: production aborts here)\n")
            abort()
        }
        tomlAssertions[site, default: 0] += 1
        registerReport()
    }
}

/// toml++'s assertions in the fuzz build (Fuzz/toml_assert.h).
@_cdecl("upsign_fuzz_assertion")
public func upsignFuzzAssertion(_ expression: UnsafePointer<CChar>, _ file: UnsafePointer<CChar>, _ line: UInt32) {
    KnownBugs.tomlAssertion(String(cString: expression), String(cString: file), line)
}
