import PostPolicy
import Testing

@testable import Upsign

/// Profiles for stores other than OSS: defaults, credentials variables and what each store's forms
/// can and cannot carry.
struct StoreProfileTests {
    func problems(_ toml: String) -> Set<String> {
        do {
            _ = try Configuration.parse(toml: toml)
            return []
        } catch {
            return Set(error.problems.map(\.path))
        }
    }

    @Test func eachStoreDerivesItsEndpointRegionAndSignature() throws {
        let c = try Configuration.parse(
            toml: """
                [profiles.s3]
                provider = "s3"
                bucket = "my.bucket"
                [profiles.cos]
                provider = "tencent-cos"
                bucket = "examplebucket-1250000000"
                region = "ap-guangzhou"
                [profiles.obs]
                provider = "huawei-obs"
                bucket = "obs-bucket"
                region = "cn-north-4"
                [profiles.qiniu]
                provider = "qiniu"
                bucket = "q-bucket"
                [profiles.gcs]
                provider = "gcs"
                bucket = "g_bucket.example"
                endpoint = "https://storage.googleapis.com/g_bucket.example"
                [profiles.minio]
                provider = "s3"
                bucket = "uploads"
                endpoint = "http://127.0.0.1:9000/uploads"
                """)
        let s3 = try #require(c.profiles["s3"])
        #expect(s3.endpoint == "https://my.bucket.s3.us-east-1.amazonaws.com")
        #expect(s3.region == "us-east-1" && s3.signature == .v4)
        #expect(s3.credentials == .environmentNamed(accessKeyId: "AWS_ACCESS_KEY_ID", secret: "AWS_SECRET_ACCESS_KEY", token: "AWS_SESSION_TOKEN"))
        #expect(c.profiles["cos"]?.endpoint == "https://examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com")
        #expect(
            c.profiles["cos"]?.credentials
                == .environmentNamed(accessKeyId: "TENCENTCLOUD_SECRET_ID", secret: "TENCENTCLOUD_SECRET_KEY", token: "TENCENTCLOUD_SESSION_TOKEN"))
        #expect(c.profiles["obs"]?.endpoint == "https://obs-bucket.obs.cn-north-4.myhuaweicloud.com")
        #expect(
            c.profiles["obs"]?.credentials
                == .environmentNamed(accessKeyId: "OBS_ACCESS_KEY_ID", secret: "OBS_SECRET_ACCESS_KEY", token: "OBS_SECURITY_TOKEN"))
        #expect(c.profiles["qiniu"]?.endpoint == "https://up-z0.qiniup.com")
        #expect(c.profiles["qiniu"]?.credentials == .environmentNamed(accessKeyId: "QINIU_ACCESS_KEY", secret: "QINIU_SECRET_KEY", token: nil))
        #expect(c.profiles["gcs"]?.region == "auto")
        #expect(c.profiles["gcs"]?.credentials == .environmentNamed(accessKeyId: "GCS_HMAC_ACCESS_ID", secret: "GCS_HMAC_SECRET", token: nil))
        #expect(c.profiles["minio"]?.endpoint == "http://127.0.0.1:9000/uploads")
    }

    @Test func dotsInBucketNamesAreForS3AndGCSOnly() {
        #expect(problems("[profiles.g]\nprovider = \"gcs\"\nbucket = \"a.b-c\"\n").isEmpty)
        #expect(problems("[profiles.g]\nprovider = \"aliyun-oss\"\nbucket = \"a.b-c\"\nregion = \"cn-hangzhou\"\n") == ["profiles.g.bucket"])
    }

    @Test func aliyunShapesAndCallbacksStayWithOSS() {
        #expect(problems("[profiles.a]\nprovider = \"s3\"\nbucket = \"abc\"\nformat = \"java\"\n") == ["profiles.a.format"])
        #expect(problems("[profiles.a]\nprovider = \"qiniu\"\nbucket = \"abc\"\nformats = [\"aliyun-appserver\"]\n") == ["profiles.a.formats"])
        #expect(
            problems("[profiles.a]\nprovider = \"gcs\"\nbucket = \"abc\"\n[profiles.a.callback]\nurl = \"https://x.example/cb\"\n") == [
                "profiles.a.callback"
            ])
    }

    @Test func signatureVersionsAreThoseTheStoreHas() {
        #expect(problems("[profiles.a]\nprovider = \"s3\"\nbucket = \"abc\"\nsignature = \"v1\"\n") == ["profiles.a.signature"])
        #expect(
            problems("[profiles.a]\nprovider = \"tencent-cos\"\nbucket = \"abc\"\nregion = \"ap-guangzhou\"\nsignature = \"v4\"\n") == [
                "profiles.a.signature"
            ])
    }

    @Test func pinsAStoreHasNoFieldForAreRefused() {
        #expect(problems("[profiles.a]\nprovider = \"s3\"\nbucket = \"abc\"\nforbid_overwrite = true\n") == ["profiles.a.forbid_overwrite"])
        #expect(problems("[profiles.a]\nprovider = \"qiniu\"\nbucket = \"abc\"\nforbid_overwrite = true\n").isEmpty)
        #expect(
            problems(
                "[profiles.a]\nprovider = \"qiniu\"\nbucket = \"abc\"\nmeta = [\"x\"]\ncache_control = \"no-cache\"\nobject_acl = \"private\"\nsuccess_action_status = 201\n"
            )
                == ["profiles.a.meta", "profiles.a.cache_control", "profiles.a.object_acl", "profiles.a.success_action_status"])
        #expect(
            problems("[profiles.a]\nprovider = \"gcs\"\nbucket = \"abc\"\nserver_side_encryption = \"AES256\"\n") == [
                "profiles.a.server_side_encryption"
            ])
        #expect(problems("[profiles.a]\nprovider = \"s3\"\nbucket = \"abc\"\nobject_acl = \"default\"\n") == ["profiles.a.object_acl"])
        #expect(
            problems(
                "[profiles.a]\nprovider = \"s3\"\nbucket = \"abc\"\nserver_side_encryption = \"aws:kms\"\nserver_side_encryption_key_id = \"k1\"\n"
            ).isEmpty)
        #expect(
            problems("[profiles.a]\nprovider = \"qiniu\"\nbucket = \"abc\"\ntoken_env = \"T\"\naccess_key_id_env = \"A\"\nsecret_env = \"S\"\n") == [
                "profiles.a.token_env"
            ])
    }

    @Test func storesWithoutADefaultRegionNeedOneForTheirEndpoint() {
        #expect(problems("[profiles.a]\nprovider = \"tencent-cos\"\nbucket = \"abc-1250000000\"\n") == ["profiles.a.endpoint"])
        #expect(problems("[profiles.a]\nprovider = \"huawei-obs\"\nbucket = \"abc\"\nendpoint = \"https://abc.obs.example.com\"\n").isEmpty)
    }

    @Test func pinnedFieldsTakeTheStoresNames() throws {
        let c = try Configuration.parse(
            toml: """
                [profiles.a]
                provider = "huawei-obs"
                bucket = "abc"
                region = "cn-north-4"
                object_acl = "public-read"
                server_side_encryption = "kms"
                server_side_encryption_key_id = "key-1"
                meta = ["album"]
                """)
        let issuer = PolicyIssuer(profile: try #require(c.profiles["a"]))
        var p = PolicyParameters()
        p.meta = [("album", "summer")]
        let fields = try issuer.pinnedFields(p, ext: "").get()
        #expect(fields.map(\.name) == ["x-obs-acl", "x-obs-server-side-encryption", "x-obs-server-side-encryption-kms-key-id", "x-obs-meta-album"])
    }
}
