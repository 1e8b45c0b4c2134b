import Crypto
import PostPolicy
import Testing

struct OSSPostSignerV1Tests {
    let upload = PostUpload(
        bucket: "examplebucket", url: "https://examplebucket.oss-cn-hangzhou.aliyuncs.com",
        key: "a/b.jpg", contentLength: 0...1_048_576_000, contentType: nil, successActionStatus: nil,
        issuedAt: Timestamp(iso8601: "2026-01-02T03:04:05Z")!, expiration: Timestamp(iso8601: "2026-01-02T03:09:05Z")!)

    @Test func signatureIsBase64HMACSHA1OfTheBase64Policy() {
        let signer = OSSPostSignerV1(credentials: Credentials(accessKeyId: "LTAIid", secret: Secret("sk")))
        let form = signer.sign(upload)
        // The documented construction, step by step, with the RFC-tested primitives.
        #expect(form.signature == Base64.encode(HMAC.sha1(key: Array("sk".utf8), message: Array(form.policy.utf8))))
        #expect(
            String(decoding: Base64.decode(form.policy)!, as: UTF8.self)
                == #"{"expiration":"2026-01-02T03:09:05.000Z","conditions":[{"bucket":"examplebucket"},["eq","$key","a/b.jpg"],["content-length-range",0,1048576000]]}"#
        )
        #expect(form.fields.map(\.name) == ["key", "policy", "OSSAccessKeyId", "Signature"])
    }

    @Test func stsTokenContentTypeAndStatusArePinnedAndSent() {
        var u = upload
        u.contentType = "image/jpeg"
        u.successActionStatus = 200
        let signer = OSSPostSignerV1(credentials: Credentials(accessKeyId: "STS.id", secret: Secret("sk"), securityToken: "tok=="))
        let form = signer.sign(u)
        let policy = String(decoding: Base64.decode(form.policy)!, as: UTF8.self)
        #expect(policy.contains(#"{"success_action_status":"200"}"#))
        #expect(policy.contains(#"["eq","$Content-Type","image/jpeg"]"#))
        #expect(policy.contains(#"{"x-oss-security-token":"tok=="}"#))
        #expect(form.field("x-oss-security-token") == "tok==")
        #expect(form.field("success_action_status") == "200")
        #expect(form.field("Content-Type") == "image/jpeg")
    }

    @Test func secretsNeverPrint() {
        let c = Credentials(accessKeyId: "id", secret: Secret("super-secret-value"))
        #expect(!"\(c)".contains("super-secret-value"))
        #expect(!String(reflecting: c).contains("super-secret-value"))
        var dumped = ""
        dump(c, to: &dumped)
        #expect(!dumped.contains("super-secret-value"))
    }
}
