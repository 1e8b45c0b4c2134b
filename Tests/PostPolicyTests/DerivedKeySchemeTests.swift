import Crypto
import PerThread
import Testing

@testable import PostPolicy

/// The V4 signers write their policy straight into bytes, with the day's leading conditions
/// pre-rendered; the text must be exactly the structured policy's (`DerivedKeyScheme.policy`).
struct DerivedKeySchemeTests {
    static let now = Timestamp(iso8601: "2026-01-02T23:59:59Z")!

    static var uploads: [PostUpload] {
        var plain = PostUpload(
            bucket: "examplebucket", url: "https://examplebucket.oss-cn-hangzhou.aliyuncs.com", key: "a/b.jpg",
            contentLength: 0...100, contentType: nil, successActionStatus: nil, issuedAt: now, expiration: now.adding(seconds: 600))
        var full = plain
        full.key = "u/\"quoted\" <&> é.jpg"
        full.keyMatch = .prefix
        full.contentType = "image/jpeg"
        full.successActionStatus = 201
        full.pinnedFields = [.init("Cache-Control", "no-cache"), .init("x-oss-meta-album", "trip\n2026")]
        full.callback = "eyJjYWxsYmFja1VybCI6Imh0dHBzOi8vZXhhbXBsZS5jb20ifQ=="
        full.callbackVariables = [.init("x:user", "alice")]
        plain.key = "k"
        return [plain, full]
    }

    static let schemes: [(String, DerivedKeyScheme, String?)] = [
        ("oss", OSSPostSignerV4.scheme, FormVocabulary.aliyunOSS.securityToken),
        ("s3", S3PostSignerV4.scheme, FormVocabulary.s3.securityToken),
        ("gcs", GCSPostSignerV4.scheme, nil),
    ]

    @Test func theSignedPolicyIsTheStructuredPolicysText() throws {
        let cache = SigningKeyCache()
        for token in [nil, "sts-token"] as [String?] {
            let credentials = Credentials(accessKeyId: "AKIDEXAMPLE", secret: Secret("sk"), securityToken: token)
            for (name, scheme, tokenField) in Self.schemes {
                for upload in Self.uploads {
                    let structured = scheme.policy(
                        for: upload, credential: scheme.credential(accessKeyId: "AKIDEXAMPLE", day: "20260102", region: "r-1"),
                        date: "20260102T235959Z", token: credentials.token(named: tokenField))
                    for cached in [nil, (cache: cache, generation: UInt64(1))] as [(cache: SigningKeyCache, generation: UInt64)?] {
                        let form = scheme.sign(upload, credentials: credentials, region: "r-1", tokenField: tokenField, cache: cached)
                        let text = String(decoding: try #require(Base64.decode(form.policy)), as: UTF8.self)
                        #expect(text == String(decoding: structured.json, as: UTF8.self), "\(name), cached: \(cached != nil)")
                        #expect(form.policy == structured.base64)
                    }
                }
            }
        }
    }

    @Test func theV1SignedPolicyIsItsStructuredPolicysText() {
        for token in [nil, "sts-token"] as [String?] {
            let signer = OSSPostSignerV1(credentials: Credentials(accessKeyId: "LTAIid", secret: Secret("sk"), securityToken: token))
            for upload in Self.uploads {
                #expect(signer.sign(upload).policy == signer.policy(for: upload).base64)
            }
        }
    }
}

/// A credential change empties every thread's derived keys (`KeyMaterialCaches`), and the
/// keys derived again are the same.
struct SigningKeyCacheForgettingTests {
    @Test func forgettingKeyMaterialRederivesTheSameKey() {
        let cache = SigningKeyCache()
        let credentials = Credentials(accessKeyId: "AKIDEXAMPLE", secret: Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"))
        let before = cache.key(S3PostSignerV4.scheme, credentials: credentials, generation: 1, date: "20260102", region: "us-east-1")
        KeyMaterialCaches.forgetAll()
        #expect(cache.key(S3PostSignerV4.scheme, credentials: credentials, generation: 1, date: "20260102", region: "us-east-1") == before)
        #expect(before == S3PostSignerV4.scheme.derive(credentials: credentials, date: "20260102", region: "us-east-1").key)
    }
}
