import PostPolicy

extension Store {
    /// Google Cloud Storage: V4 POST policies signed with HMAC keys (no session tokens).
    public static let gcs = Store(
        name: "gcs", vocabulary: .gcs,
        environment: [.init(accessKeyId: "GCS_HMAC_ACCESS_ID", secret: "GCS_HMAC_SECRET", token: nil)],
        defaultRegion: "auto", exampleRegion: "auto",
        endpoint: { bucket, _ in "https://storage.googleapis.com/\(bucket)" },
        signatures: [.v4],
        objectACLs: ["private", "public-read", "project-private", "authenticated-read", "bucket-owner-read", "bucket-owner-full-control"],
        encryptions: [], kmsEncryption: nil,
        bucketNameExtras: [UInt8(ascii: "."), UInt8(ascii: "_")], forbidsOverwrite: false,
        makeSigner: { credentials, _, region, cache in GCSPostSignerV4(credentials: credentials, location: region, cache: cache) })
}
