import Foundation
import Logging
import PerThread
import Testing
import Upsign
import UpsignService

/// SIGHUP's decision: what replaces the running application, what it keeps, and what it warns about.
struct ConfigurationReloadTests {
    /// A running application from `toml`, the file it came from, and the log both write to.
    struct Running {
        let dir: ScratchDirectory
        let path: String
        let application: Reloadable<Application>
        let log = CapturedLog()

        init(_ toml: String = ServiceFixture.toml) throws {
            dir = try ScratchDirectory()
            path = try dir.write("upsign.toml", toml)
            let configuration = try Configuration.parse(toml: toml)
            let logger = log.logger
            let credentials = LiveApplication.loadCredentials(configuration, logger: logger, environment: ServiceFixture.environment)
            application = Reloadable(
                try LiveApplication.make(
                    configuration, credentials: credentials, metrics: nil, logger: logger, environment: ServiceFixture.environment))
        }

        /// Rewrites the file with `toml` and reloads it, as SIGHUP does.
        func reload(_ toml: String, probe: ConfigurationProbe = ServiceFixture.survivingProbe) throws -> Bool {
            try dir.write("upsign.toml", toml)
            return ConfigurationReload.reload(
                application, path: path, metrics: nil, logger: log.logger,
                loader: ConfigurationLoader(probe: probe), environment: ServiceFixture.environment)
        }
    }

    static let withThirdProfile =
        ServiceFixture.toml + """

            [profiles.video]
            bucket = "examplebucket"
            region = "cn-hangzhou"
            key = "videos/{user}/{uuid}{ext}"

            """

    @Test func aReloadWithABadConfigurationKeepsTheRunningOne() throws {
        let running = try Running()
        let before = running.application.current
        #expect(try !running.reload("[profiles.avatar]\nregion = \"cn-hangzhou\"\n"))
        let after = running.application.current
        #expect(after.configuration.profiles.keys.sorted() == ["avatar", "doc"])
        #expect(after.credentials === before.credentials && after.relay === before.relay)
        let refusals = running.log.all.filter { $0.message == "configuration reload refused; the running configuration stays" }
        #expect(refusals.map { $0.metadata["config.field"] }.contains("profiles.avatar.bucket"))
        #expect(refusals.allSatisfy { $0.level == .error })
    }

    @Test func aReloadOfAFileTheProbeDoesNotSurviveKeepsTheRunningOne() throws {
        let running = try Running()
        #expect(try !running.reload(Self.withThirdProfile, probe: ServiceFixture.crashingProbe))
        #expect(running.application.current.configuration.profiles.count == 2)
        #expect(running.log.all.contains { $0.metadata["config.field"] == "file" })
    }

    @Test func aReloadWhoseCallbackFilesAreUnusableKeepsTheRunningOne() throws {
        let running = try Running()
        let unreadable = ServiceFixture.toml.replacingOccurrences(
            of: "[callback]\n", with: "[callback]\nca_file = \"\(running.dir.path)/missing-ca.pem\"\n")
        #expect(try !running.reload(unreadable))
        #expect(running.application.current.configuration.callback.caFile == nil)
        #expect(running.log.messages(at: .critical) == ["configuration error"])
        #expect(running.log.messages(at: .error) == ["configuration reload refused; the running configuration stays"])
    }

    @Test func aGoodReloadReplacesTheApplication() throws {
        let running = try Running()
        #expect(try running.reload(Self.withThirdProfile))
        #expect(running.application.current.configuration.profiles.keys.sorted() == ["avatar", "doc", "video"])
        let reloaded = try #require(running.log.all.last { $0.message == "configuration reloaded" })
        #expect(reloaded.level == .notice && reloaded.metadata["profiles"] == "avatar,doc,video")
    }

    @Test(arguments: ["max_body = 64\nthreads = 8", "max_body = 64\nmax_connections = 100", "max_body = 64\nrequest_timeout = 5", "max_body = 4096"])
    func aReloadThatChangesServerLimitsWarnsTheyTakeEffectAtTheNextRestart(_ settings: String) throws {
        let running = try Running()
        let changed = ServiceFixture.toml.replacingOccurrences(of: "[server]\nmax_body = 64\n", with: "[server]\n\(settings)\n")
        #expect(try running.reload(changed))
        #expect(
            running.log.messages(at: .warning) == ["server.threads, max_connections, request_timeout and max_body take effect at the next restart"])
    }

    @Test func aReloadThatKeepsTheServerLimitsDoesNotWarn() throws {
        let running = try Running()
        #expect(try running.reload(Self.withThirdProfile))
        #expect(running.log.messages(at: .warning).isEmpty)
    }

    @Test func aReloadThatKeepsTheForwardTargetKeepsTheRunningRelay() throws {
        let running = try Running()
        let relay = try #require(running.application.current.relay)
        #expect(try running.reload(Self.withThirdProfile))
        #expect(running.application.current.relay === relay)
    }

    @Test(arguments: [
        ("forward = \"http://127.0.0.1:8000/uploads\"", "forward = \"http://127.0.0.1:8001/uploads\""),
        ("forward = \"http://127.0.0.1:8000/uploads\"", "forward = \"http://127.0.0.1:8000/uploads\"\nforward_timeout = 1.0"),
    ])
    func aReloadThatChangesTheForwardTargetOrTimeoutStartsANewRelay(_ old: String, _ new: String) throws {
        let running = try Running()
        let relay = try #require(running.application.current.relay)
        #expect(try running.reload(ServiceFixture.toml.replacingOccurrences(of: old, with: new)))
        let next = try #require(running.application.current.relay)
        #expect(next !== relay)
    }

    @Test func aReloadWithoutAForwardTargetDropsTheRelay() throws {
        let running = try Running()
        #expect(try running.reload(ServiceFixture.toml.replacingOccurrences(of: "forward = \"http://127.0.0.1:8000/uploads\"\n", with: "")))
        #expect(running.application.current.relay == nil)
    }

    @Test func aReloadNamingTheSameCredentialSourcesKeepsTheCredentialStore() throws {
        let running = try Running()
        let store = running.application.current.credentials
        #expect(try running.reload(Self.withThirdProfile))
        #expect(running.application.current.credentials === store)
    }
}
