import Foundation
import PostPolicy
import Testing

@testable import Upsign

struct CredentialsFileTests {
    @Test func readsTheSTSJSONShape() throws {
        let c = try CredentialsFile.parse(
            #"{"AccessKeyId":"STS.id","AccessKeySecret":"sk","SecurityToken":"tok","Expiration":"2026-11-29T13:00:00Z"}"#
        ).get()
        #expect(c.credentials == Credentials(accessKeyId: "STS.id", secret: Secret("sk"), securityToken: "tok"))
        #expect(c.expiration == Timestamp(iso8601: "2026-11-29T13:00:00Z"))
    }

    @Test(arguments: [
        #"{"Version":1,"AccessKeyId":"STS.id","SecretAccessKey":"sk","SessionToken":"tok"}"#,
        #"{"TmpSecretId":"STS.id","TmpSecretKey":"sk","Token":"tok","ExpiredTime":1764421200}"#,
    ])
    func readsTheAWSAndTencentSTSShapes(_ text: String) throws {
        let c = try CredentialsFile.parse(text).get()
        #expect(c.credentials == Credentials(accessKeyId: "STS.id", secret: Secret("sk"), securityToken: "tok"))
    }

    @Test(arguments: [
        "[Credentials]\nlanguage=EN\nendpoint=oss-cn-hangzhou.aliyuncs.com\naccessKeyID=STS.id\naccessKeySecret=sk\nstsToken=tok\n",
        "# agent output\n[default]\ntype = sts\naccess_key_id = STS.id\naccess_key_secret = \"sk\"\nsecurity_token = tok\n",
        "access_key_id=STS.id\r\naccess_key_secret=sk\r\nsts_token=tok\r\n",
        "[default]\naws_access_key_id = STS.id\naws_secret_access_key = sk\naws_session_token = tok\n",
    ])
    func readsTheINIForms(_ text: String) throws {
        let c = try CredentialsFile.parse(text).get()
        #expect(c.credentials == Credentials(accessKeyId: "STS.id", secret: Secret("sk"), securityToken: "tok"))
        #expect(c.expiration == nil)
    }

    @Test(arguments: [
        #"{"AccessKeyId":"id"}"#, #"{"AccessKeyId":"id","AccessKeySecret":"my-secret-x","#,
        #"{"AccessKeyId":"id","AccessKeySecret":"my-secret-x","Expiration":"tomorrow"}"#,
        "[Credentials]\naccessKeyID=id\naccessKeySecret my-secret-x\n", "[Credentials\naccessKeyID=id\n", "",
    ])
    func refusesBrokenFilesWithoutQuotingThem(_ text: String) {
        guard case .failure(let e) = CredentialsFile.parse(text) else {
            Issue.record("parsed \(text)")
            return
        }
        #expect(!e.description.contains("my-secret-x"))
    }
}

struct CredentialStoreTests {
    func writeFile(_ text: String, mode: Int = 0o600) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("upsign-creds-\(UUID().uuidString).json").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    func profile(_ source: CredentialsSource) throws -> Profile {
        var p = try #require(try Configuration.parse(toml: "[profiles.a]\nbucket = \"abc\"\nregion = \"cn-hangzhou\"\n").profiles["a"])
        p.credentials = source
        return p
    }

    @Test func aRewrittenFileIsPickedUpAsANewGeneration() throws {
        let path = try writeFile(#"{"AccessKeyId":"gen1","AccessKeySecret":"s1"}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = CredentialStore(profiles: [try profile(.file(path: path))], environment: [:])
        let first = try store.snapshot(for: .file(path: path)).get()
        #expect(first.credentials.accessKeyId == "gen1")
        #expect(store.reloadChangedFiles().isEmpty)

        let replacement = try writeFile(#"{"AccessKeyId":"gen2","AccessKeySecret":"s2","SecurityToken":"t2"}"#)
        #expect(rename(replacement, path) == 0)
        let events = store.reloadChangedFiles()
        let second = try store.snapshot(for: .file(path: path)).get()
        #expect(events == [.loaded(source: .file(path: path), generation: second.generation, expiration: nil)])
        #expect(second.generation > first.generation)
        #expect(second.credentials == Credentials(accessKeyId: "gen2", secret: Secret("s2"), securityToken: "t2"))
    }

    @Test func aFileInSystemdsCredentialsDirectoryIsFoundThroughItsVariable() throws {
        let path = try writeFile(#"{"AccessKeyId":"fromsystemd","AccessKeySecret":"s1"}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let dir = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let source = try #require(
            try Configuration.parse(
                toml: "[profiles.a]\nbucket = \"abc\"\nregion = \"cn-hangzhou\"\ncredentials = \"$CREDENTIALS_DIRECTORY/\(name)\"\n"
            )
            .profiles["a"]?.credentials)
        #expect(source == .file(path: "$CREDENTIALS_DIRECTORY/\(name)"))
        let store = CredentialStore(profiles: [try profile(source)], environment: ["CREDENTIALS_DIRECTORY": dir])
        #expect(try store.snapshot(for: source).get().credentials.accessKeyId == "fromsystemd")
        #expect(store.reloadChangedFiles().isEmpty)

        let unset = CredentialStore(profiles: [try profile(source)], environment: [:])
        guard case .failure(let e) = unset.snapshot(for: source) else {
            Issue.record("loaded without CREDENTIALS_DIRECTORY")
            return
        }
        #expect(e.description.contains("CREDENTIALS_DIRECTORY is not set"))
    }

    @Test(arguments: ["$CREDENTIALS_DIRECTORY/", "$CREDENTIALS_DIRECTORY/../etc/passwd", "$CREDENTIALS_DIRECTORY/a/b", "$HOME/oss.json", "oss.json"])
    func credentialsPathsOutsideTheDirectoryOrRelativeAreRefused(_ value: String) {
        #expect(throws: ConfigurationError.self) {
            try Configuration.parse(toml: "[profiles.a]\nbucket = \"abc\"\nregion = \"cn-hangzhou\"\ncredentials = \"\(value)\"\n")
        }
    }

    @Test func aBrokenRewriteKeepsThePreviousCredentials() throws {
        let path = try writeFile(#"{"AccessKeyId":"gen1","AccessKeySecret":"s1"}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = CredentialStore(profiles: [try profile(.file(path: path))], environment: [:])
        let before = try store.snapshot(for: .file(path: path)).get()
        try #"{"AccessKeyId":"gen2","AccessKey"#.write(toFile: path, atomically: false, encoding: .utf8)
        let events = store.reloadAll()
        guard case .failed(_, _, let kept)? = events.first else {
            Issue.record("no failure event: \(events)")
            return
        }
        #expect(kept == before.generation)
        #expect(try store.snapshot(for: .file(path: path)).get() == before)
    }

    @Test func anAlreadyExpiredRewriteDoesNotReplaceWorkingCredentials() throws {
        let path = try writeFile(#"{"AccessKeyId":"gen1","AccessKeySecret":"s1","Expiration":"2026-01-02T04:00:00Z"}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = CredentialStore(
            profiles: [try profile(.file(path: path))], environment: [:], clock: { Timestamp(iso8601: "2026-01-02T03:00:00Z")! })
        let before = try store.snapshot(for: .file(path: path)).get()
        let stale = try writeFile(#"{"AccessKeyId":"gen0","AccessKeySecret":"s0","Expiration":"2026-01-02T02:00:00Z"}"#)
        #expect(rename(stale, path) == 0)
        guard case .failed(_, _, let kept)? = store.reloadChangedFiles().first else {
            Issue.record("the stale file was not refused")
            return
        }
        #expect(kept == before.generation)
        #expect(try store.snapshot(for: .file(path: path)).get() == before)
    }

    @Test func groupReadableFilesAreRefused() throws {
        let path = try writeFile(#"{"AccessKeyId":"gen1","AccessKeySecret":"s1"}"#, mode: 0o640)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = CredentialStore(profiles: [try profile(.file(path: path))], environment: [:])
        #expect(throws: CredentialStore.LoadError.self) { try store.snapshot(for: .file(path: path)).get() }
        #expect(store.failures.count == 1)
    }

    @Test func theEnvironmentFallsBackToAlibabaCloudNames() throws {
        let store = CredentialStore(
            profiles: [try profile(.environment)],
            environment: [
                "ALIBABA_CLOUD_ACCESS_KEY_ID": "ak", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sk", "ALIBABA_CLOUD_SECURITY_TOKEN": "tk",
            ])
        #expect(try store.snapshot(for: .environment).get().credentials == Credentials(accessKeyId: "ak", secret: Secret("sk"), securityToken: "tk"))
    }
}
