/// Signs browser-POST forms for one store and signature scheme. Each store has its own type, one
/// file each; they share `PostUpload`'s conditions and `SignedPostForm`'s field order.
public protocol PostSigner: Sendable {
    /// The complete form for `upload`: policy, signature and every field in the order the client sends them.
    func sign(_ upload: PostUpload) -> SignedPostForm
}
