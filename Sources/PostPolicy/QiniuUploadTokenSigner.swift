import Crypto
import JSONText

/// Signs Qiniu form uploads (Kodo developer guide, "Upload token" and "Put policy"). Qiniu has no
/// policy document of conditions: one `token` field carries a put policy,
/// `token = AK + ":" + urlsafe_base64(HMAC-SHA1(SK, P)) + ":" + P` with `P = urlsafe_base64(putPolicy)`.
///
/// The upload maps onto the put policy as faithfully as it allows: the bucket and key become
/// `scope` (`bucket:key`: only that key; a prefix sets `isPrefixalScope`), the expiration becomes
/// `deadline`, the size range `fsizeMin`/`fsizeLimit`, the pinned content type (or the allowed
/// types, or `!` and the refused ones) `mimeLimit`, and `forbidOverwrite` `insertOnly`. `detectMime`
/// is always 1: Qiniu then stores the type it detects from the content, never the one the
/// uploader declares (a PNG declared as `text/html` would otherwise be served as HTML). Qiniu has no `success_action_status`, `Content-Type`,
/// `Cache-Control`, `Content-Disposition`, ACL, encryption or session-token fields; a profile that
/// pins them is refused by the configuration checks, and the signer ignores them.
public struct QiniuUploadTokenSigner: PostSigner {
    /// The credentials that sign (Qiniu keys have no session token).
    public let credentials: Credentials

    /// Creates a signer for `credentials`.
    public init(credentials: Credentials) { self.credentials = credentials }

    /// The put policy's compact JSON text.
    public func putPolicy(for upload: PostUpload) -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.field("scope", upload.bucket + ":" + upload.key)
        if upload.keyMatch == .prefix {
            w.key("isPrefixalScope")
            w.integer(1)
        }
        w.key("deadline")
        w.integer(upload.expiration.secondsSince1970)
        if upload.contentLength.lowerBound > 0 {
            w.key("fsizeMin")
            w.integer(upload.contentLength.lowerBound)
        }
        w.key("fsizeLimit")
        w.integer(upload.contentLength.upperBound)
        if let type = upload.contentType {
            w.field("mimeLimit", type)
        } else if !upload.contentTypes.isEmpty {
            w.field("mimeLimit", upload.contentTypes.map { $0.hasSuffix("/") ? $0 + "*" : $0 }.joined(separator: ";"))
        } else if !upload.refusedContentTypes.isEmpty {
            w.field("mimeLimit", "!" + upload.refusedContentTypes.joined(separator: ";"))
        }
        w.key("detectMime")
        w.integer(1)
        if upload.forbidOverwrite {
            w.key("insertOnly")
            w.integer(1)
        }
        w.endObject()
        return w.bytes
    }

    /// The complete form: `key` and `token`.
    public func sign(_ upload: PostUpload) -> SignedPostForm {
        let encoded = Base64.encodeURLSafe(putPolicy(for: upload))
        let signature = credentials.secret.withBytes { Base64.encodeURLSafe(HMAC.sha1(reusedKey: $0, message: encoded)) }
        let token = credentials.accessKeyId + ":" + signature + ":" + encoded
        return SignedPostForm(
            url: upload.url, key: upload.key, expiration: upload.expiration, policy: encoded,
            signature: signature, accessKeyId: credentials.accessKeyId, securityToken: nil,
            fields: [.init("key", upload.key), .init("token", token)])
    }
}
