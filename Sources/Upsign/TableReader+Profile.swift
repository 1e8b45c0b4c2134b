import ASCIIText
import PostPolicy
import TOMLKit

/// `[profiles.NAME]`, read by concern: where the uploads go, what they may be, who signs, which
/// answer shapes, which pinned fields, which callback. What a store supports comes from its
/// descriptor (`Provider.store`); the rules between fields live in `Profile.problem(answering:)`.
extension TableReader {
    /// The keys `[profiles.NAME]` takes (`callback` is its sub-table).
    static let profileKeys: Set<String> = [
        "provider", "signature", "bucket", "region", "endpoint", "key", "extensions", "content_types",
        "min_size", "max_size", "expires_in", "format", "require_user", "credentials",
        "success_action_status", "forbid_overwrite", "object_acl", "cache_control", "content_disposition",
        "server_side_encryption", "server_side_encryption_key_id", "meta", "meta_max_length", "formats",
        "callback", "apps", "access_key_id_env", "secret_env", "token_env",
    ]

    mutating func profile(_ name: String, _ t: TOMLTable, _ path: String, maxExpiresIn: Int, tenantParam: String?) -> Profile? {
        let before = problems.count
        checkKeys(t, path, allowed: Self.profileKeys)
        let provider = provider(t, path)
        let store = provider.store
        let place = location(t, path, store)
        let objects = objects(t, path, store, maxExpiresIn: maxExpiresIn)
        let shapes = shapes(t, path, store, signature: place.signature, regionGiven: place.region != nil || t["region"] != nil)
        let requireUser = bool(t, "require_user", path) ?? (objects.key?.uses(.user) ?? false)
        if requireUser == false, objects.key?.uses(.user) == true {
            problem("\(path).require_user", "the key template uses {user}, so a user is required")
        }
        let credentials = credentialsSource(t, path, store)
        let apps = apps(t, path, tenantParam: tenantParam)
        let callback = callback(t, path, store, format: shapes.format)
        let pins = pins(t, path, provider: provider)
        guard let bucket = place.bucket, let endpoint = place.endpoint, let key = objects.key else { return nil }
        var profile = Profile(
            name: name, provider: provider, signature: shapes.signature, bucket: bucket, region: place.region,
            endpoint: endpoint, key: key, extensions: objects.extensions, contentTypes: objects.contentTypes,
            minSize: objects.minSize, maxSize: objects.maxSize, expiresIn: objects.expiresIn, format: shapes.format,
            requireUser: requireUser, credentials: credentials)
        profile.pins = pins
        profile.formats = shapes.formats
        profile.callback = callback
        profile.apps = apps
        // The shape rules, once the profile is otherwise sound (a broken field is reported
        // once, by itself, not again as a shape it cannot answer).
        if problems.count == before {
            for f in shapes.formats {
                if let why = profile.problem(answering: f) { problem(f == shapes.format ? "\(path).format" : "\(path).formats", why) }
            }
        }
        return problems.count == before ? profile : nil
    }

    /// `provider` (default `aliyun-oss`).
    mutating func provider(_ t: TOMLTable, _ path: String) -> Provider {
        guard let s = string(t, "provider", path) else { return .aliyunOSS }
        if let p = Provider(rawValue: s) { return p }
        problem("\(path).provider", "unsupported provider '\(s)'; supported: " + Provider.allCases.map(\.rawValue).joined(separator: ", "))
        return .aliyunOSS
    }

    /// Where uploads go: `signature` as asked (nil: the default, decided with the shape),
    /// `bucket`, `region` (the store's default when it has one) and `endpoint` (derived from
    /// bucket and region when not given).
    mutating func location(_ t: TOMLTable, _ path: String, _ store: Store)
        -> (signature: SignatureVersion?, bucket: String?, region: String?, endpoint: String?)
    {
        var signature: SignatureVersion?
        if let s = string(t, "signature", path) {
            if let v = SignatureVersion(rawValue: s), store.signatures.contains(v) {
                signature = v
            } else {
                problem(
                    "\(path).signature",
                    "unsupported signature '\(s)' for \(store.name); supported: " + store.signatures.map(\.rawValue).joined(separator: ", "))
            }
        }
        let bucket = string(t, "bucket", path)
        if let b = bucket, !store.isBucketName(b) {
            problem("\(path).bucket", "not a valid bucket name (\(store.bucketNameRule))")
        } else if bucket == nil, t["bucket"] == nil {
            problem("\(path).bucket", "missing")
        }
        var region = string(t, "region", path)
        if let r = region {
            let plain = store.regionPrefix.map { r.hasPrefix($0) ? String(r.dropFirst($0.count)) : r } ?? r
            if plain.isEmpty || !plain.utf8.allSatisfy({ ASCII.isLowerAlnum($0) || $0 == UInt8(ascii: "-") }) {
                problem("\(path).region", "not a region id such as \(store.exampleRegion)")
            }
            region = plain
        } else if t["region"] == nil {
            region = store.defaultRegion
        }
        var endpoint = string(t, "endpoint", path)
        if let e = endpoint {
            if !(e.hasPrefix("https://") || e.hasPrefix("http://")) || e.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F })
                || e.contains("?") || e.contains("#")
            {
                problem("\(path).endpoint", "must be an http(s) URL without spaces, query or fragment")
            }
        } else if t["endpoint"] == nil {
            if let b = bucket, let r = region {
                endpoint = store.endpoint(b, r)
            } else {
                problem("\(path).endpoint", "missing (or set bucket and region to derive it)")
            }
        }
        return (signature, bucket, region, endpoint)
    }

    /// What may be uploaded: the key template, extensions, content types, sizes and the
    /// policy's lifetime, each with the default `Profile` names.
    mutating func objects(_ t: TOMLTable, _ path: String, _ store: Store, maxExpiresIn: Int)
        -> (key: KeyTemplate?, extensions: [String], contentTypes: [String], minSize: Int64, maxSize: Int64, expiresIn: Int64)
    {
        var key: KeyTemplate?
        if let text = string(t, "key", path) ?? (t["key"] == nil ? Profile.defaultKey : nil) {
            do throws(KeyTemplate.ParseError) {
                key = try KeyTemplate(text)
            } catch {
                problem("\(path).key", error.description)
            }
        }
        var extensions: [String] = []
        for (i, e) in (strings(t, "extensions", path) ?? []).enumerated() {
            let lower = (e.hasPrefix(".") ? String(e.dropFirst()) : e).lowercased()
            if lower.isEmpty || lower.utf8.count > 16 || !lower.utf8.allSatisfy(ASCII.isAlnum) {
                problem("\(path).extensions[\(i)]", "an extension is 1-16 letters or digits")
            } else if !extensions.contains(lower) {
                extensions.append(lower)
            }
        }
        var contentTypes: [String] = []
        for (i, c) in (strings(t, "content_types", path) ?? []).enumerated() {
            let lower = c.lowercased()
            if !ContentType.isValid(lower, allowPrefix: true) {
                problem("\(path).content_types[\(i)]", "must be a media type such as image/png, or a prefix such as image/")
            } else if store.matchesTypesItself, lower.hasSuffix("/"), ContentType.storeLimit([lower]).isEmpty {
                problem(
                    "\(path).content_types[\(i)]",
                    "\(store.name) matches the uploaded type itself, and the family \(lower) holds types a browser runs and none upsign knows to be safe; list the exact types"
                )
            } else if !contentTypes.contains(lower) {
                contentTypes.append(lower)
            }
        }
        let sizes = 0...Int(Profile.maxObjectSize)
        let minSize = int(t, "min_size", path, sizes).map(Int64.init) ?? 0
        let maxSize = int(t, "max_size", path, sizes).map(Int64.init) ?? Profile.defaultMaxSize
        if minSize > maxSize { problem("\(path).min_size", "must not be larger than max_size (\(maxSize))") }
        let expiresIn = int(t, "expires_in", path, 1...604_800).map(Int64.init) ?? min(Profile.defaultExpiresIn, Int64(maxExpiresIn))
        if expiresIn > Int64(maxExpiresIn) {
            problem("\(path).expires_in", "must not exceed server.max_expires_in (\(maxExpiresIn) seconds)")
        }
        return (key, extensions, contentTypes, minSize, maxSize, expiresIn)
    }

    /// The answer shapes: `format` (default native), the `formats` a request may ask for, and
    /// the signature version they decide (V4 by default; V1 for the Java bean, which has no
    /// place for V4 fields).
    mutating func shapes(_ t: TOMLTable, _ path: String, _ store: Store, signature: SignatureVersion?, regionGiven: Bool)
        -> (format: ResponseFormat, formats: [ResponseFormat], signature: SignatureVersion)
    {
        var format = ResponseFormat.native
        if let s = string(t, "format", path) {
            if let f = ResponseFormat(rawValue: s) {
                format = f
            } else {
                problem("\(path).format", "must be one of " + ResponseFormat.allCases.map(\.rawValue).joined(separator: ", "))
            }
        }
        if format == .java, signature == .v4 {
            problem("\(path).signature", "format \"java\" answers the Java bean, which carries only V1 fields; use \"v1\" or format \"native\"")
        }
        let version = signature ?? (format == .java ? .v1 : store.signatures[0])
        if store.isAliyun, version == .v4, !regionGiven {
            problem("\(path).region", "missing: V4 signatures are scoped to a region (such as \(store.exampleRegion))")
        }
        // By default a request may ask for the profile's shape or one that hands over (and so
        // pins) every field; never for one that pins less.
        var formats: [ResponseFormat] = [format] + ResponseFormat.allCases.filter { $0.handsOverFields && $0 != format }
        if let listed = strings(t, "formats", path) {
            formats = [format]
            for (i, name) in listed.enumerated() {
                guard let f = ResponseFormat(rawValue: name) else {
                    problem("\(path).formats[\(i)]", "must be one of " + ResponseFormat.allCases.map(\.rawValue).joined(separator: ", "))
                    continue
                }
                if !formats.contains(f) { formats.append(f) }
            }
        }
        return (format, formats, version)
    }

    /// Who signs: `credentials` (`env`, the default: the store's variables; or a file), or
    /// variables the profile names (`access_key_id_env`, `secret_env`, `token_env`).
    mutating func credentialsSource(_ t: TOMLTable, _ path: String, _ store: Store) -> CredentialsSource {
        var credentials = store.environmentSource
        if let s = string(t, "credentials", path) {
            let inCredentialsDirectory =
                s.hasPrefix(CredentialStore.credentialsDirectoryPrefix)
                && s.count > CredentialStore.credentialsDirectoryPrefix.count
                && !s.dropFirst(CredentialStore.credentialsDirectoryPrefix.count).contains("/")
            if s == "env" {
                credentials = store.environmentSource
            } else if s.hasPrefix("/") || inCredentialsDirectory {
                credentials = .file(path: s)
            } else {
                problem("\(path).credentials", "must be \"env\", an absolute file path or \"$CREDENTIALS_DIRECTORY/NAME\" (systemd LoadCredential=)")
            }
        }
        let idEnv = string(t, "access_key_id_env", path)
        let secretEnv = string(t, "secret_env", path)
        let tokenEnv = string(t, "token_env", path)
        if tokenEnv != nil && store.vocabulary.securityToken == nil {
            problem("\(path).token_env", "\(store.name) keys have no session token")
        }
        for (key, name) in [("access_key_id_env", idEnv), ("secret_env", secretEnv), ("token_env", tokenEnv)] {
            if let name, !ASCII.isWord(name) {
                problem("\(path).\(key)", "must be an environment variable name")
            }
        }
        guard idEnv != nil || secretEnv != nil || tokenEnv != nil else { return credentials }
        if case .file = credentials {
            problem("\(path).credentials", "a credentials file and access_key_id_env/secret_env/token_env exclude each other")
        } else if let idEnv, let secretEnv {
            return .environmentNamed(accessKeyId: idEnv, secret: secretEnv, token: tokenEnv)
        } else {
            problem("\(path).\(idEnv == nil ? "access_key_id_env" : "secret_env")", "access_key_id_env and secret_env go together")
        }
        return credentials
    }

    /// `apps`: the tenants that may use the profile (needs `server.tenant_param`).
    mutating func apps(_ t: TOMLTable, _ path: String, tenantParam: String?) -> [String] {
        var apps: [String] = []
        for (i, app) in (strings(t, "apps", path) ?? []).enumerated() {
            if app.utf8.count > 128 || !ASCII.isVisible(app) {
                problem("\(path).apps[\(i)]", "an app id is 1-128 printable ASCII characters")
            } else if !apps.contains(app) {
                apps.append(app)
            }
        }
        if !apps.isEmpty && tenantParam == nil {
            problem("\(path).apps", "needs server.tenant_param: the param the web server sets to the requesting app")
        }
        return apps
    }

    /// `[profiles.NAME.callback]`, for stores whose policies carry one.
    mutating func callback(_ t: TOMLTable, _ path: String, _ store: Store, format: ResponseFormat) -> CallbackSpec? {
        guard let value = t["callback"] else { return nil }
        guard store.isAliyun else {
            problem("\(path).callback", "upload callbacks are an Aliyun OSS feature; \(store.name) profiles have none")
            return nil
        }
        guard let table = value.table else {
            problem("\(path).callback", "must be a table")
            return nil
        }
        return callbackSpec(table, "\(path).callback", format: format)
    }

    /// Refuses `key` when `provider` has no form field for it.
    mutating func unsupported(_ t: TOMLTable, _ path: String, _ key: String, _ provider: Provider, when missing: Bool) {
        if missing && t[key] != nil {
            problem("\(path).\(key)", "\(provider.rawValue) forms have no field for it")
        }
    }

    /// The keys that add pinned form fields, checked against what `provider`'s forms can carry.
    mutating func pins(_ t: TOMLTable, _ path: String, provider: Provider) -> Profile.Pins {
        let store = provider.store
        let names = store.vocabulary
        unsupported(t, path, "success_action_status", provider, when: !names.hasStandardFields)
        unsupported(t, path, "cache_control", provider, when: !names.hasStandardFields)
        unsupported(t, path, "content_disposition", provider, when: !names.hasStandardFields)
        unsupported(t, path, "forbid_overwrite", provider, when: !store.forbidsOverwrite)
        unsupported(t, path, "object_acl", provider, when: names.acl == nil)
        unsupported(t, path, "server_side_encryption", provider, when: names.serverSideEncryption == nil)
        unsupported(t, path, "meta", provider, when: names.metaPrefix == nil)
        var p = Profile.Pins()
        if let n = int(t, "success_action_status", path, 200...201) { p.successActionStatus = n }
        if let b = bool(t, "forbid_overwrite", path) { p.forbidOverwrite = b }
        if let acl = string(t, "object_acl", path), names.acl != nil {
            if store.objectACLs.contains(acl) {
                p.objectACL = acl
            } else {
                problem("\(path).object_acl", "must be one of " + store.objectACLs.joined(separator: ", "))
            }
        }
        if let cc = string(t, "cache_control", path) {
            if cc.isEmpty || cc.utf8.count > 256 || !cc.utf8.allSatisfy({ ASCII.isPrintable($0) && $0 != UInt8(ascii: "$") }) {
                problem("\(path).cache_control", "must be 1-256 printable ASCII characters without '$', such as max-age=31536000")
            } else {
                p.cacheControl = cc
            }
        }
        if let d = string(t, "content_disposition", path) {
            if let type = Profile.DispositionType(rawValue: d) {
                p.contentDisposition = type
            } else {
                problem("\(path).content_disposition", "must be attachment or inline")
            }
        }
        if let e = string(t, "server_side_encryption", path), names.serverSideEncryption != nil {
            if store.encryptions.contains(e) {
                p.serverSideEncryption = e
            } else {
                problem("\(path).server_side_encryption", "must be one of " + store.encryptions.joined(separator: ", "))
            }
        }
        if let k = string(t, "server_side_encryption_key_id", path) {
            if p.serverSideEncryption == nil || p.serverSideEncryption != store.kmsEncryption {
                problem("\(path).server_side_encryption_key_id", "only with server_side_encryption = \"\(store.kmsEncryption ?? "KMS")\"")
            } else if k.utf8.count > 256 || !ASCII.isVisible(k) || k.contains("$") {
                problem("\(path).server_side_encryption_key_id", "must be a KMS key id")
            } else {
                p.serverSideEncryptionKeyId = k
            }
        }
        for (i, name) in (strings(t, "meta", path) ?? []).enumerated() {
            let lower = name.lowercased()
            if lower.isEmpty || lower.utf8.count > 64 || !lower.utf8.allSatisfy({ ASCII.isWordByte($0) || $0 == UInt8(ascii: "-") }) {
                problem(
                    "\(path).meta[\(i)]",
                    "a metadata name is 1-64 letters, digits, '-' or '_' (without the \(names.metaPrefix ?? "x-oss-meta-") prefix)")
            } else if !p.meta.contains(lower) {
                p.meta.append(lower)
            }
        }
        if let n = int(t, "meta_max_length", path, 1...2048) { p.metaMaxLength = n }
        return p
    }
}
