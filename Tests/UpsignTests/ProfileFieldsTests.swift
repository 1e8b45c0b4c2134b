import CGI
import Crypto
import Foundation
import JSONText
import Logging
import PostPolicy
import Testing

@testable import Upsign

struct ProfileFieldsTests {
    static let toml = """
        [server]
        default_profile = "full"

        [profiles.full]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        key = "f/{uuid}{ext}"
        success_action_status = 201
        forbid_overwrite = true
        object_acl = "private"
        cache_control = "max-age=31536000"
        content_disposition = "attachment"
        server_side_encryption = "KMS"
        server_side_encryption_key_id = "key-123"
        meta = ["album", "Caption"]
        meta_max_length = 16

        [profiles.sample]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        key = "s/{user}/{uuid}{ext}"
        format = "aliyun-appserver"

        [profiles.samplev1]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        key = "s1/{uuid}"
        format = "aliyun-appserver"
        signature = "v1"
        """

    let app: Application = {
        let configuration = try! Configuration.parse(toml: toml)
        return Application(
            configuration: configuration,
            credentials: CredentialStore(fixed: [.environment: Credentials(accessKeyId: "STS.ak", secret: Secret("sk"), securityToken: "tok")]),
            clock: { Timestamp(iso8601: "2026-01-02T03:04:05Z")! }, uuid: { "0f8fad5b-d9cb-469f-a165-70867728950e" },
            logger: Logger(label: "test"))
    }()

    func get(_ query: String) -> CGIResponse {
        app.respond(
            to: CGIRequest(
                params: ["REQUEST_METHOD": "GET", "DOCUMENT_URI": "/upload/policy", "QUERY_STRING": query, "UPSIGN_USER": "alice"], body: .bytes([])))
    }

    func policy(_ text: String, field: String = "policy") throws -> String {
        let start = try #require(text.range(of: "\"\(field)\":\"")).upperBound
        let end = try #require(text[start...].firstIndex(of: "\""))
        return String(decoding: try #require(Base64.decode(text[start..<end])), as: UTF8.self)
    }

    @Test func everyProfileFieldIsSentAndPinnedInOrder() throws {
        let r = get("filename=%E6%97%85%E8%A1%8C%20%22x%22.JPG&x-oss-meta-caption=Sunset&X-OSS-META-ALBUM=Trip")
        #expect(r.status == 200)
        let text = r.bodyText
        // The name's stem and the vetted (lowercased) extension.
        let disposition = #"attachment; filename=\"__ _x_.jpg\"; filename*=UTF-8''%E6%97%85%E8%A1%8C%20_x_.jpg"#
        #expect(
            text.contains(
                #""success_action_status":"201","Content-Type":"image/jpeg","Cache-Control":"max-age=31536000","Content-Disposition":"\#(disposition)","x-oss-forbid-overwrite":"true","x-oss-object-acl":"private","x-oss-server-side-encryption":"KMS","x-oss-server-side-encryption-key-id":"key-123","x-oss-meta-album":"Trip","x-oss-meta-caption":"Sunset","x-oss-security-token":"tok"}}"#
            ))
        let p = try policy(text)
        #expect(
            p.contains(
                #"{"success_action_status":"201"},["eq","$Content-Type","image/jpeg"],["eq","$Cache-Control","max-age=31536000"],["eq","$Content-Disposition","\#(disposition)"],["eq","$x-oss-forbid-overwrite","true"],["eq","$x-oss-object-acl","private"],["eq","$x-oss-server-side-encryption","KMS"],["eq","$x-oss-server-side-encryption-key-id","key-123"],["eq","$x-oss-meta-album","Trip"],["eq","$x-oss-meta-caption","Sunset"],{"x-oss-security-token":"tok"}]}"#
            ))
    }

    @Test(arguments: [
        ("x-oss-meta-other=1", "meta_not_allowed"),
        ("x-oss-meta-album=" + String(repeating: "a", count: 17), "meta_not_allowed"),
        ("x-oss-meta-album=a%0Ab", "meta_not_allowed"),
        ("x-oss-meta-album=%24%7Bfilename%7D", "meta_not_allowed"),
        ("x-oss-meta-album=%E4%B8%AD", "meta_not_allowed"),
        ("x-oss-meta-album=a&x-oss-meta-album=b", "invalid_request"),
        ("format=java", "invalid_request"),
        ("format=aliyun-appserver", "invalid_request"),
    ])
    func refusesMetadataAndShapesTheProfileCannotCarry(_ query: String, _ code: String) {
        let r = get(query)
        #expect(r.status == 400)
        #expect(r.bodyText.contains(#""code":"\#(code)""#))
    }

    @Test func theAliyunSampleShapeV4PinsAFreshFolder() throws {
        let r = get("profile=sample&filename=a.png")
        #expect(r.status == 200)
        let text = r.bodyText
        #expect(text.hasPrefix(#"{"host":"https://examplebucket.oss-cn-hangzhou.aliyuncs.com","policy":""#))
        #expect(
            text.contains(
                #""x_oss_signature_version":"OSS4-HMAC-SHA256","x_oss_credential":"STS.ak/20260102/cn-hangzhou/oss/aliyun_v4_request","x_oss_date":"20260102T030405Z","signature":""#
            ))
        #expect(text.hasSuffix(#","security_token":"tok","dir":"s/alice/0f8fad5b-d9cb-469f-a165-70867728950e/","expire":1767323645}"#))
        let p = try policy(text)
        #expect(p.contains(#"["starts-with","$key","s/alice/0f8fad5b-d9cb-469f-a165-70867728950e/"]"#))
        #expect(p.contains(#"{"success_action_status":"200"}"#))
        #expect(!p.contains("Content-Type"))
    }

    @Test func theAliyunSampleShapeV1() throws {
        let r = get("profile=samplev1")
        #expect(r.status == 200)
        #expect(r.bodyText.hasPrefix(#"{"accessid":"STS.ak","host":"https://examplebucket.oss-cn-hangzhou.aliyuncs.com","policy":""#))
        #expect(r.bodyText.hasSuffix(#","expire":1767323645,"dir":"s1/0f8fad5b-d9cb-469f-a165-70867728950e/","security_token":"tok"}"#))
    }

    @Test func theUppyShapeCarriesTheNativeFields() throws {
        let r = get("profile=full&format=uppy")
        #expect(r.status == 200)
        #expect(
            r.bodyText.hasPrefix(
                #"{"method":"POST","url":"https://examplebucket.oss-cn-hangzhou.aliyuncs.com","fields":{"key":"f/0f8fad5b-d9cb-469f-a165-70867728950e","policy":""#
            ))
        #expect(r.bodyText.hasSuffix(#","x-oss-security-token":"tok"},"headers":{}}"#))
    }

    @Test(
        arguments: [
            ("../../etc/passwd", "", "passwd"),
            ("C:\\Users\\a\\photo.jpg", ".jpg", "photo.jpg"),
            ("\u{202E}gpj.exe", "", "gpj_exe"),
            ("a\u{0}b\r\nc.txt", ".txt", "abc.txt"),
            ("...", "", nil),
            ("a$b;c\"d.txt", ".txt", "a_b_c_d.txt"),
            (String(repeating: "é", count: 300), "", String(repeating: "é", count: 128)),
            (String(repeating: "a", count: 300) + ".png", ".png", String(repeating: "a", count: 124) + ".png"),
            // The download keeps the vetted extension, never one the name only seems to have.
            ("evil.exe.", "", "evil_exe"),
            ("evil.exe", "", "evil_exe"),
            ("Photo.JPG", ".jpg", "Photo.jpg"),
            ("my.holiday.png", ".png", "my.holiday.png"),
            ("evil.exe .png", ".png", "evil.exe.png"),
            (".png", ".png", nil),
        ] as [(String, String, String?)])
    func dispositionNamesAreTheCleanedStemAndTheVettedExtension(_ name: String, _ ext: String, _ expected: String?) {
        #expect(ContentDisposition.sanitized(name, ext: ext) == expected)
    }

    @Test func aRequestCannotPickAShapeThatPinsLess() throws {
        let native = try #require(app.configuration.profiles["full"])
        #expect(native.formats == [.native, .uppy])
        let sample = try #require(app.configuration.profiles["sample"])
        #expect(sample.formats == [.aliyunAppserver, .native, .uppy])
        #expect(get("profile=sample&format=native").status == 200)
    }

    @Test func profilesThatPinFieldsCannotAnswerFixedShapes() {
        do {
            _ = try Configuration.parse(
                toml: """
                    [profiles.a]
                    bucket = "abc"
                    region = "cn-hangzhou"
                    format = "java"
                    forbid_overwrite = true
                    [profiles.b]
                    bucket = "abc"
                    region = "cn-hangzhou"
                    format = "aliyun-appserver"
                    meta = ["x"]
                    [profiles.c]
                    bucket = "abc"
                    region = "cn-hangzhou"
                    object_acl = "public"
                    success_action_status = 204
                    server_side_encryption_key_id = "k"
                    expires_in = 7200
                    """)
            Issue.record("parsed")
        } catch {
            #expect(
                Set(error.problems.map(\.path)) == [
                    "profiles.a.format", "profiles.b.format", "profiles.c.object_acl", "profiles.c.success_action_status",
                    "profiles.c.server_side_encryption_key_id", "profiles.c.expires_in",
                ])
        }
    }
}
