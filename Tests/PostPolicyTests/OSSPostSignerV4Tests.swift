import Crypto
import PostPolicy
import Testing

struct OSSPostSignerV4Tests {
    let credentials = Credentials(accessKeyId: "LTAIid", secret: Secret("sk"), securityToken: "tok")

    func upload(at instant: String) -> PostUpload {
        let now = Timestamp(iso8601: instant)!
        return PostUpload(
            bucket: "examplebucket", url: "https://examplebucket.oss-cn-hangzhou.aliyuncs.com", key: "a/b.jpg",
            contentLength: 1...100, contentType: "image/jpeg", successActionStatus: 200,
            issuedAt: now, expiration: now.adding(seconds: 600))
    }

    @Test func signingKeyFollowsTheDocumentedChain() {
        let k1 = HMAC.sha256(key: Array("aliyun_v4sk".utf8), message: Array("20260102".utf8))
        let k2 = HMAC.sha256(key: k1, message: Array("cn-hangzhou".utf8))
        let k3 = HMAC.sha256(key: k2, message: Array("oss".utf8))
        let k4 = HMAC.sha256(key: k3, message: Array("aliyun_v4_request".utf8))
        #expect(OSSPostSignerV4.signingKey(secret: Secret("sk"), date: "20260102", region: "cn-hangzhou") == k4)
    }

    @Test func oneClockReadingDatesEverythingEvenAtMidnight() throws {
        let signer = OSSPostSignerV4(credentials: credentials, region: "oss-cn-hangzhou")
        let form = signer.sign(upload(at: "2026-01-02T23:59:59Z"))
        #expect(form.field("x-oss-date") == "20260102T235959Z")
        #expect(form.field("x-oss-credential") == "LTAIid/20260102/cn-hangzhou/oss/aliyun_v4_request")
        let policy = String(decoding: try #require(Base64.decode(form.policy)), as: UTF8.self)
        #expect(
            policy
                == #"{"expiration":"2026-01-03T00:09:59.000Z","conditions":[{"bucket":"examplebucket"},{"x-oss-signature-version":"OSS4-HMAC-SHA256"},{"x-oss-credential":"LTAIid/20260102/cn-hangzhou/oss/aliyun_v4_request"},{"x-oss-date":"20260102T235959Z"},["eq","$key","a/b.jpg"],["content-length-range",1,100],{"success_action_status":"200"},["eq","$Content-Type","image/jpeg"],{"x-oss-security-token":"tok"}]}"#
        )
        let key = OSSPostSignerV4.signingKey(secret: Secret("sk"), date: "20260102", region: "cn-hangzhou")
        #expect(form.signature == Hex.encode(HMAC.sha256(key: key, message: Array(form.policy.utf8))))
        #expect(
            form.fields.map(\.name) == [
                "key", "policy", "x-oss-signature-version", "x-oss-credential", "x-oss-date", "x-oss-signature",
                "success_action_status", "Content-Type", "x-oss-security-token",
            ])
    }

    @Test func cachedKeysMatchFreshOnesAndFollowTheGeneration() {
        let cache = SigningKeyCache()
        let first = cache.key(OSSPostSignerV4.scheme, credentials: credentials, generation: 1, date: "20260102", region: "cn-hangzhou")
        #expect(first == OSSPostSignerV4.signingKey(secret: Secret("sk"), date: "20260102", region: "cn-hangzhou"))
        let rotated = Credentials(accessKeyId: "LTAIid", secret: Secret("new"))
        #expect(
            cache.key(OSSPostSignerV4.scheme, credentials: rotated, generation: 2, date: "20260102", region: "cn-hangzhou")
                == OSSPostSignerV4.signingKey(secret: Secret("new"), date: "20260102", region: "cn-hangzhou"))
        let signer = OSSPostSignerV4(credentials: credentials, region: "cn-hangzhou", cache: (cache, 1))
        #expect(
            signer.sign(upload(at: "2026-01-02T10:00:00Z"))
                == OSSPostSignerV4(credentials: credentials, region: "cn-hangzhou").sign(upload(at: "2026-01-02T10:00:00Z")))
    }
}
