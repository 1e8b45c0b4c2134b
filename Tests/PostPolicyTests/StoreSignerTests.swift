import Crypto
import PostPolicy
import Testing

/// One upload signed for every store. The expected policy texts are the stores' documented shapes
/// written out by hand; the expected signatures were computed over those texts by the vendors'
/// SDKs (botocore `S3SigV4PostAuth.signature`, esdk-obs-python `Authentication.hmacSha128`,
/// qiniu `Auth.token_with_data`), by the two HMAC lines of cos-python-sdk-v5's `cos_auth.py`, and
/// for GCS (no SDK signs HMAC POST policies) by Python's `hmac` following Google's V4 key chain.
/// The integration suite repeats this on hundreds of generated inputs.
struct StoreSignerTests {
    let credentials = Credentials(accessKeyId: "AKID", secret: Secret("sk"), securityToken: "tok")
    let upload: PostUpload = {
        let now = Timestamp(iso8601: "2026-01-02T23:59:59Z")!
        return PostUpload(
            bucket: "examplebucket", url: "https://example.invalid", key: "a/b.jpg", contentLength: 1...100,
            contentType: "image/jpeg", successActionStatus: 200, issuedAt: now, expiration: now.adding(seconds: 600))
    }()
    let tail = #"["eq","$key","a/b.jpg"],["content-length-range",1,100],{"success_action_status":"200"},["eq","$Content-Type","image/jpeg"]"#

    func policyText(_ form: SignedPostForm) throws -> String {
        String(decoding: try #require(Base64.decode(form.policy)), as: UTF8.self)
    }

    @Test func s3FormMatchesBotocore() throws {
        let form = S3PostSignerV4(credentials: credentials, region: "us-east-1").sign(upload)
        #expect(try policyText(form) == #"{"expiration":"2026-01-03T00:09:59.000Z","conditions":[{"bucket":"examplebucket"},{"x-amz-algorithm":"AWS4-HMAC-SHA256"},{"x-amz-credential":"AKID/20260102/us-east-1/s3/aws4_request"},{"x-amz-date":"20260102T235959Z"},"# + tail + #",{"x-amz-security-token":"tok"}]}"#)
        #expect(form.signature == "12acd68f1aa69ab83f3165264d9e5e8580964003fd38a3a8e0aa5cd2feca61c6")
        #expect(form.fields.map(\.name) == [
            "key", "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature",
            "success_action_status", "Content-Type", "x-amz-security-token",
        ])
        #expect(form.field("x-amz-signature") == form.signature)
    }

    @Test func gcsFormFollowsTheGoog4KeyChainAndWritesSecondsOnly() throws {
        let form = GCSPostSignerV4(credentials: Credentials(accessKeyId: "AKID", secret: Secret("sk"))).sign(upload)
        #expect(try policyText(form) == #"{"expiration":"2026-01-03T00:09:59Z","conditions":[{"bucket":"examplebucket"},{"x-goog-algorithm":"GOOG4-HMAC-SHA256"},{"x-goog-credential":"AKID/20260102/auto/storage/goog4_request"},{"x-goog-date":"20260102T235959Z"},"# + tail + "]}")
        #expect(form.signature == "0eb9db2c86ad01465b2ecf0ecc071242c7f7ab072d2f88ec6b80b8ff9d028f41")
        #expect(form.fields.map(\.name) == [
            "key", "policy", "x-goog-algorithm", "x-goog-credential", "x-goog-date", "x-goog-signature",
            "success_action_status", "Content-Type",
        ])
    }

    @Test func cosSignsTheSHA1OfThePolicyTextUnderTheKeyTime() throws {
        let form = COSPostSigner(credentials: credentials).sign(upload)
        #expect(try policyText(form) == #"{"expiration":"2026-01-03T00:09:59.000Z","conditions":[{"bucket":"examplebucket"},{"q-sign-algorithm":"sha1"},{"q-ak":"AKID"},{"q-sign-time":"1767398399;1767398999"},"# + tail + #",{"x-cos-security-token":"tok"}]}"#)
        #expect(form.signature == "48bdc7c4a030dfbac5a2799019446e7f2b44fc4b")
        #expect(form.fields.map(\.name) == [
            "key", "policy", "q-sign-algorithm", "q-ak", "q-key-time", "q-signature",
            "success_action_status", "Content-Type", "x-cos-security-token",
        ])
        #expect(form.field("q-key-time") == "1767398399;1767398999")
    }

    @Test func obsSignsTheBase64PolicyLikeOSSV1() throws {
        let form = OBSPostSigner(credentials: credentials).sign(upload)
        #expect(try policyText(form) == #"{"expiration":"2026-01-03T00:09:59.000Z","conditions":[{"bucket":"examplebucket"},"# + tail + #",{"x-obs-security-token":"tok"}]}"#)
        #expect(form.signature == "XZfl6IHWuv/xZ0JUGqCEbpoRoHQ=")
        #expect(form.fields.map(\.name) == [
            "key", "policy", "AccessKeyId", "signature", "success_action_status", "Content-Type", "x-obs-security-token",
        ])
    }

    @Test func qiniuTokenMatchesTheSDK() {
        let form = QiniuUploadTokenSigner(credentials: Credentials(accessKeyId: "AKID", secret: Secret("sk"))).sign(upload)
        #expect(form.fields.map(\.name) == ["key", "token"])
        #expect(form.field("token") == "AKID:0qdhJBfmyc1OPYfqTjVlmWDWfJg=:eyJzY29wZSI6ImV4YW1wbGVidWNrZXQ6YS9iLmpwZyIsImRlYWRsaW5lIjoxNzY3Mzk4OTk5LCJmc2l6ZU1pbiI6MSwiZnNpemVMaW1pdCI6MTAwLCJtaW1lTGltaXQiOiJpbWFnZS9qcGVnIn0=")
    }

    @Test func qiniuMapsPrefixesAndNoOverwriteOntoThePutPolicy() {
        var u = upload
        u.keyMatch = .prefix
        u.forbidOverwrite = true
        u.contentType = nil
        u.contentLength = 0...5
        let text = String(decoding: QiniuUploadTokenSigner(credentials: credentials).putPolicy(for: u), as: UTF8.self)
        #expect(text == #"{"scope":"examplebucket:a/b.jpg","isPrefixalScope":1,"deadline":1767398999,"fsizeLimit":5,"insertOnly":1}"#)
        u.contentTypes = ["image/", "application/pdf"]
        let limited = String(decoding: QiniuUploadTokenSigner(credentials: credentials).putPolicy(for: u), as: UTF8.self)
        #expect(limited.contains(#""mimeLimit":"image/*;application/pdf""#))
    }

    @Test func derivedKeysAreCachedPerScheme() {
        let cache = SigningKeyCache()
        let s3 = cache.key(S3PostSignerV4.scheme, credentials: credentials, generation: 1, date: "20260102", region: "auto")
        let gcs = cache.key(GCSPostSignerV4.scheme, credentials: credentials, generation: 1, date: "20260102", region: "auto")
        #expect(s3 != gcs)
        #expect(gcs == GCSPostSignerV4.scheme.signingKey(secret: Secret("sk"), date: "20260102", region: "auto"))
        let cached = S3PostSignerV4(credentials: credentials, region: "us-east-1", cache: (cache, 1)).sign(upload)
        #expect(cached == S3PostSignerV4(credentials: credentials, region: "us-east-1").sign(upload))
    }

    @Test func urlSafeBase64SwapsTheTwoURLCharacters() {
        #expect(Base64.encodeURLSafe([0xFB, 0xFF, 0xBF]) == "-_-_")
        #expect(Base64.encode([0xFB, 0xFF, 0xBF]) == "+/+/")
    }
}
