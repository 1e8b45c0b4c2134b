import CGI
import Crypto
import Foundation
import JSONText
import Logging
import PostPolicy
import Testing

@testable import Upsign

/// The signature fixture was made by the openssl command line
/// (`openssl dgst -md5 -sign callback-test-private.pem callback-signed.txt`), not by upsign.
struct CallbackVerificationTests {
    static func fixture(_ name: String, _ ext: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures"))
        return try String(contentsOf: url, encoding: .utf8)
    }

    struct Setup {
        let app: Application
        let records: String
        let body: [UInt8]
        let signature: String
    }

    func setup(keyURL fetched: @escaping @Sendable (String) -> Result<[UInt8], PublicKeyStore.FetchFailure>) throws -> Setup {
        let publicPEM = try Self.fixture("callback-test-public", "pem")
        let signed = Array(try Self.fixture("callback-signed", "txt").utf8)
        let newline = try #require(signed.firstIndex(of: 0x0A))
        let records = FileManager.default.temporaryDirectory.appendingPathComponent("upsign-records-\(UUID().uuidString).jsonl").path
        let configuration = try Configuration.parse(
            toml: """
                [profiles.a]
                bucket = "examplebucket"
                region = "cn-hangzhou"
                [callback]
                # These tests are about OSS's signature; CallbackBindingTests cover the binding.
                require_binding = false
                public_key_url_prefixes = ["http://127.0.0.1:9/keys/"]
                response = '{"ok":true,"key":"${object}","user":"${user}","missing":"${nope}"}'
                """)
        _ = publicPEM
        let app = Application(
            configuration: configuration, credentials: CredentialStore(fixed: [:]),
            clock: { Timestamp(iso8601: "2026-01-02T03:04:05Z")! }, uuid: { "u" }, logger: Logger(label: "t"),
            publicKeys: PublicKeyStore(fetch: fetched), records: RecordLog(path: records))
        return Setup(
            app: app, records: records, body: Array(signed[(newline + 1)...]),
            signature: try Self.fixture("callback-signature", "b64").trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func request(
        _ s: Setup, uri: String = "/upload/callback?a=1&b=%2F", body: [UInt8]? = nil, signature: String? = nil,
        keyURL: String? = "http://127.0.0.1:9/keys/k.pem"
    ) -> CGIRequest {
        var params = [
            "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/upload/callback", "REQUEST_URI": uri,
            "CONTENT_TYPE": "application/json",
        ]
        if let signature = signature ?? Optional(s.signature) { params["HTTP_AUTHORIZATION"] = signature }
        if let keyURL { params["HTTP_X_OSS_PUB_KEY_URL"] = Base64.encode(Array(keyURL.utf8)) }
        return CGIRequest(params: params, body: .bytes(body ?? s.body))
    }

    static let publicKey: @Sendable (String) -> Result<[UInt8], PublicKeyStore.FetchFailure> = { _ in
        (try? fixture("callback-test-public", "pem")).map { .success(Array($0.utf8)) } ?? .failure(.init(description: "no fixture"))
    }

    @Test func aSignedCallbackIsRecordedAndAnswered() throws {
        let s = try setup(keyURL: Self.publicKey)
        defer { try? FileManager.default.removeItem(atPath: s.records) }
        let r = s.app.respond(to: request(s))
        #expect(r.status == 200)
        #expect(r.bodyText == #"{"ok":true,"key":"a/b c.jpg","user":"alice","missing":""}"#)
        let lines = try String(contentsOfFile: s.records, encoding: .utf8).split(separator: "\n")
        #expect(
            lines == [
                #"{"bucket":"examplebucket","key":"a/b c.jpg","size":123,"mimeType":"image/jpeg","etag":"D41D8CD98F00B204E9800998ECF8427E","user":"alice","time":"2026-01-02T03:04:05.000Z"}"#
            ])
    }

    @Test func thePathIsSignedDecodedAndTheQueryRaw() throws {
        let s = try setup(keyURL: Self.publicKey)
        defer { try? FileManager.default.removeItem(atPath: s.records) }
        #expect(s.app.respond(to: request(s, uri: "/upload/%63allback?a=1&b=%2F")).status == 200)
        #expect(s.app.respond(to: request(s, uri: "/upload/callback?a=1&b=/")).status == 403)
        #expect(s.app.respond(to: request(s, uri: "/upload/callback")).status == 403)
    }

    @Test(arguments: [
        ("body", 403, "callback_signature_invalid"),
        ("truncated", 403, "callback_signature_invalid"),
        ("unsigned", 403, "callback_unsigned"),
        ("garbage-signature", 400, "invalid_request"),
        ("other-key-url", 403, "key_url_not_allowed"),
        ("no-key-url", 400, "invalid_request"),
    ])
    func forgedCallbacksAreRefusedAndNotRecorded(_ forgery: String, _ status: Int, _ code: String) throws {
        let s = try setup(keyURL: Self.publicKey)
        defer { try? FileManager.default.removeItem(atPath: s.records) }
        let req: CGIRequest
        switch forgery {
        case "body": req = request(s, body: Array(#"{"bucket":"examplebucket","object":"other.jpg"}"#.utf8))
        case "truncated": req = request(s, body: Array(s.body.dropLast(5)))
        case "unsigned":
            var p = request(s).params.all.filter { $0.name != "HTTP_AUTHORIZATION" }
            p.append(("CONTENT_TYPE", "application/json"))
            req = CGIRequest(params: CGIParams(p.map { ($0.name, $0.value) }), body: .bytes(s.body))
        case "garbage-signature": req = request(s, signature: "not base64!")
        case "other-key-url": req = request(s, keyURL: "http://evil.example/keys/k.pem")
        default: req = request(s, keyURL: nil)
        }
        let r = s.app.respond(to: req)
        #expect(r.status == status)
        #expect(r.bodyText.contains(#""code":"\#(code)""#))
        #expect(!FileManager.default.fileExists(atPath: s.records))
    }

    @Test(arguments: [
        "http://127.0.0.1:9/keys/../evil/k.pem", "http://127.0.0.1:9/keys/./../k.pem", "http://127.0.0.1:9/keys/%2e%2e/k.pem",
        "http://127.0.0.1:9/keys/k.pem?x=1", "http://127.0.0.1:9/keys/k.pem#f", "http://127.0.0.1:9/keys/..",
    ])
    func keyURLsThatCouldLeaveThePrefixAreRefused(_ url: String) throws {
        let s = try setup(keyURL: Self.publicKey)
        let r = s.app.respond(to: request(s, keyURL: url))
        #expect(r.status == 403)
        #expect(r.bodyText.contains("key_url_not_allowed"))
    }

    @Test func anUnreachableKeyIs502() throws {
        let s = try setup(keyURL: { _ in .failure(.init(description: "connection refused")) })
        let r = s.app.respond(to: request(s))
        #expect(r.status == 502)
        #expect(r.bodyText.contains("key_fetch_failed"))
    }

    @Test func onlyPOSTIsAccepted() throws {
        let s = try setup(keyURL: Self.publicKey)
        let r = s.app.respond(to: CGIRequest(params: ["REQUEST_METHOD": "GET", "DOCUMENT_URI": "/upload/callback"], body: .bytes([])))
        #expect(r.status == 405)
        #expect(r.header("Allow") == "POST")
    }
}

struct CallbackIssuingTests {
    static let toml = """
        [profiles.n]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        key = "n/{user}/{uuid}"
        signature = "v1"
        [profiles.n.callback]
        url = ["https://a.example.com/cb", "https://b.example.com/cb"]
        host = "a.example.com"
        body = '{"object":${object},"user":${x:user},"album":${x:album}}'
        sni = true

        [profiles.s]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        key = "s/{uuid}"
        format = "aliyun-appserver"
        [profiles.s.callback]
        url = "https://a.example.com/cb"
        body = "object=${object}"
        body_type = "application/x-www-form-urlencoded"

        [callback]
        binding_secret = "/nonexistent/binding.key"
        """

    let app: Application = {
        let c = try! Configuration.parse(toml: toml)
        return Application(
            configuration: c, credentials: CredentialStore(fixed: [.environment: Credentials(accessKeyId: "ak", secret: Secret("sk"))]),
            clock: { Timestamp(iso8601: "2026-01-02T03:04:05Z")! }, uuid: { "u1" }, logger: Logger(label: "t"))
    }()

    func get(_ query: String, user: String? = "alice") -> CGIResponse {
        var p = ["REQUEST_METHOD": "GET", "DOCUMENT_URI": "/upload/policy", "QUERY_STRING": query]
        if let user { p["UPSIGN_USER"] = user }
        return app.respond(to: CGIRequest(params: p, body: .bytes([])))
    }

    @Test func theCallbackFieldIsTheDocumentedJSONInBase64() throws {
        let spec = try #require(app.configuration.profiles["n"]?.callback)
        #expect(spec.variables == ["user", "album"])
        let json = String(decoding: try #require(Base64.decode(spec.field)), as: UTF8.self)
        #expect(
            json
                == #"{"callbackUrl":"https://a.example.com/cb;https://b.example.com/cb","callbackHost":"a.example.com","callbackBody":"{\"object\":${object},\"user\":${x:user},\"album\":${x:album}}","callbackBodyType":"application/json","callbackSNI":true}"#
        )
    }

    @Test func callbackAndVariablesAreSentAndPinned() throws {
        let spec = try #require(app.configuration.profiles["n"]?.callback)
        let r = get("profile=n&x:album=Trip&x:user=mallory")
        #expect(r.status == 200)
        // No type named and no file name: the form still pins one, the download type.
        #expect(
            r.bodyText.hasSuffix(
                #","success_action_status":"200","Content-Type":"application/octet-stream","callback":"\#(spec.field)","x:user":"alice","x:album":"Trip"}}"#
            ))
        let text = r.bodyText
        let start = try #require(text.range(of: #""policy":""#)).upperBound
        let end = try #require(text[start...].firstIndex(of: "\""))
        let policy = String(decoding: try #require(Base64.decode(text[start..<end])), as: UTF8.self)
        #expect(
            policy.hasSuffix(
                #"{"success_action_status":"200"},["eq","$Content-Type","application/octet-stream"],{"callback":"\#(spec.field)"},["eq","$x:user","alice"],["eq","$x:album","Trip"]]}"#
            ))
    }

    @Test func aMissingVariableIsAMissingParameter() {
        let r = get("profile=n")
        #expect(r.status == 400)
        #expect(r.bodyText.contains("missing_parameter"))
    }

    @Test func theAliyunSampleShapeCarriesTheCallback() throws {
        let spec = try #require(app.configuration.profiles["s"]?.callback)
        let r = get("profile=s", user: nil)
        #expect(r.status == 200)
        #expect(r.bodyText.hasSuffix(#","callback":"\#(spec.field)"}"#))
    }

    @Test func javaProfilesCannotCarryACallback() {
        do {
            _ = try Configuration.parse(
                toml: """
                    [profiles.j]
                    bucket = "abc"
                    endpoint = "https://abc.example.com"
                    format = "java"
                    [profiles.j.callback]
                    url = "ftp://x"
                    body = "a=${x:Bad}"
                    body_type = "application/x-www-form-urlencoded"
                    """)
            Issue.record("parsed")
        } catch {
            #expect(Set(error.problems.map(\.path)) == ["profiles.j.callback", "profiles.j.callback.url", "profiles.j.callback.body"])
        }
    }

    @Test func aFormBodyThatNamesAMemberTwiceIsRefused() {
        let body = Array("object=a.jpg&user=alice&user=mallory".utf8)
        guard case .failure(let e) = Application.callbackValues(body, mediaType: "application/x-www-form-urlencoded") else {
            Issue.record("accepted")
            return
        }
        #expect(e.code == "invalid_request" && e.message.contains("'user'"))
        let once = Application.callbackValues(Array("object=a.jpg&user=alice&x:user=bob".utf8), mediaType: nil)
        #expect((try? once.get())?.count == 3)
    }

    @Test func checkingRecordsAsRootSaysWhatItCouldNotCheck() throws {
        var c = try Configuration.parse(toml: "[profiles.a]\nbucket = \"abc\"\nregion = \"cn-hangzhou\"\n")
        #expect(c.callbackFileNotes(effectiveUserID: 0).isEmpty)
        c.callback.records = "/var/lib/upsign/uploads.jsonl"
        #expect(c.callbackFileNotes(effectiveUserID: 1000).isEmpty)
        let notes = c.callbackFileNotes(effectiveUserID: 0)
        #expect(notes.count == 1 && notes[0].hasPrefix("callback.records: checked as root"))
    }
}
