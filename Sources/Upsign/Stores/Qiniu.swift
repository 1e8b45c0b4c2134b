import PostPolicy

extension Store {
    /// Qiniu Kodo: form upload with an upload token. Everything lives in the token's putPolicy:
    /// no Content-Type field (Qiniu detects the type and matches `mimeLimit`), `insertOnly` for
    /// `forbid_overwrite`.
    public static let qiniu = Store(
        name: "qiniu", vocabulary: .qiniu,
        environment: [.init(accessKeyId: "QINIU_ACCESS_KEY", secret: "QINIU_SECRET_KEY", token: nil)],
        defaultRegion: "z0", exampleRegion: "z0",
        endpoint: { _, region in "https://up-\(region).qiniup.com" },
        signatures: [.v1], objectACLs: [], encryptions: [], kmsEncryption: nil,
        forbidsOverwrite: true, matchesTypesItself: true,
        makeSigner: { credentials, _, _, _ in QiniuUploadTokenSigner(credentials: credentials) })
}
