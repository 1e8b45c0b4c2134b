import Crypto
import PerThread
import Testing

@testable import PostPolicy

/// Every signer writes its policy straight into bytes (the V4 ones with the day's leading
/// conditions pre-rendered); the text must be exactly the readable oracle's, which builds the
/// conditions as values first (`StructuredPolicyDocument`).
struct SignedPolicyTextTests {
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

    /// The credentials with and without an STS token.
    static func credentials(_ id: String) -> [Credentials] {
        [nil, "sts-token"].map { Credentials(accessKeyId: id, secret: Secret("sk"), securityToken: $0) }
    }

    @Test func theSignedPolicyIsTheStructuredPolicysText() throws {
        let cache = SigningKeyCache()
        for credentials in Self.credentials("AKIDEXAMPLE") {
            for (name, scheme, tokenField) in Self.schemes {
                for upload in Self.uploads {
                    let structured = StructuredPolicyDocument.derivedKey(
                        scheme, upload, credential: scheme.credential(accessKeyId: "AKIDEXAMPLE", day: "20260102", region: "r-1"),
                        date: "20260102T235959Z", credentials: credentials, tokenField: tokenField)
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
        for credentials in Self.credentials("LTAIid") {
            let signer = OSSPostSignerV1(credentials: credentials)
            for upload in Self.uploads {
                #expect(signer.sign(upload).policy == StructuredPolicyDocument.ossV1(upload, credentials: credentials).base64)
            }
        }
    }

    @Test func theCOSSignedPolicyIsItsStructuredPolicysText() {
        for credentials in Self.credentials("AKIDcos") {
            let signer = COSPostSigner(credentials: credentials)
            for upload in Self.uploads {
                #expect(signer.sign(upload).policy == StructuredPolicyDocument.cos(upload, credentials: credentials).base64)
            }
        }
    }

    @Test func theOBSSignedPolicyIsItsStructuredPolicysText() {
        for credentials in Self.credentials("AKIDobs") {
            let signer = OBSPostSigner(credentials: credentials)
            for upload in Self.uploads {
                #expect(signer.sign(upload).policy == StructuredPolicyDocument.obs(upload, credentials: credentials).base64)
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
