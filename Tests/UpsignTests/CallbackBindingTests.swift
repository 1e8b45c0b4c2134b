import CGI
import Crypto
import Foundation
import Logging
import PostPolicy
import Testing

@testable import Upsign

/// A callback proves upsign issued its upload: the token covers bucket, object (or folder),
/// user and a window; rotation keeps old secrets verifying.
struct CallbackBindingTests {
    let binding = CallbackBinding(secrets: [Secret(String(repeating: "k", count: 32))])
    let exp: Int64 = 1_767_400_000

    @Test func aTokenVerifiesForItsOwnUploadOnly() throws {
        let token = binding.token(bucket: "b", key: "u/alice/1.jpg", prefix: false, user: "alice", notAfter: exp)
        #expect(try binding.verify(token, bucket: "b", object: "u/alice/1.jpg", now: exp).get() == .init(user: "alice"))
        #expect(binding.verify(token, bucket: "other", object: "u/alice/1.jpg", now: exp) == .failure(.mismatch))
        #expect(binding.verify(token, bucket: "b", object: "u/alice/2.jpg", now: exp) == .failure(.mismatch))
        #expect(binding.verify(token, bucket: "b", object: "u/alice/1.jpg", now: exp + 1) == .failure(.expired))
        // Another user, or a later window, written into the token: the MAC no longer matches.
        let parts = token.split(separator: ".").map(String.init)
        let bob = [parts[0], parts[1], parts[2], Hex.encode(Array("bob".utf8)), parts[4]].joined(separator: ".")
        #expect(binding.verify(bob, bucket: "b", object: "u/alice/1.jpg", now: exp) == .failure(.mismatch))
        let later = [parts[0], String(exp + 86_400), parts[2], parts[3], parts[4]].joined(separator: ".")
        #expect(binding.verify(later, bucket: "b", object: "u/alice/1.jpg", now: exp) == .failure(.mismatch))
    }

    @Test func aFolderTokenCoversObjectsInThatFolderOnly() throws {
        let token = binding.token(bucket: "b", key: "s/f00d/", prefix: true, user: nil, notAfter: exp)
        #expect(try binding.verify(token, bucket: "b", object: "s/f00d/photo.jpg", now: 0).get() == .init(user: ""))
        #expect(binding.verify(token, bucket: "b", object: "s/beef/photo.jpg", now: 0) == .failure(.mismatch))
        #expect(binding.verify(token, bucket: "b", object: "s/f0", now: 0) == .failure(.mismatch))
    }

    @Test(arguments: ["", "1", "2.1.e..00", "1.x.e..00", "1.5.q..00", "1.5.e.zz.00", "1.5.e..0g"])
    func malformedTokensAreRefused(_ token: String) {
        #expect(binding.verify(token, bucket: "b", object: "o", now: 0) == .failure(.malformed))
    }

    @Test func anOldSecretStillVerifiesAfterRotation() throws {
        let old = binding.token(bucket: "b", key: "k", prefix: false, user: "u", notAfter: exp)
        let rotated = CallbackBinding(secrets: [Secret(String(repeating: "n", count: 32)), Secret(String(repeating: "k", count: 32))])
        #expect(try rotated.verify(old, bucket: "b", object: "k", now: 0).get().user == "u")
        let fresh = rotated.token(bucket: "b", key: "k", prefix: false, user: "u", notAfter: exp)
        #expect(binding.verify(fresh, bucket: "b", object: "k", now: 0) == .failure(.mismatch))
    }

    @Test func theSecretsFileNeedsLongSecrets() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("upsign-bind-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("binding.key").path
        try "# new first\n\(String(repeating: "a", count: 64))\n\n\(String(repeating: "b", count: 32))\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        #expect(try CallbackBinding.load(path: path, environment: [:]).get().secrets.count == 2)
        try "short\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ConfigurationError.self) { try CallbackBinding.load(path: path, environment: [:]).get() }
        #expect(throws: ConfigurationError.self) { try CallbackBinding.load(path: dir.path + "/none", environment: [:]).get() }
    }

    @Test func aProfileWithACallbackNeedsTheSecret() {
        let toml =
            "[profiles.a]\nbucket = \"abc\"\nregion = \"cn-hangzhou\"\n[profiles.a.callback]\nurl = \"https://a.example.com/cb\"\nbody = '{\"object\":${object}}'\n"
        do {
            _ = try Configuration.parse(toml: toml)
            Issue.record("parsed")
        } catch {
            #expect(error.problems.map(\.path) == ["callback.binding_secret"])
        }
        #expect((try? Configuration.parse(toml: toml + "[callback]\nbinding_secret = \"/etc/upsign/b.key\"\n")) != nil)
    }

    /// Issued through the application, the callback field's body carries the token and the
    /// members OSS fills; `/callback`'s check accepts what OSS would send for that upload only.
    @Test func theIssuedCallbackBindsItsUploadAndNothingElse() throws {
        var c = try Configuration.parse(toml: CallbackIssuingTests.toml)
        c.callback.requireBinding = true
        let app = Application(
            configuration: c, credentials: CredentialStore(fixed: [.environment: Credentials(accessKeyId: "ak", secret: Secret("sk"))]),
            clock: { Timestamp(iso8601: "2026-01-02T03:04:05Z")! }, uuid: { "u1" }, logger: Logger(label: "t"), binding: binding)
        let r = app.respond(
            to: CGIRequest(
                params: [
                    "REQUEST_METHOD": "GET", "DOCUMENT_URI": "/upload/policy", "QUERY_STRING": "profile=n&x:album=Trip", "UPSIGN_USER": "alice",
                ], body: .bytes([])))
        #expect(r.status == 200)
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])
        let fields = try #require(answer["fields"] as? [String: String])
        let field = try #require(fields["callback"])
        let decoded = try #require(Base64.decode(field))
        let callback = try #require(try JSONSerialization.jsonObject(with: Data(decoded)) as? [String: Any])
        let body = try #require(callback["callbackBody"] as? String)
        #expect(body.hasPrefix(#"{"object":${object},"user":${x:user},"album":${x:album},"upsign_bind":"1."#))
        #expect(body.hasSuffix(#"","upsign_bucket":${bucket},"upsign_object":${object}}"#))
        let token = try #require(body.split(separator: "\"").first { $0.hasPrefix("1.") }.map(String.init))
        let issued: [(String, String)] = [
            ("object", "n/alice/u1"), ("user", "alice"), ("upsign_bind", token),
            ("upsign_bucket", "examplebucket"), ("upsign_object", "n/alice/u1"),
        ]
        #expect(try app.checkBinding(issued).get() == .init(user: "alice"))
        var other = issued
        other[4] = ("upsign_object", "n/alice/other")
        #expect(app.checkBinding(other) == .failure(.mismatch))
        #expect(app.checkBinding([("object", "n/alice/u1")]) == .failure(.missing))
    }
}
