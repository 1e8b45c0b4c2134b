import PostPolicy

extension Store {
    /// Tencent Cloud Object Storage: POST Object with `q-*` fields.
    public static let tencentCOS = Store(
        name: "tencent-cos", vocabulary: .tencentCOS,
        environment: [.init(accessKeyId: "TENCENTCLOUD_SECRET_ID", secret: "TENCENTCLOUD_SECRET_KEY", token: "TENCENTCLOUD_SESSION_TOKEN")],
        defaultRegion: nil, exampleRegion: "ap-guangzhou",
        endpoint: { bucket, region in "https://\(bucket).cos.\(region).myqcloud.com" },
        signatures: [.v1],
        objectACLs: ["default", "private", "public-read"],
        encryptions: ["AES256", "cos/kms"], kmsEncryption: "cos/kms",
        forbidsOverwrite: false,
        makeSigner: { credentials, _, _, _ in COSPostSigner(credentials: credentials) })
}
