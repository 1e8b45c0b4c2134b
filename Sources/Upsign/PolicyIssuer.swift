import ASCIIText
import JSONText
import PostPolicy

/// Turns a profile, the client's parameters and one clock reading into an upload description,
/// and that into a signed answer body. Pure: the same inputs always give the same bytes.
///
/// A class, made once per profile when the configuration is loaded: a request takes a reference
/// instead of copying the profile's twenty-odd fields (a copy retains and releases each of their
/// strings and arrays, twice per request; a reference is one retain and one release).
public final class PolicyIssuer: Sendable {
    /// The profile.
    public let profile: Profile

    /// The profile's `content_types` as a store that matches types itself takes them
    /// (`ContentType.storeLimit`), and the types it refuses when the list is empty: worked out
    /// once, not per request.
    let storeTypeLimit: [String]
    let storeRefusedTypes: [String]
    /// Why the profile may not answer each shape it may not (`Profile.problem(answering:)`),
    /// decided once: the configuration reader already refused such a profile, and a `Profile`
    /// built in code is held to the same rules here without checking them per request.
    let refusedShapes: [ResponseFormat: String]
    /// What the request path needs of the profile's store, taken once from its descriptor
    /// (`Provider.store` builds the whole descriptor on each call): its form vocabulary, its
    /// signer, and the region signed for (the store's default when the profile names none).
    let vocabulary: FormVocabulary
    private let makeSigner: Store.MakeSigner
    private let region: String

    /// Creates an issuer for `profile`.
    public init(profile: Profile) {
        self.profile = profile
        let store = profile.provider.store
        vocabulary = store.vocabulary
        makeSigner = store.makeSigner
        region = profile.region ?? store.defaultRegion ?? ""
        var refused: [ResponseFormat: String] = [:]
        for f in ResponseFormat.allCases { refused[f] = profile.problem(answering: f) }
        refusedShapes = refused
        storeTypeLimit = ContentType.storeLimit(profile.contentTypes)
        // Never no limit at all: also when every listed family held only active types.
        storeRefusedTypes = storeTypeLimit.isEmpty ? ContentType.active : []
    }

    /// The extension of `filename` with its dot, lowercased; "" when it has none. Only the last
    /// path component counts, and only 1-16 letters or digits make an extension. When the
    /// profile lists extensions, a name without one (no name, no dot, or nothing after the last
    /// dot) is refused: otherwise `evil.exe.` would pass as a file with no extension.
    public func fileExtension(_ filename: String?) -> Result<String, APIError> {
        let ext = anyExtension(filename)
        if case .success("") = ext, !profile.extensions.isEmpty {
            return .failure(
                filename == nil
                    ? .missingParameter("filename", "this profile accepts only files named *." + profile.extensions.joined(separator: ", *."))
                    : .extensionRequired(profile.extensions))
        }
        return ext
    }

    /// `fileExtension` without the rule that a listed extension must be present.
    private func anyExtension(_ filename: String?) -> Result<String, APIError> {
        guard let filename else { return .success("") }
        let bytes = Array(filename.utf8)
        let baseStart = (bytes.lastIndex(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "\\") }) ?? -1) + 1
        guard let dot = bytes.lastIndex(of: UInt8(ascii: ".")), dot > baseStart, dot + 1 < bytes.count else {
            return .success("")
        }
        var ext = [UInt8]()
        ext.reserveCapacity(bytes.count - dot)
        ext.append(UInt8(ascii: "."))
        for c in bytes[(dot + 1)...] {
            guard ASCII.isAlnum(c) else { return .failure(.extensionNotAllowed(profile.extensions)) }
            ext.append(ASCII.isUpper(c) ? c + 0x20 : c)
        }
        let name = String(decoding: ext.dropFirst(), as: UTF8.self)
        guard ext.count <= 17, profile.extensions.isEmpty || profile.extensions.contains(name) else {
            return .failure(.extensionNotAllowed(profile.extensions))
        }
        return .success(String(decoding: ext, as: UTF8.self))
    }

    /// The answer shape for `p`: the client's `format`, else the profile's.
    public func format(_ p: PolicyParameters) -> ResponseFormat { p.format ?? profile.format }

    /// Checks the parameters against the profile and describes the one upload they allow: the
    /// key made from the template, the size range, and what the form must pin.
    public func upload(_ p: PolicyParameters, user: String?, uuid: String, now: Timestamp) -> Result<PostUpload, APIError> {
        let format = format(p)
        guard profile.formats.isEmpty || profile.formats.contains(format) else {
            return .failure(
                .invalidRequest(
                    "format \(format.rawValue) is not offered by this profile; offered: " + profile.formats.map(\.rawValue).joined(separator: ", ")))
        }
        if let why = refusedShapes[format] {
            return .failure(.invalidRequest(why))
        }
        let ext: String
        switch fileExtension(p.filename) {
        case .success(let e): ext = e
        case .failure(let e): return .failure(e)
        }
        if let type = p.contentType, !profile.allows(contentType: type) {
            return .failure(.contentTypeNotAllowed(profile.contentTypes))
        }
        let allowed = profile.minSize...profile.maxSize
        var range = allowed
        if let size = p.size {
            guard allowed.contains(size) else { return .failure(.sizeOutOfRange(allowed)) }
            range = size...size
        }
        // A native answer hands the client every field, so the content type is always pinned:
        // OSS and COS accept form fields a policy does not name, so an unpinned one would let the
        // client choose text/html. The Java shape's clients send a fixed set of fields (key,
        // policy, OSSAccessKeyId, signature), so nothing else is pinned there.
        var contentType: String?
        var status: Int?
        var pinned: [SignedPostForm.Field] = []
        if format.handsOverFields {
            if vocabulary.hasStandardFields {
                let type = p.contentType ?? ContentType.forExtension(ext)
                guard profile.allows(contentType: type) else {
                    return .failure(.missingParameter("contentType", "this profile accepts only " + profile.contentTypes.joined(separator: ", ")))
                }
                contentType = type
            } else {
                // Qiniu has no Content-Type field: it detects the type itself and matches it
                // against mimeLimit, which takes a list (see below).
                contentType = p.contentType
            }
            status = vocabulary.hasStandardFields ? profile.pins.successActionStatus : nil
            switch pinnedFields(p, ext: ext) {
            case .success(let f): pinned = f
            case .failure(let e): return .failure(e)
            }
        } else if !p.meta.isEmpty {
            return .failure(.metaNotAllowed("format \(format.rawValue) cannot carry user metadata"))
        } else if format == .aliyunAppserver {
            // Aliyun's sample front ends always send success_action_status 200.
            status = 200
        }
        var key = profile.key.render(.init(user: user, uuid: uuid, ext: format == .aliyunAppserver ? "" : ext, time: now, profile: profile.name))
        if format == .aliyunAppserver && !key.hasSuffix("/") {
            // The template names a fresh folder; the client appends its own file name.
            key += "/"
        }
        var upload = PostUpload(
            bucket: profile.bucket, url: profile.endpoint, key: key, contentLength: range,
            contentType: contentType, successActionStatus: status, issuedAt: now,
            expiration: now.adding(seconds: profile.expiresIn))
        upload.pinnedFields = pinned
        if contentType == nil {
            upload.contentTypes = storeTypeLimit
            upload.refusedContentTypes = storeRefusedTypes
        }
        upload.forbidOverwrite = profile.pins.forbidOverwrite
        if format == .aliyunAppserver { upload.keyMatch = .prefix }
        if let callback = profile.callback {
            upload.callback = callback.field
            if format.handsOverFields {
                switch callbackVariables(callback, p, user: user) {
                case .success(let fields): upload.callbackVariables = fields
                case .failure(let e): return .failure(e)
                }
            }
        }
        return .success(upload)
    }

    /// The `x:` fields of the callback body: `x:user` is the authenticated user, never the
    /// client's; the others come from the client's `x:NAME` parameters, vetted like metadata.
    func callbackVariables(_ spec: CallbackSpec, _ p: PolicyParameters, user: String?) -> Result<[SignedPostForm.Field], APIError> {
        var fields: [SignedPostForm.Field] = []
        for name in spec.variables {
            if name == "user" {
                guard let user else { return .failure(.identityRequired) }
                fields.append(.init("x:user", user))
                continue
            }
            guard let value = p.callbackVariables.first(where: { $0.name == name })?.value, !value.isEmpty else {
                return .failure(.missingParameter("x:\(name)", "the upload callback carries it"))
            }
            guard value.utf8.count <= 256, value.utf8.allSatisfy({ ASCII.isPrintable($0) && $0 != UInt8(ascii: "$") }) else {
                return .failure(.invalidRequest("x:\(name) must be at most 256 printable ASCII characters without '$'"))
            }
            fields.append(.init("x:\(name)", value))
        }
        return .success(fields)
    }

    /// The profile's further fields, named as its store names them, in a fixed order, and the
    /// client's metadata it lists.
    func pinnedFields(_ p: PolicyParameters, ext: String) -> Result<[SignedPostForm.Field], APIError> {
        let names = vocabulary
        var fields: [SignedPostForm.Field] = []
        if let cc = profile.pins.cacheControl { fields.append(.init("Cache-Control", cc)) }
        if let d = profile.pins.contentDisposition {
            fields.append(.init("Content-Disposition", ContentDisposition.value(d, filename: p.filename, ext: ext)))
        }
        if profile.pins.forbidOverwrite, let field = names.forbidOverwrite { fields.append(.init(field, "true")) }
        if let acl = profile.pins.objectACL, let field = names.acl { fields.append(.init(field, acl)) }
        if let sse = profile.pins.serverSideEncryption, let field = names.serverSideEncryption { fields.append(.init(field, sse)) }
        if let id = profile.pins.serverSideEncryptionKeyId, let field = names.serverSideEncryptionKeyId { fields.append(.init(field, id)) }
        let prefix = names.metaPrefix ?? "meta-"
        var total = 0
        for (name, value) in p.meta {
            guard profile.pins.meta.contains(name) else {
                return .failure(
                    .metaNotAllowed(
                        "\(prefix)\(name) is not allowed"
                            + (profile.pins.meta.isEmpty ? "" : "; allowed: " + profile.pins.meta.map { prefix + $0 }.joined(separator: ", "))))
            }
            guard value.utf8.count <= profile.pins.metaMaxLength else {
                return .failure(.metaNotAllowed("\(prefix)\(name) is longer than \(profile.pins.metaMaxLength) bytes"))
            }
            // Header-safe and policy-safe: printable ASCII, and no '$' (a policy variable marker).
            guard value.utf8.allSatisfy({ ASCII.isPrintable($0) && $0 != UInt8(ascii: "$") }) else {
                return .failure(.metaNotAllowed("\(prefix)\(name) must be printable ASCII without '$'"))
            }
            total += name.utf8.count + value.utf8.count
        }
        guard total <= 8192 else { return .failure(.metaNotAllowed("user metadata exceeds 8 KB")) }
        // In the profile's order, so the same request always gives the same form.
        for name in profile.pins.meta {
            if let value = p.meta.first(where: { $0.name == name })?.value {
                fields.append(.init(prefix + name, value))
            }
        }
        return .success(fields)
    }

    /// The signer for this profile's store and scheme (V4 keys come from `keys`, kept per
    /// credentials `generation`).
    public func signer(credentials: Credentials, keys: SigningKeyCache? = nil, generation: UInt64 = 0) -> any PostSigner {
        makeSigner(credentials, profile.signature, region, keys.map { (cache: $0, generation: generation) })
    }

    /// Signs `upload` with `credentials`; the answer body in `format`.
    public func answer(
        _ upload: PostUpload, format: ResponseFormat, credentials: Credentials,
        keys: SigningKeyCache? = nil, generation: UInt64 = 0
    ) -> [UInt8] {
        let form = signer(credentials: credentials, keys: keys, generation: generation).sign(upload)
        switch format {
        case .java: return Self.javaBody(form)
        case .native: return Self.nativeBody(form, provider: profile.provider)
        case .aliyunAppserver: return Self.appserverBody(form, signature: profile.signature)
        case .uppy: return Self.uppyBody(form)
        }
    }

    /// Aliyun's sample-server answer. V1: `{accessid, host, policy, signature, expire, dir}`;
    /// V4: `{host, policy, x_oss_signature_version, x_oss_credential, x_oss_date, signature,
    /// security_token, dir}` (`security_token` with STS credentials only).
    static func appserverBody(_ form: SignedPostForm, signature: SignatureVersion) -> [UInt8] {
        var w = JSONWriter(capacity: 768)
        w.beginObject()
        switch signature {
        case .v1:
            w.field("accessid", form.accessKeyId)
            w.field("host", form.url)
            w.field("policy", form.policy)
            w.field("signature", form.signature)
            w.key("expire")
            w.integer(form.expiration.secondsSince1970)
            w.field("dir", form.key)
            if let callback = form.field("callback") { w.field("callback", callback) }
            if let token = form.securityToken { w.field("security_token", token) }
        case .v4:
            w.field("host", form.url)
            w.field("policy", form.policy)
            w.field("x_oss_signature_version", form.field("x-oss-signature-version") ?? "")
            w.field("x_oss_credential", form.field("x-oss-credential") ?? "")
            w.field("x_oss_date", form.field("x-oss-date") ?? "")
            w.field("signature", form.signature)
            if let token = form.securityToken { w.field("security_token", token) }
            w.field("dir", form.key)
            w.key("expire")
            w.integer(form.expiration.secondsSince1970)
            if let callback = form.field("callback") { w.field("callback", callback) }
        }
        w.endObject()
        return w.bytes
    }

    /// `{"method":"POST","url","fields":{...},"headers":{}}` for Uppy's AwsS3 plugin.
    static func uppyBody(_ form: SignedPostForm) -> [UInt8] {
        var w = JSONWriter(capacity: 768)
        w.beginObject()
        w.field("method", "POST")
        w.field("url", form.url)
        w.key("fields")
        w.beginObject()
        for f in form.fields { w.field(f.name, f.value) }
        w.endObject()
        w.key("headers")
        w.beginObject()
        w.endObject()
        w.endObject()
        return w.bytes
    }

    /// `{"url","policy","signature","ossAccessKeyId","key"}`: the Java backend's bean, byte for
    /// field; `securityToken` is added only for STS credentials (the bean has no place for it).
    static func javaBody(_ form: SignedPostForm) -> [UInt8] {
        var w = JSONWriter(capacity: 640)
        w.beginObject()
        w.field("url", form.url)
        w.field("policy", form.policy)
        w.field("signature", form.signature)
        w.field("ossAccessKeyId", form.accessKeyId)
        w.field("key", form.key)
        if let token = form.securityToken { w.field("securityToken", token) }
        w.endObject()
        return w.bytes
    }

    /// `{"provider","method","url","key","expiresAt","fields":{...}}`.
    static func nativeBody(_ form: SignedPostForm, provider: Provider) -> [UInt8] {
        var w = JSONWriter(capacity: 768)
        w.beginObject()
        w.field("provider", provider.rawValue)
        w.field("method", "POST")
        w.field("url", form.url)
        w.field("key", form.key)
        w.field("expiresAt", form.expiration.iso8601Milliseconds)
        w.key("fields")
        w.beginObject()
        for f in form.fields { w.field(f.name, f.value) }
        w.endObject()
        w.endObject()
        return w.bytes
    }
}
