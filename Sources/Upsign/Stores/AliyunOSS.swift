import PostPolicy

extension Store {
    /// Aliyun Object Storage Service: V4 (default) and V1 signatures, STS tokens, upload
    /// callbacks, and the Java bean and appserver shapes its sample clients expect.
    public static let aliyunOSS = Store(
        name: "aliyun-oss", vocabulary: .aliyunOSS,
        environment: [
            .init(accessKeyId: "OSS_ACCESS_KEY_ID", secret: "OSS_ACCESS_KEY_SECRET", token: "OSS_SESSION_TOKEN"),
            // The Alibaba Cloud credentials tool's names.
            .init(accessKeyId: "ALIBABA_CLOUD_ACCESS_KEY_ID", secret: "ALIBABA_CLOUD_ACCESS_KEY_SECRET", token: "ALIBABA_CLOUD_SECURITY_TOKEN"),
        ],
        defaultRegion: nil, exampleRegion: "cn-hangzhou", regionPrefix: "oss-",
        endpoint: { bucket, region in "https://\(bucket).oss-\(region).aliyuncs.com" },
        signatures: [.v4, .v1],
        objectACLs: ["default", "private", "public-read", "public-read-write"],
        encryptions: ["AES256", "KMS", "SM4"], kmsEncryption: "KMS",
        forbidsOverwrite: true, isAliyun: true,
        makeSigner: { credentials, signature, region, cache in
            switch signature {
            case .v1: OSSPostSignerV1(credentials: credentials)
            case .v4: OSSPostSignerV4(credentials: credentials, region: region, cache: cache)
            }
        })
}
