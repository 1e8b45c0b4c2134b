import Foundation
import Testing

@testable import Upsign

struct ConfigurationTests {
    static func fixture(_ name: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "toml", subdirectory: "Fixtures"))
        return try String(contentsOf: url, encoding: .utf8)
    }

    @Test func readsEveryKeyAndAppliesDefaults() throws {
        let c = try Configuration.parse(toml: Self.fixture("valid"))
        #expect(c.server.basePath == "/upload")
        #expect(c.server.threads == 16)
        #expect(c.server.maxBody == 1024)
        let avatar = try #require(c.profiles["avatar"])
        #expect(avatar.region == "cn-hangzhou")
        #expect(avatar.endpoint == "https://examplebucket.oss-cn-hangzhou.aliyuncs.com")
        #expect(avatar.extensions == ["jpg", "jpeg", "png"])
        #expect(avatar.format == .java)
        #expect(avatar.requireUser)
        #expect(avatar.minSize == 1 && avatar.maxSize == 10_485_760)
        let docs = try #require(c.profiles["docs"])
        #expect(docs.format == .native)
        #expect(docs.signature == .v4)
        #expect(avatar.signature == .v1)
        #expect(!docs.requireUser)
        #expect(docs.expiresIn == 600)
        #expect(docs.maxSize == 1_048_576_000)
        #expect(docs.allows(contentType: "application/pdf"))
        #expect(!docs.allows(contentType: "image/png"))
        #expect(c.defaultProfile?.name == "avatar")
    }

    @Test func reportsEveryProblemWithItsField() throws {
        let text = try Self.fixture("broken")
        do {
            _ = try Configuration.parse(toml: text)
            Issue.record("parsed")
        } catch {
            let paths = Set(error.problems.map(\.path))
            for expected in [
                "server.base_path", "server.threads", "server.identity_param", "server.colour",
                "profiles.a.bucket", "profiles.a.key", "profiles.a.extensions[0]", "profiles.a.content_types[0]",
                "profiles.a.min_size", "profiles.a.format", "profiles.a.credentials",
                "profiles.b.bucket", "profiles.b.require_user",
            ] {
                #expect(paths.contains(expected), "missing problem for \(expected): \(error)")
            }
        }
    }

    @Test func javaProfilesSignV1AndV4NeedsARegion() {
        do {
            _ = try Configuration.parse(
                toml: """
                    [profiles.a]
                    bucket = "abc"
                    endpoint = "https://abc.example.com"
                    format = "java"
                    signature = "v4"
                    [profiles.b]
                    bucket = "abc"
                    endpoint = "https://abc.example.com"
                    """)
            Issue.record("parsed")
        } catch {
            #expect(Set(error.problems.map(\.path)) == ["profiles.a.signature", "profiles.a.region", "profiles.b.region"])
        }
    }

    @Test func aMissingDefaultProfileIsReported() {
        #expect(throws: ConfigurationError(problems: [.init(path: "server.default_profile", message: "no profile named 'x'")])) {
            try Configuration.parse(toml: "[server]\ndefault_profile = \"x\"\n[profiles.a]\nbucket = \"abc\"\nregion = \"cn-hangzhou\"\n")
        }
    }

    @Test func syntaxErrorsNameTheLine() {
        do {
            _ = try Configuration.parse(toml: "[server]\nthreads = = 3\n")
            Issue.record("parsed")
        } catch {
            #expect(error.problems.count == 1)
            #expect(error.problems[0].path == "file")
            #expect(error.problems[0].message.contains("line 2"))
        }
    }

    @Test func wrongValueTypesAreProblemsNotCrashes() {
        do {
            _ = try Configuration.parse(
                toml: "server = 3\n[profiles.a]\nbucket = 3\nextensions = \"jpg\"\nmax_size = \"big\"\nrequire_user = \"yes\"\n")
            Issue.record("parsed")
        } catch {
            let paths = Set(error.problems.map(\.path))
            #expect(paths.isSuperset(of: ["server", "profiles.a.bucket", "profiles.a.extensions", "profiles.a.max_size", "profiles.a.require_user"]))
        }
    }
}
