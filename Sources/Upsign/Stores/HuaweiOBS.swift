import PostPolicy

extension Store {
    /// Huawei Object Storage Service: browser POST with `AccessKeyId` and `signature`.
    public static let huaweiOBS = Store(
        name: "huawei-obs", vocabulary: .huaweiOBS,
        environment: [.init(accessKeyId: "OBS_ACCESS_KEY_ID", secret: "OBS_SECRET_ACCESS_KEY", token: "OBS_SECURITY_TOKEN")],
        defaultRegion: nil, exampleRegion: "cn-north-4",
        endpoint: { bucket, region in "https://\(bucket).obs.\(region).myhuaweicloud.com" },
        signatures: [.v1],
        objectACLs: [
            "private", "public-read", "public-read-write", "public-read-delivered", "public-read-write-delivered", "bucket-owner-full-control",
        ],
        encryptions: ["AES256", "kms"], kmsEncryption: "kms",
        forbidsOverwrite: false,
        makeSigner: { credentials, _, _, _ in OBSPostSigner(credentials: credentials) })
}
