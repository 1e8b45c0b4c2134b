import PostPolicy
import Testing

@testable import Upsign

/// Each store is one descriptor: the configuration reader, the credential loader, the parameter
/// reader and the issuer take what they know of a store from it.
struct StoreDescriptorTests {
    @Test(arguments: Provider.allCases)
    func eachProviderHasADescriptorNamedAsTheConfigurationNamesIt(_ provider: Provider) {
        let store = provider.store
        #expect(store.name == provider.rawValue)
        #expect(!store.signatures.isEmpty && !store.environment.isEmpty)
        // A default region, or an example to name when one is missing.
        #expect(store.defaultRegion.map { $0 == store.exampleRegion } ?? !store.exampleRegion.isEmpty)
        #expect(store.kmsEncryption.map(store.encryptions.contains) ?? true)
    }

    @Test func theMetadataPrefixesAreEveryStoresAndTheNeutralOne() {
        #expect(PolicyParameters.metaPrefixes == ["x-oss-meta-", "x-amz-meta-", "x-cos-meta-", "x-obs-meta-", "x-goog-meta-", "meta-"])
    }

    @Test func bucketNamesFollowEachStoresRule() {
        #expect(Store.aliyunOSS.isBucketName("my-bucket-1") && !Store.aliyunOSS.isBucketName("my.bucket"))
        #expect(Store.s3.isBucketName("my.bucket") && !Store.s3.isBucketName("my_bucket"))
        #expect(Store.gcs.isBucketName("my_bucket.x") && !Store.gcs.isBucketName("-bucket"))
        #expect(!Store.aliyunOSS.isBucketName("ab") && !Store.aliyunOSS.isBucketName("Bucket"))
        #expect(Store.aliyunOSS.bucketNameRule.contains("digits and '-', starting"))
        #expect(Store.s3.bucketNameRule.contains("digits and '-' or '.', starting"))
        #expect(Store.gcs.bucketNameRule.contains("digits and '-', '.' or '_', starting"))
    }

    @Test func credentialsFromTheEnvironmentUseTheStoresVariables() {
        #expect(Store.aliyunOSS.environmentSource == .environment)
        #expect(
            Store.s3.environmentSource
                == .environmentNamed(accessKeyId: "AWS_ACCESS_KEY_ID", secret: "AWS_SECRET_ACCESS_KEY", token: "AWS_SESSION_TOKEN"))
        // OSS: its own variables first, then the Alibaba Cloud tool's, as a pair.
        let alt = CredentialStore.fromEnvironment([
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI5tAlternative0000000", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s" + String(repeating: "x", count: 29),
        ])
        #expect((try? alt.get())?.accessKeyId == "LTAI5tAlternative0000000")
        guard case .failure(let none) = CredentialStore.fromEnvironment([:]) else {
            Issue.record("no failure")
            return
        }
        #expect(
            none.description
                == "no credentials in the environment: set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET (or ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET)"
        )
    }

    @Test(arguments: Provider.allCases)
    func aProfileNamingOnlyABucketAndARegionTakesTheRestFromItsStore(_ provider: Provider) throws {
        let store = provider.store
        let c = try Configuration.parse(
            toml: """
                [profiles.p]
                provider = "\(provider.rawValue)"
                bucket = "abc-bucket"
                region = "\(store.exampleRegion)"
                """)
        let p = try #require(c.profiles["p"])
        #expect(p.endpoint == store.endpoint("abc-bucket", store.exampleRegion))
        #expect(p.signature == store.signatures[0])
        #expect(p.credentials == store.environmentSource)
        let signer = PolicyIssuer(profile: p).signer(credentials: Credentials(accessKeyId: "AKIDEXAMPLE", secret: Secret("secret")))
        #expect(
            !signer.sign(
                PostUpload(
                    bucket: "abc-bucket", url: p.endpoint, key: "k", contentLength: 0...1, contentType: nil, successActionStatus: nil,
                    issuedAt: Timestamp(iso8601: "2026-01-02T03:04:05Z")!, expiration: Timestamp(iso8601: "2026-01-02T03:14:05Z")!)
            ).fields.isEmpty)
    }
}
