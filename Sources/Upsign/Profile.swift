import PostPolicy

/// One kind of upload the endpoint signs for: bucket, key template and the limits that are pinned
/// into every policy. Built and validated from the configuration.
public struct Profile: Sendable {
    /// The profile's name (`[profiles.NAME]`).
    public var name: String
    /// The store.
    public var provider: Provider
    /// The signature scheme.
    public var signature: SignatureVersion
    /// The bucket.
    public var bucket: String
    /// The region (`cn-hangzhou`), if set.
    public var region: String?
    /// The form's URL.
    public var endpoint: String
    /// The object-key template.
    public var key: KeyTemplate
    /// Allowed file extensions, lowercase; empty allows any alphanumeric one.
    public var extensions: [String]
    /// Allowed content types (`image/png`) or type prefixes (`image/`); empty allows any.
    public var contentTypes: [String]
    /// Smallest upload, in bytes.
    public var minSize: Int64
    /// Largest upload, in bytes.
    public var maxSize: Int64
    /// Policy lifetime in seconds.
    public var expiresIn: Int64
    /// The default answer shape.
    public var format: ResponseFormat
    /// The shapes a request may ask for with `format=`: by default the profile's own and those
    /// that hand over every field (native, uppy). A request cannot pick a shape that pins less
    /// (java and aliyun-appserver clients send fixed fields) unless `formats` lists it.
    public var formats: [ResponseFormat] = []
    /// True when a request must carry an authenticated user.
    public var requireUser: Bool
    /// Where the credentials come from.
    public var credentials: CredentialsSource
    /// The further form fields the profile pins.
    public var pins = Pins()
    /// The upload callback OSS makes, if any (sent and pinned as the `callback` field).
    public var callback: CallbackSpec?
    /// The tenants (values of `server.tenant_param`) that may use this profile; empty: everyone.
    public var apps: [String] = []

    /// The key template when a profile names none.
    public static let defaultKey = "uploads/{uuid}{ext}"
    /// The largest upload when a profile names no `max_size` (1000 MiB).
    public static let defaultMaxSize: Int64 = 1_048_576_000
    /// A policy's lifetime when a profile names no `expires_in` (or `server.max_expires_in`
    /// when that is shorter).
    public static let defaultExpiresIn: Int64 = 600
    /// The largest object a form upload can make (OSS's PostObject limit, 5 GB): the bound of
    /// `min_size` and `max_size`.
    public static let maxObjectSize: Int64 = 5 * 1024 * 1024 * 1024

    /// Form fields a profile pins besides key, size and content type; each is sent to the client
    /// and required by the policy.
    public struct Pins: Sendable {
        /// The pinned `success_action_status`: 200 (empty body) or 201 (XML PostResponse).
        public var successActionStatus: Int = 200
        /// Pin `x-oss-forbid-overwrite: true` (409 FileAlreadyExists on an existing key).
        public var forbidOverwrite = false
        /// Pin `x-oss-object-acl`.
        public var objectACL: String?
        /// Pin `Cache-Control`.
        public var cacheControl: String?
        /// Pin a `Content-Disposition` of this type, with the client's sanitised file name.
        public var contentDisposition: DispositionType?
        /// Pin `x-oss-server-side-encryption` (`AES256`, `KMS`, `SM4`).
        public var serverSideEncryption: String?
        /// Pin `x-oss-server-side-encryption-key-id` (KMS).
        public var serverSideEncryptionKeyId: String?
        /// User metadata names (`x-oss-meta-NAME`) a client may set, lowercase.
        public var meta: [String] = []
        /// The longest value of one metadata entry, in bytes.
        public var metaMaxLength = 256

        /// True when these need a client that sends whatever fields it is given.
        var needFieldsHandedOver: Bool {
            forbidOverwrite || objectACL != nil || cacheControl != nil || contentDisposition != nil
                || serverSideEncryption != nil || !meta.isEmpty
        }
    }

    /// The Content-Disposition types.
    public enum DispositionType: String, Sendable, CaseIterable {
        /// Download as a file.
        case attachment
        /// Show in the browser.
        case inline
    }

    /// True when the profile pins fields that fixed-shape clients (java, aliyun-appserver) cannot send.
    var pinsClientFields: Bool { pins.needFieldsHandedOver }

    /// True when `type` (lowercased) is allowed: listed exactly, or in a listed family (or any
    /// type when none is listed) and not one a browser would run (`ContentType.active`).
    public func allows(contentType type: String) -> Bool {
        if contentTypes.contains(type) { return true }
        if ContentType.isActive(type) { return false }
        return contentTypes.isEmpty || contentTypes.contains { $0.hasSuffix("/") && type.hasPrefix($0) }
    }

    /// Why this profile may not answer in `format`, or nil when it may. The one home of these
    /// rules: the configuration reader refuses a profile whose `format` or `formats` break one, and
    /// `PolicyIssuer` works out once which shapes it refuses, so a `Profile` built in code cannot
    /// reach a form that pins less than the profile says.
    public func problem(answering format: ResponseFormat) -> String? {
        let shape = "format \"\(format.rawValue)\""
        if format.isAliyunOnly && !provider.store.isAliyun {
            return "\(shape) answers Aliyun OSS clients; a \(provider.rawValue) profile answers native or uppy"
        }
        if format == .java && signature != .v1 {
            return "\(shape) answers the Java bean, which carries only V1 fields; this profile signs \(signature.rawValue)"
        }
        if format == .java && callback != nil {
            return "\(shape) answers the Java bean, which has no callback field; use native, uppy or aliyun-appserver"
        }
        if !format.handsOverFields && pinsClientFields {
            return
                "\(shape) answers clients that send a fixed set of fields: forbid_overwrite, object_acl, cache_control, content_disposition, server_side_encryption and meta need format native or uppy"
        }
        if !format.handsOverFields, let callback, !callback.variables.isEmpty {
            return
                "\(shape) clients send no x: fields, so the callback's ${x:...} variables could not be pinned and the client would choose them; use native or uppy"
        }
        if format == .aliyunAppserver {
            if !extensions.isEmpty || !contentTypes.isEmpty {
                return
                    "\(shape) lets the client name the object inside a fresh folder and sends no Content-Type, so extensions and content_types cannot be enforced; use native or uppy"
            }
            if !key.uses(.uuid) {
                return
                    "\(shape) lets the client name the object inside the key's folder, so the key template needs {uuid} (a fresh folder per upload); without it every user gets the same folder and can overwrite the others' files"
            }
        }
        return nil
    }
}
