import PostPolicy

extension Store {
    /// Amazon S3 and S3-compatible stores (MinIO, Ceph RGW, Wasabi, ...): SigV4 POST.
    public static let s3 = Store(
        name: "s3", vocabulary: .s3,
        environment: [.init(accessKeyId: "AWS_ACCESS_KEY_ID", secret: "AWS_SECRET_ACCESS_KEY", token: "AWS_SESSION_TOKEN")],
        defaultRegion: "us-east-1", exampleRegion: "us-east-1",
        endpoint: { bucket, region in "https://\(bucket).s3.\(region).amazonaws.com" },
        signatures: [.v4],
        objectACLs: ["private", "public-read", "public-read-write", "authenticated-read", "bucket-owner-read", "bucket-owner-full-control"],
        encryptions: ["AES256", "aws:kms"], kmsEncryption: "aws:kms",
        bucketNameExtras: [UInt8(ascii: ".")], forbidsOverwrite: false,
        makeSigner: { credentials, _, region, cache in S3PostSignerV4(credentials: credentials, region: region, cache: cache) })
}
