import Foundation
import Glibc
import Testing
import Upsign
import UpsignService

/// The loader parses new text in a child first: a child that does not finish well refuses the
/// file, which is then never parsed in the worker.
struct ConfigurationLoaderTests {
    @Test func aConfigurationTheProbeSurvivesLoads() throws {
        let dir = try ScratchDirectory()
        let path = try dir.write("upsign.toml", ServiceFixture.toml)
        let configuration = try ConfigurationLoader(probe: ServiceFixture.survivingProbe).load(path: path)
        #expect(configuration.profiles.keys.sorted() == ["avatar", "doc"])
    }

    @Test func aConfigurationWhoseProbeDiesIsReportedAsTheFilesProblem() throws {
        let dir = try ScratchDirectory()
        let path = try dir.write("upsign.toml", ServiceFixture.toml)
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader(probe: ServiceFixture.crashingProbe).load(path: path)
        }
        #expect(error?.problems.map(\.path) == ["file"])
        #expect(error?.problems.first?.message == "\(path): not valid TOML (the TOML parser gave up on it: the check died of signal 9)")
    }

    @Test func aProbeThatExitsWithAnErrorIsReported() throws {
        let dir = try ScratchDirectory()
        let path = try dir.write("upsign.toml", ServiceFixture.toml)
        let probe = ConfigurationProbe(executable: "/bin/sh", arguments: ["sh", "-c", "cat > /dev/null; exit 3"])
        let error = #expect(throws: ConfigurationError.self) { try ConfigurationLoader(probe: probe).load(path: path) }
        #expect(error?.problems.first?.message.hasSuffix("(the TOML parser gave up on it: the check exited 3)") == true)
    }

    @Test func aProbeThatCannotStartRefusesTheFile() throws {
        let dir = try ScratchDirectory()
        let path = try dir.write("upsign.toml", ServiceFixture.toml)
        let probe = ConfigurationProbe(executable: "\(dir.path)/no-such-program", arguments: ["no-such-program"])
        let error = #expect(throws: ConfigurationError.self) { try ConfigurationLoader(probe: probe).load(path: path) }
        #expect(error?.problems.first?.message.contains("the TOML parser gave up on it: cannot start the check") == true)
    }

    @Test func aProbeThatDoesNotFinishInTimeIsKilledAndReported() throws {
        let dir = try ScratchDirectory()
        let path = try dir.write("upsign.toml", ServiceFixture.toml)
        let probe = ConfigurationProbe(executable: "/bin/sh", arguments: ["sh", "-c", "exec sleep 30"], timeoutSeconds: 1)
        let error = #expect(throws: ConfigurationError.self) { try ConfigurationLoader(probe: probe).load(path: path) }
        #expect(error?.problems.first?.message.hasSuffix("(the TOML parser gave up on it: the check did not finish in 1 s)") == true)
    }

    @Test func textAProbeSurvivedIsNotProbedAgainButNewTextIs() throws {
        let dir = try ScratchDirectory()
        let path = try dir.write("upsign.toml", ServiceFixture.toml)
        let runs = "\(dir.path)/runs"
        // Each run of the child appends a line to `runs`.
        let loader = ConfigurationLoader(
            probe: ConfigurationProbe(
                executable: "/bin/sh", arguments: ["sh", "-c", "cat > /dev/null; echo run >> \"$0\"", runs]))
        _ = try loader.load(path: path)
        _ = try loader.load(path: path)
        #expect(try String(contentsOfFile: runs, encoding: .utf8) == "run\n")
        try dir.write("upsign.toml", ServiceFixture.toml + "# changed\n")
        _ = try loader.load(path: path)
        #expect(try String(contentsOfFile: runs, encoding: .utf8) == "run\nrun\n")
    }

    @Test func anUnisolatedLoadStartsNoProbe() throws {
        let dir = try ScratchDirectory()
        let path = try dir.write("upsign.toml", ServiceFixture.toml)
        let configuration = try ConfigurationLoader(probe: ServiceFixture.crashingProbe).load(path: path, isolated: false)
        #expect(configuration.profiles.count == 2)
    }

    @Test func aConfigurationWithProblemsIsReportedWithThem() throws {
        let dir = try ScratchDirectory()
        let path = try dir.write("upsign.toml", "[profiles.avatar]\nregion = \"cn-hangzhou\"\n")
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader(probe: ServiceFixture.survivingProbe).load(path: path)
        }
        #expect(error?.problems.map(\.path).contains("profiles.avatar.bucket") == true)
    }

    @Test func theProcessProbeIsThisExecutablesHiddenSubcommand() {
        #expect(ConfigurationProbe.selfExecutable.executable == "/proc/self/exe")
        #expect(ConfigurationProbe.selfExecutable.arguments == ["upsign", "_parse-probe"])
        #expect(ConfigurationProbe.selfExecutable.timeoutSeconds == 10)
        #expect(ConfigurationLoader.shared.probe.executable == "/proc/self/exe")
    }

    /// The `upsign` executable next to the test bundle, when the build made one.
    static let builtUpsign: String? = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let me = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // .build/<triple>/debug/upsignPackageTests.xctest, beside .build/<triple>/debug/upsign
        let candidate = me.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/") + "/upsign"
        return access(candidate, X_OK) == 0 ? candidate : nil
    }()

    @Test(.enabled(if: builtUpsign != nil, "needs the upsign executable beside the test bundle"))
    func aConfigurationThatAbortsTheTOMLParserIsReportedByTheRealProbe() throws {
        let upsign = try #require(Self.builtUpsign)
        let probe = ConfigurationProbe(executable: upsign, arguments: ["upsign", ConfigurationProbe.subcommand])
        let dir = try ScratchDirectory()
        // toml++ 3.4 fails an assertion on this (Fuzz/README.md): it would abort this process.
        let crashing = try dir.write("crash.toml", "[+a]\n")
        let error = #expect(throws: ConfigurationError.self) { try ConfigurationLoader(probe: probe).load(path: crashing) }
        #expect(error?.problems.first?.message.contains("the check died of signal") == true)
        let good = try dir.write("good.toml", ServiceFixture.toml)
        #expect(try ConfigurationLoader(probe: probe).load(path: good).profiles.count == 2)
    }
}
