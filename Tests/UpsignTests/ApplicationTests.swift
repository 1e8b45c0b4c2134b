import CGI
import Crypto
import Foundation
import JSONText
import Logging
import PostPolicy
import Testing

@testable import Upsign

struct ApplicationTests {
    static let toml = """
        [server]
        max_body = 64
        default_profile = "avatar"

        [profiles.avatar]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        key = "avatars/{user}/{uuid}{ext}"
        extensions = ["jpg", "png"]
        content_types = ["image/jpeg", "image/png"]
        max_size = 1000
        expires_in = 300
        format = "java"

        [profiles.open]
        bucket = "openbucket"
        region = "cn-beijing"
        key = "open/{yyyy}{mm}{dd}/{uuid}{ext}"
        format = "native"
        credentials = "/nonexistent/creds.json"

        [profiles.native]
        bucket = "examplebucket"
        region = "oss-cn-hangzhou"
        key = "n/{user}/{uuid}{ext}"
        content_types = ["image/"]
        expires_in = 300

        [profiles.nativev1]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        key = "n1/{uuid}{ext}"
        signature = "v1"
        format = "native"
        """

    static let uuid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    static let now = Timestamp(iso8601: "2026-01-02T23:59:59Z")!

    let app: Application = {
        let configuration = try! Configuration.parse(toml: toml)
        let credentials = CredentialStore(
            profiles: configuration.profiles.values,
            environment: [
                "OSS_ACCESS_KEY_ID": "LTAItest", "OSS_ACCESS_KEY_SECRET": "test-secret-value", "OSS_SESSION_TOKEN": "",
            ])
        return Application(
            configuration: configuration, credentials: credentials, clock: { ApplicationTests.now },
            uuid: { ApplicationTests.uuid }, logger: .init(label: "test"))
    }()

    func get(
        _ path: String, query: String = "", user: String? = "alice", method: String = "GET", type: String? = nil, body: CGIRequest.Body = .bytes([])
    ) -> CGIResponse {
        var params = ["REQUEST_METHOD": method, "DOCUMENT_URI": path, "QUERY_STRING": query]
        if let user { params["UPSIGN_USER"] = user }
        if let type { params["CONTENT_TYPE"] = type }
        return app.respond(to: CGIRequest(params: params, body: body))
    }

    func json(_ r: CGIResponse) throws -> FlatJSONObject { try FlatJSONObject.parse(r.body) }

    func errorCode(_ r: CGIResponse) -> String? {
        // {"error":{"code":"...",...}}: nested, so read the code textually.
        let text = r.bodyText
        guard let start = text.range(of: #"{"error":{"code":""#)?.upperBound,
            let end = text[start...].firstIndex(of: "\"")
        else { return nil }
        return String(text[start..<end])
    }

    @Test func theOnlyProfileServesRequestsThatNameNone() throws {
        let configuration = try Configuration.parse(
            toml: """
                [profiles.solo]
                bucket = "examplebucket"
                region = "cn-hangzhou"
                key = "s/{uuid}{ext}"
                format = "java"
                """)
        let app = Application(
            configuration: configuration,
            credentials: CredentialStore(
                profiles: configuration.profiles.values,
                environment: [
                    "OSS_ACCESS_KEY_ID": "LTAItest", "OSS_ACCESS_KEY_SECRET": "test-secret-value",
                ]),
            clock: { ApplicationTests.now }, uuid: { ApplicationTests.uuid }, logger: .init(label: "test"))
        let r = app.respond(
            to: CGIRequest(params: ["REQUEST_METHOD": "GET", "DOCUMENT_URI": "/upload/policy", "QUERY_STRING": "filename=a.jpg"], body: .bytes([])))
        #expect(r.status == 200, Comment(rawValue: r.bodyText))
        #expect(try json(r)["key"] == .string("s/\(ApplicationTests.uuid).jpg"))
    }

    @Test func answersTheJavaBeanShape() throws {
        let r = get("/upload/policy", query: "filename=me.JPG")
        #expect(r.status == 200)
        #expect(r.header("Content-Type") == "application/json")
        #expect(r.header("Cache-Control") == "no-store")
        let o = try json(r)
        #expect(o.members.map(\.key) == ["url", "policy", "signature", "ossAccessKeyId", "key"])
        #expect(o["url"] == .string("https://examplebucket.oss-cn-hangzhou.aliyuncs.com"))
        #expect(o["ossAccessKeyId"] == .string("LTAItest"))
        #expect(o["key"] == .string("avatars/alice/\(Self.uuid).jpg"))
        guard case .string(let policy) = o["policy"], case .string(let signature) = o["signature"] else {
            Issue.record("no policy")
            return
        }
        #expect(signature == Base64.encode(HMAC.sha1(key: Array("test-secret-value".utf8), message: Array(policy.utf8))))
        #expect(
            String(decoding: Base64.decode(policy)!, as: UTF8.self)
                == #"{"expiration":"2026-01-03T00:04:59.000Z","conditions":[{"bucket":"examplebucket"},["eq","$key","avatars/alice/0f8fad5b-d9cb-469f-a165-70867728950e.jpg"],["content-length-range",0,1000]]}"#
        )
    }

    @Test func answersTheNativeShapeWithV4FormFields() throws {
        let r = get("/upload/policy", query: "profile=native&contentType=image/webp&size=10&filename=a.webp")
        #expect(r.status == 200)
        let text = r.bodyText
        #expect(
            text.hasPrefix(
                #"{"provider":"aliyun-oss","method":"POST","url":"https://examplebucket.oss-cn-hangzhou.aliyuncs.com","key":"n/alice/0f8fad5b-d9cb-469f-a165-70867728950e.webp","expiresAt":"2026-01-03T00:04:59.000Z","fields":{"key":"n/alice/0f8fad5b-d9cb-469f-a165-70867728950e.webp","policy":""#
            ))
        // Issued at 23:59:59: the credential's day and x-oss-date stay on the day of issue even
        // though the policy expires on the next one.
        #expect(
            text.contains(
                #""x-oss-signature-version":"OSS4-HMAC-SHA256","x-oss-credential":"LTAItest/20260102/cn-hangzhou/oss/aliyun_v4_request","x-oss-date":"20260102T235959Z","x-oss-signature":""#
            ))
        #expect(text.hasSuffix(#","success_action_status":"200","Content-Type":"image/webp"}}"#))
    }

    @Test func answersTheNativeShapeWithV1FormFields() throws {
        let r = get("/upload/policy", query: "profile=nativev1&filename=a.webp")
        #expect(r.status == 200)
        let text = r.bodyText
        #expect(text.contains(#""OSSAccessKeyId":"LTAItest","Signature":""#))
        // No contentType: the type the vetted extension stands for is pinned.
        #expect(text.hasSuffix(#","success_action_status":"200","Content-Type":"image/webp"}}"#))
    }

    @Test func formatParameterOverridesTheProfile() throws {
        let r = get("/upload/policy", query: "format=native&contentType=image/png&filename=a.png")
        #expect(r.bodyText.hasPrefix(#"{"provider":"aliyun-oss""#))
    }

    @Test func postedJSONWorksLikeTheQuery() throws {
        let body = Array(#"{"filename":"x.png"}"#.utf8)
        let r = get("/upload/policy", method: "POST", type: "application/json", body: .bytes(body))
        #expect(r.status == 200)
        #expect(try json(r)["key"] == .string("avatars/alice/\(Self.uuid).png"))
    }

    @Test(arguments: [
        ("/upload/policy", "", nil as String?, "GET", 401, "identity_required"),
        ("/upload/policy", "", "../etc", "GET", 400, "invalid_identity"),
        ("/upload/policy", "filename=a.exe", "alice", "GET", 400, "extension_not_allowed"),
        ("/upload/policy", "filename=a.j%20pg", "alice", "GET", 400, "extension_not_allowed"),
        ("/upload/policy", "filename=a.png&contentType=text/html", "alice", "GET", 400, "content_type_not_allowed"),
        ("/upload/policy", "filename=a.png&size=1001", "alice", "GET", 400, "size_out_of_range"),
        ("/upload/policy", "", "alice", "GET", 400, "missing_parameter"),
        ("/upload/policy", "filename=a", "alice", "GET", 400, "extension_required"),
        ("/upload/policy", "filename=evil.exe.", "alice", "GET", 400, "extension_required"),
        ("/upload/policy", "filename=.png", "alice", "GET", 400, "extension_required"),
        ("/upload/policy", "profile=native", "alice", "GET", 400, "missing_parameter"),
        ("/upload/policy", "profile=nope", "alice", "GET", 404, "unknown_profile"),
        ("/upload/policy", "profile=native&format=java&contentType=image/png", "alice", "GET", 400, "invalid_request"),
        ("/upload/policy", "profile=native&format=aliyun-appserver&contentType=image/png", "alice", "GET", 400, "invalid_request"),
        ("/upload/policy", "profile=open", "alice", "GET", 503, "credentials_unavailable"),
        ("/upload/policy", "profile=open&filename=a.b%20c", "alice", "GET", 400, "extension_not_allowed"),
        ("/upload/policy", "", "alice", "PUT", 405, "method_not_allowed"),
        ("/upload/policy", "", "alice", "DELETE", 405, "method_not_allowed"),
        ("/upload/healthz", "", nil, "POST", 405, "method_not_allowed"),
        ("/upload/nope", "", "alice", "GET", 404, "not_found"),
        ("/upload", "", "alice", "GET", 404, "not_found"),
        ("/other/policy", "", "alice", "GET", 404, "not_found"),
    ])
    func answersErrorsAsJSON(_ path: String, _ query: String, _ user: String?, _ method: String, _ status: Int, _ code: String) {
        let r = get(path, query: query, user: user, method: method)
        #expect(r.status == status)
        #expect(errorCode(r) == code)
        #expect(r.header("Content-Type") == "application/json")
    }

    @Test func methodNotAllowedNamesTheAllowedMethods() {
        #expect(get("/upload/policy", method: "PUT").header("Allow") == "GET, POST")
    }

    @Test func bodyProblemsFromTheTransportAreAnswered() {
        let tooLarge = get("/upload/policy", method: "POST", body: .tooLarge(declared: 100))
        #expect(tooLarge.status == 413)
        #expect(errorCode(tooLarge) == "body_too_large")
        #expect(get("/upload/policy", method: "POST", body: .invalidLength).status == 400)
        #expect(get("/upload/policy", method: "POST", body: .truncated).status == 400)
    }

    @Test func expiredTemporaryCredentialsAreNotUsedAndPoliciesDoNotOutliveThem() throws {
        let configuration = try Configuration.parse(toml: Self.toml)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("upsign-exp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func app(expiring: String) throws -> Application {
            let path = dir.appendingPathComponent("c.json").path
            try #"{"AccessKeyId":"STS.x","AccessKeySecret":"s","SecurityToken":"t","Expiration":"\#(expiring)"}"#
                .write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
            var c = configuration
            c.profiles["open"]?.credentials = .file(path: path)
            return Application(
                configuration: c, credentials: CredentialStore(profiles: c.profiles.values, environment: [:]),
                clock: { ApplicationTests.now }, uuid: { ApplicationTests.uuid }, logger: .init(label: "test"))
        }
        let request = CGIRequest(
            params: ["REQUEST_METHOD": "GET", "DOCUMENT_URI": "/upload/policy", "QUERY_STRING": "profile=open"], body: .bytes([]))
        let expired = try app(expiring: "2026-01-02T23:59:59Z").respond(to: request)
        #expect(expired.status == 503)
        #expect(errorCode(expired) == "credentials_expired")
        let soon = try app(expiring: "2026-01-03T00:01:00Z").respond(to: request)
        #expect(soon.status == 200)
        #expect(soon.bodyText.contains(#""expiresAt":"2026-01-03T00:01:00.000Z""#))
    }

    @Test func healthzSaysWhenAProfileCannotSign() {
        // Profile "open" names a credentials file that does not exist.
        let r = get("/upload/healthz", user: nil)
        #expect(r.status == 503)
        #expect(r.bodyText == #"{"status":"unavailable","credentials":{"sources":2,"unavailable":1,"expired":0}}"#)
    }

    @Test func theSecretAppearsInNoAnswer() {
        for r in [get("/upload/policy"), get("/upload/policy", query: "profile=native&contentType=image/png"), get("/upload/policy", user: nil)] {
            #expect(!r.bodyText.contains("test-secret-value"))
        }
    }

    @Test func fileExtensionsComeFromTheLastPathComponentOnly() throws {
        let profile = try #require(app.configuration.profiles["open"])
        #expect(profile.extensions.isEmpty)
        let issuer = PolicyIssuer(profile: profile)
        #expect(try issuer.fileExtension("dir.png/photo").get() == "")
        #expect(try issuer.fileExtension("C:\\x\\a.PNG").get() == ".png")
        #expect(try issuer.fileExtension(".png").get() == "")
        #expect(try issuer.fileExtension("a.").get() == "")
        #expect(try issuer.fileExtension(nil).get() == "")
        #expect(throws: APIError.self) { try issuer.fileExtension("../../a.php ").get() }
    }

    @Test func aProfileWithExtensionsNeedsANameThatEndsInOne() throws {
        let issuer = PolicyIssuer(profile: try #require(app.configuration.profiles["avatar"]))
        #expect(!issuer.profile.extensions.isEmpty)
        #expect(try issuer.fileExtension("C:\\x\\a.PNG").get() == ".png")
        for name in ["dir.png/photo", ".png", "a.", "evil.exe.", "evil", "a.png/"] {
            #expect(throws: APIError.extensionRequired(issuer.profile.extensions), "\(name)") { try issuer.fileExtension(name).get() }
        }
        #expect(throws: APIError.self) { try issuer.fileExtension(nil).get() }
        #expect((try? issuer.fileExtension(nil).get()) == nil)
        if case .failure(let e) = issuer.fileExtension(nil) { #expect(e.code == "missing_parameter") }
        #expect(throws: APIError.extensionNotAllowed(issuer.profile.extensions)) { try issuer.fileExtension("a.exe").get() }
    }
}
