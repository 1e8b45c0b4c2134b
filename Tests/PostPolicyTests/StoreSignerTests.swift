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
        #expect(
            try policyText(form)
                == #"{"expiration":"2026-01-03T00:09:59.000Z","conditions":[{"bucket":"examplebucket"},{"x-amz-algorithm":"AWS4-HMAC-SHA256"},{"x-amz-credential":"AKID/20260102/us-east-1/s3/aws4_request"},{"x-amz-date":"20260102T235959Z"},"#
                + tail + #",{"x-amz-security-token":"tok"}]}"#)
        #expect(form.signature == "12acd68f1aa69ab83f3165264d9e5e8580964003fd38a3a8e0aa5cd2feca61c6")
        #expect(
            form.fields.map(\.name) == [
                "key", "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature",
                "success_action_status", "Content-Type", "x-amz-security-token",
            ])
        #expect(form.field("x-amz-signature") == form.signature)
    }

    /// The AWS S3 documentation's SigV4 POST example ("Example: Browser-Based Upload using HTTP
    /// POST (Using AWS Signature Version 4)"): its policy, secret and published signature.
    @Test func s3SchemeReproducesTheAWSDocumentationExample() {
        let policy =
            "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJza"
            + "Wd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdW"
            + "JsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25"
            + "hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0s"
            + "DQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iO"
            + "iAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYW"
            + "wiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3J"
            + "pdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9"
        let scheme = S3PostSignerV4.scheme
        let key = scheme.signingKey(secret: Secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), date: "20151229", region: "us-east-1")
        #expect(scheme.signature(policyBase64: policy, signingKey: key) == "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e")
        #expect(
            scheme.credential(accessKeyId: "AKIAIOSFODNN7EXAMPLE", day: "20151229", region: "us-east-1")
                == "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request")
    }

    @Test func gcsFormFollowsTheGoog4KeyChainAndWritesSecondsOnly() throws {
        let form = GCSPostSignerV4(credentials: Credentials(accessKeyId: "AKID", secret: Secret("sk"))).sign(upload)
        #expect(
            try policyText(form)
                == #"{"expiration":"2026-01-03T00:09:59Z","conditions":[{"bucket":"examplebucket"},{"x-goog-algorithm":"GOOG4-HMAC-SHA256"},{"x-goog-credential":"AKID/20260102/auto/storage/goog4_request"},{"x-goog-date":"20260102T235959Z"},"#
                + tail + "]}")
        #expect(form.signature == "0eb9db2c86ad01465b2ecf0ecc071242c7f7ab072d2f88ec6b80b8ff9d028f41")
        #expect(
            form.fields.map(\.name) == [
                "key", "policy", "x-goog-algorithm", "x-goog-credential", "x-goog-date", "x-goog-signature",
                "success_action_status", "Content-Type",
            ])
    }

    @Test func cosSignsTheSHA1OfThePolicyTextUnderTheKeyTime() throws {
        let form = COSPostSigner(credentials: credentials).sign(upload)
        #expect(
            try policyText(form)
                == #"{"expiration":"2026-01-03T00:09:59.000Z","conditions":[{"bucket":"examplebucket"},{"q-sign-algorithm":"sha1"},{"q-ak":"AKID"},{"q-sign-time":"1767398399;1767398999"},"#
                + tail + #",{"x-cos-security-token":"tok"}]}"#)
        #expect(form.signature == "48bdc7c4a030dfbac5a2799019446e7f2b44fc4b")
        #expect(
            form.fields.map(\.name) == [
                "key", "policy", "q-sign-algorithm", "q-ak", "q-key-time", "q-signature",
                "success_action_status", "Content-Type", "x-cos-security-token",
            ])
        #expect(form.field("q-key-time") == "1767398399;1767398999")
    }

    /// The COS API documentation's POST Object example: its policy text, SecretKey, KeyTime and
    /// published signature.
    @Test func cosReproducesTheCOSDocumentationExample() throws {
        let policy =
            "ewogICAgImV4cGlyYXRpb24iOiAiMjAxOS0wOC0zMFQwOTozODoxMi40MTRaIiwKICAgICJjb25kaXRpb25zIjogWwogICAgICAgIHsg"
            + "ImFjbCI6ICJkZWZhdWx0IiB9LAogICAgICAgIHsgImJ1Y2tldCI6ICJleGFtcGxlYnVja2V0LTEyNTAwMDAwMDAiIH0sCiAgICAgICAg"
            + "WyAic3RhcnRzLXdpdGgiLCAiJGtleSIsICJmb2xkZXIvc3ViZm9sZGVyLyIgXSwKICAgICAgICBbICJzdGFydHMtd2l0aCIsICIkQ29u"
            + "dGVudC1UeXBlIiwgImltYWdlLyIgXSwKICAgICAgICBbICJzdGFydHMtd2l0aCIsICIkc3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiLCAi"
            + "aHR0cHM6Ly9teS53ZWJzaXRlLyIgXSwKICAgICAgICBbICJlcSIsICIkeC1jb3Mtc2VydmVyLXNpZGUtZW5jcnlwdGlvbiIsICJBRVMy"
            + "NTYiIF0sCiAgICAgICAgeyAicS1zaWduLWFsZ29yaXRobSI6ICJzaGExIiB9LAogICAgICAgIHsgInEtYWsiOiAiQUtJRFFqejNsdG9t"
            + "cFZqQm5pNUxpdGtXSEZsRnB3a245VTVxIiB9LAogICAgICAgIHsgInEtc2lnbi10aW1lIjogIjE1NjcxNTA2OTI7MTU2NzE1Nzg5MiIg"
            + "fQogICAgXQp9"
        let json = try #require(Base64.decode(policy))
        let signer = COSPostSigner(
            credentials: Credentials(accessKeyId: "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q", secret: Secret("BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz")))
        #expect(signer.signature(policyJSON: json, keyTime: "1567150692;1567157892") == "7758dc9a832e9d301dca704cacbf9d9f8172fdef")
    }

    @Test func obsSignsTheBase64PolicyLikeOSSV1() throws {
        let form = OBSPostSigner(credentials: credentials).sign(upload)
        #expect(
            try policyText(form) == #"{"expiration":"2026-01-03T00:09:59.000Z","conditions":[{"bucket":"examplebucket"},"# + tail
                + #",{"x-obs-security-token":"tok"}]}"#)
        #expect(form.signature == "XZfl6IHWuv/xZ0JUGqCEbpoRoHQ=")
        #expect(
            form.fields.map(\.name) == [
                "key", "policy", "AccessKeyId", "signature", "success_action_status", "Content-Type", "x-obs-security-token",
            ])
    }

    /// The token qiniu 7.18's `Auth.token` gives for this put policy (detectMime included).
    @Test func qiniuTokenMatchesTheSDK() {
        let form = QiniuUploadTokenSigner(credentials: Credentials(accessKeyId: "AKID", secret: Secret("sk"))).sign(upload)
        #expect(form.fields.map(\.name) == ["key", "token"])
        #expect(
            form.field("token")
                == "AKID:vcIxhhRZi-aICyt6dDg-d0nG-m8=:eyJzY29wZSI6ImV4YW1wbGVidWNrZXQ6YS9iLmpwZyIsImRlYWRsaW5lIjoxNzY3Mzk4OTk5LCJmc2l6ZU1pbiI6MSwiZnNpemVMaW1pdCI6MTAwLCJtaW1lTGltaXQiOiJpbWFnZS9qcGVnIiwiZGV0ZWN0TWltZSI6MX0="
        )
    }

    @Test func qiniuMapsPrefixesAndNoOverwriteOntoThePutPolicy() {
        var u = upload
        u.keyMatch = .prefix
        u.forbidOverwrite = true
        u.contentType = nil
        u.contentLength = 0...5
        let text = String(decoding: QiniuUploadTokenSigner(credentials: credentials).putPolicy(for: u), as: UTF8.self)
        #expect(text == #"{"scope":"examplebucket:a/b.jpg","isPrefixalScope":1,"deadline":1767398999,"fsizeLimit":5,"detectMime":1,"insertOnly":1}"#)
        u.refusedContentTypes = ["text/html", "image/svg+xml"]
        let refusing = String(decoding: QiniuUploadTokenSigner(credentials: credentials).putPolicy(for: u), as: UTF8.self)
        #expect(refusing.contains(#""mimeLimit":"!text/html;image/svg+xml","detectMime":1"#))
        u.contentTypes = ["image/", "application/pdf"]
        let limited = String(decoding: QiniuUploadTokenSigner(credentials: credentials).putPolicy(for: u), as: UTF8.self)
        #expect(limited.contains(#""mimeLimit":"image/*;application/pdf","detectMime":1"#))
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
