import CGI
import Glibc
import PostPolicy
import Upsign

/// The application the request targets answer with: one configuration with a profile per store
/// and answer shape, pinned fields, callbacks, tenants, temporary, expired and missing credentials;
/// a fixed clock and UUID; credentials from a fixed environment and from files in a sandbox.
public enum Fixture {
    /// 2026-01-02T23:59:59Z.
    public static let now = Timestamp(secondsSince1970: 1_767_398_399)
    public static let uuid = "0f8fad5b-d9cb-469f-a165-70867728950e"

    /// The environment the credentials come from.
    public static let environment: [String: String] = [
        "OSS_ACCESS_KEY_ID": "LTAI5tFuzz", "OSS_ACCESS_KEY_SECRET": "oss-secret", "OSS_SESSION_TOKEN": "",
        "AWS_ACCESS_KEY_ID": "AKIAFUZZ", "AWS_SECRET_ACCESS_KEY": "aws-secret", "AWS_SESSION_TOKEN": "aws-token",
        "TENCENTCLOUD_SECRET_ID": "AKIDfuzz", "TENCENTCLOUD_SECRET_KEY": "cos-secret",
        "OBS_ACCESS_KEY_ID": "OBSFUZZ", "OBS_SECRET_ACCESS_KEY": "obs-secret",
        "QINIU_ACCESS_KEY": "qiniu-ak", "QINIU_SECRET_KEY": "qiniu-sk",
        "GCS_HMAC_ACCESS_ID": "GOOGFUZZ", "GCS_HMAC_SECRET": "gcs-secret",
        "APP1_KEY_ID": "LTAIapp1", "APP1_SECRET": "app1-secret",
    ]

    /// The configuration's TOML; `files` is the folder holding sts.json and expired.json.
    public static func toml(files: String) -> String {
        """
        [server]
        base_path = "/upload"
        identity_param = "UPSIGN_USER"
        max_body = 4096
        default_profile = "avatar"
        tenant_param = "UPSIGN_APP"

        [profiles.avatar]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        key = "avatars/{user}/{uuid}{ext}"
        extensions = ["jpg", "jpeg", "png", "webp"]
        content_types = ["image/jpeg", "image/png", "image/webp"]
        max_size = 10485760
        expires_in = 300
        format = "java"
        require_user = true

        [profiles.native]
        bucket = "examplebucket"
        region = "oss-cn-hangzhou"
        key = "n/{user}/{yyyy}/{mm}/{dd}/{uuid}{ext}"
        content_types = ["image/", "application/pdf"]
        min_size = 1
        max_size = 104857600
        forbid_overwrite = true
        object_acl = "private"
        cache_control = "max-age=31536000"
        content_disposition = "attachment"
        server_side_encryption = "KMS"
        server_side_encryption_key_id = "key-1"
        meta = ["album", "camera"]
        meta_max_length = 64
        success_action_status = 201

        [profiles.open]
        bucket = "openbucket"
        region = "cn-beijing"
        key = "open/{profile}/{yyyy}{mm}{dd}{hh}/{timestamp}-{uuid}{ext}"
        signature = "v1"
        formats = ["java", "aliyun-appserver", "uppy"]

        [profiles.cb]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        key = "cb/{user}/{uuid}{ext}"
        format = "uppy"
        content_disposition = "inline"
        [profiles.cb.callback]
        url = ["https://a.example.com/cb", "https://b.example.com/cb"]
        host = "a.example.com"
        body = '{"object":${object},"size":${size},"user":${x:user},"album":${x:album}}'
        sni = true

        [profiles.appserver]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        key = "s/{uuid}"
        format = "aliyun-appserver"
        [profiles.appserver.callback]
        url = "https://a.example.com/cb"
        body = "object=${object}&size=${size}"
        body_type = "application/x-www-form-urlencoded"

        [profiles.tenant]
        bucket = "tenantbucket"
        region = "cn-shanghai"
        key = "t/{user}/{uuid}{ext}"
        apps = ["app1", "app-2"]
        access_key_id_env = "APP1_KEY_ID"
        secret_env = "APP1_SECRET"

        [profiles.sts]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        credentials = "\(files)/sts.json"

        [profiles.expired]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        credentials = "\(files)/expired.json"

        [profiles.missing]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        credentials = "\(files)/missing.json"

        [profiles.s3]
        provider = "s3"
        bucket = "my.bucket"
        key = "s3/{user}/{uuid}{ext}"
        object_acl = "public-read"
        server_side_encryption = "aws:kms"
        server_side_encryption_key_id = "k1"
        meta = ["album"]
        cache_control = "no-cache"
        content_disposition = "attachment"

        [profiles.minio]
        provider = "s3"
        bucket = "uploads"
        endpoint = "http://127.0.0.1:9000/uploads"
        format = "uppy"

        [profiles.cos]
        provider = "tencent-cos"
        bucket = "examplebucket-1250000000"
        region = "ap-guangzhou"
        object_acl = "public-read"
        meta = ["album"]

        [profiles.obs]
        provider = "huawei-obs"
        bucket = "obs-bucket"
        region = "cn-north-4"
        server_side_encryption = "kms"
        meta = ["album"]

        [profiles.qiniu]
        provider = "qiniu"
        bucket = "q-bucket"
        forbid_overwrite = true
        content_types = ["image/"]

        [profiles.gcs]
        provider = "gcs"
        bucket = "g_bucket.example"
        object_acl = "private"
        meta = ["album"]

        [callback]
        binding_secret = "\(files)/binding.key"
        # Unbound callbacks too, so fuzzed bodies reach the record path; bound ones are checked.
        require_binding = false
        public_key_url_prefixes = ["https://gosspublic.alicdn.com/", "http://127.0.0.1:9/keys/"]
        response = '{"ok":true,"key":"${object}","size":"${size}","user":"${user}","album":"${x:album}","missing":"${nope}"}'
        """
    }

    /// The sandbox with the credentials files.
    public static let files: Sandbox = {
        let s = Sandbox()
        s.write(
            "sts.json",
            #"{"AccessKeyId":"STS.fuzz","AccessKeySecret":"sts-secret","SecurityToken":"CAIS+token/=","Expiration":"2026-01-03T00:04:59Z"}"#)
        s.write("expired.json", #"{"AccessKeyId":"STS.old","AccessKeySecret":"old","SecurityToken":"t","Expiration":"2026-01-01T00:00:00Z"}"#)
        s.write("binding.key", String(repeating: "f", count: 64) + "\n")
        return s
    }()

    /// The parsed configuration; the process stops if it does not parse (the fixture is stale).
    public static let configuration: Configuration = {
        do {
            return try Configuration.parse(toml: toml(files: files.path))
        } catch {
            FuzzSink.say("fuzz: the fixture configuration does not parse:\n\(error)\n")
            exit(2)
        }
    }()

    /// The credentials store, loaded once.
    public static let credentials = CredentialStore(profiles: configuration.profiles.values, environment: environment, clock: { now })

    /// An application over the fixture, with `publicKeys` and `records` for the callback route.
    public static func application(publicKeys: PublicKeyStore = PublicKeyStore(), records: RecordLog? = nil) -> Application {
        Application(
            configuration: configuration, credentials: credentials, clock: { now }, uuid: { uuid },
            logger: SinkLogHandler.logger(), publicKeys: publicKeys, records: records,
            binding: try? configuration.callbackBinding(environment: [:]).get())
    }
}
