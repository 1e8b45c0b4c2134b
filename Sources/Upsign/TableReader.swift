import PostPolicy
import TOMLKit

/// Walks the TOML tree, converting values and recording problems with their paths.
struct TableReader {
    var problems: [ConfigurationError.Problem] = []

    mutating func problem(_ path: String, _ message: String) {
        problems.append(.init(path: path, message: message))
    }

    mutating func checkKeys(_ table: TOMLTable, _ path: String, allowed: Set<String>) {
        for key in table.keys.sorted() where !allowed.contains(key) {
            problem(path.isEmpty ? key : "\(path).\(key)", "unknown key")
        }
    }

    mutating func string(_ table: TOMLTable, _ key: String, _ path: String) -> String? {
        guard let value = table[key] else { return nil }
        guard let s = value.string else { problem("\(path).\(key)", "must be a string"); return nil }
        return s
    }

    mutating func int(_ table: TOMLTable, _ key: String, _ path: String, _ range: ClosedRange<Int>) -> Int? {
        guard let value = table[key] else { return nil }
        guard let n = value.int else { problem("\(path).\(key)", "must be an integer"); return nil }
        guard range.contains(n) else {
            problem("\(path).\(key)", "must be between \(range.lowerBound) and \(range.upperBound)")
            return nil
        }
        return n
    }

    mutating func bool(_ table: TOMLTable, _ key: String, _ path: String) -> Bool? {
        guard let value = table[key] else { return nil }
        guard let b = value.bool else { problem("\(path).\(key)", "must be true or false"); return nil }
        return b
    }

    /// A number written as an integer or a decimal (`3` or `2.5`).
    mutating func number(_ table: TOMLTable, _ key: String, _ path: String) -> Double? {
        guard let value = table[key] else { return nil }
        if let n = value.int { return Double(n) }
        guard let d = value.double, d.isFinite else { problem("\(path).\(key)", "must be a number"); return nil }
        return d
    }

    mutating func strings(_ table: TOMLTable, _ key: String, _ path: String) -> [String]? {
        guard let value = table[key] else { return nil }
        guard let array = value.array else { problem("\(path).\(key)", "must be an array of strings"); return nil }
        var out: [String] = []
        for (i, element) in array.enumerated() {
            guard let s = element.string else { problem("\(path).\(key)[\(i)]", "must be a string"); continue }
            out.append(s)
        }
        return out
    }

    mutating func configuration(_ root: TOMLTable) -> Configuration {
        checkKeys(root, "", allowed: ["server", "profiles", "callback"])
        var server = ServerSettings()
        if let value = root["server"] {
            if let table = value.table {
                server = serverSettings(table)
            } else {
                problem("server", "must be a table")
            }
        }
        var profiles: [String: Profile] = [:]
        if let value = root["profiles"] {
            if let table = value.table {
                for name in table.keys.sorted() {
                    let path = "profiles.\(name)"
                    guard Self.isProfileName(name) else {
                        problem(path, "profile names use letters, digits, '-' and '_' (at most 64)")
                        continue
                    }
                    guard let t = table[name]?.table else { problem(path, "must be a table"); continue }
                    if let p = profile(name, t, path, maxExpiresIn: server.maxExpiresIn, tenantParam: server.tenantParam) { profiles[name] = p }
                }
            } else {
                problem("profiles", "must be a table of profiles")
            }
        }
        if profiles.isEmpty && problems.allSatisfy({ !$0.path.hasPrefix("profiles.") }) {
            problem("profiles", "at least one profile is needed")
        }
        if let name = server.defaultProfile, profiles[name] == nil,
            problems.allSatisfy({ $0.path != "profiles.\(name)" && !$0.path.hasPrefix("profiles.\(name).") })
        {
            problem("server.default_profile", "no profile named '\(name)'")
        }
        var configuration = Configuration(server: server, profiles: profiles)
        if let value = root["callback"] {
            if let table = value.table {
                configuration.callback = callbackSettings(table)
            } else {
                problem("callback", "must be a table")
            }
        }
        if configuration.callback.bindingSecret == nil, let name = profiles.keys.sorted().first(where: { profiles[$0]?.callback != nil }),
            problems.allSatisfy({ !$0.path.hasPrefix("callback.binding_secret") })
        {
            problem("callback.binding_secret", "missing: profiles.\(name) has a callback, and each callback upsign signs carries a proof made with this secret (a file: openssl rand -hex 32 > /etc/upsign/callback-binding.key)")
        }
        return configuration
    }

    static func isHTTPURL(_ s: String) -> Bool {
        (s.hasPrefix("https://") || s.hasPrefix("http://")) && s.utf8.count <= 1024
            && !s.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F || $0 == UInt8(ascii: ";") })
    }

    mutating func callbackSettings(_ t: TOMLTable) -> CallbackSettings {
        let path = "callback"
        checkKeys(t, path, allowed: ["public_key_url_prefixes", "public_key_file", "ca_file", "records", "response", "binding_secret", "require_binding",
            "forward", "forward_timeout",
        ])
        var c = CallbackSettings()
        if let prefixes = strings(t, "public_key_url_prefixes", path) {
            for (i, p) in prefixes.enumerated() where !Self.isHTTPURL(p) || !p.dropFirst(8).contains("/") {
                problem("\(path).public_key_url_prefixes[\(i)]", "must be an http(s) URL prefix ending in a path, such as https://gosspublic.alicdn.com/")
            }
            c.allowedKeyURLPrefixes = prefixes
        }
        if let file = string(t, "public_key_file", path), !file.isEmpty {
            if !file.hasPrefix("/") {
                problem("\(path).public_key_file", "must be an absolute path")
            } else {
                c.publicKeyFile = file
            }
        }
        if let file = string(t, "ca_file", path), !file.isEmpty {
            if !file.hasPrefix("/") { problem("\(path).ca_file", "must be an absolute path") } else { c.caFile = file }
        }
        if let records = string(t, "records", path), !records.isEmpty {
            if !records.hasPrefix("/") { problem("\(path).records", "must be an absolute path") } else { c.records = records }
        }
        if let secret = string(t, "binding_secret", path) {
            if secret.hasPrefix("/")
                || (secret.hasPrefix(CredentialStore.credentialsDirectoryPrefix) && !secret.dropFirst(CredentialStore.credentialsDirectoryPrefix.count).contains("/"))
            {
                c.bindingSecret = secret
            } else {
                problem("\(path).binding_secret", "must be an absolute file path or \"$CREDENTIALS_DIRECTORY/NAME\" (systemd LoadCredential=)")
            }
        }
        if let on = bool(t, "require_binding", path) { c.requireBinding = on }
        if let response = string(t, "response", path) {
            if response.utf8.count > 1 << 20 { problem("\(path).response", "must be at most 1 MB") } else { c.response = response }
        }
        if let forward = string(t, "forward", path) {
            switch ForwardTarget.parse(forward) {
            case .success(let target): c.forward = target
            case .failure(let e): for p in e.problems { problem(p.path, p.message) }
            }
            if t["records"] != nil {
                problem("\(path).forward", "records and forward exclude each other: verified uploads go to the records file or to the application")
            }
            if t["response"] != nil {
                problem("\(path).response", "not used with forward: the application's answer is the callback's")
            }
        }
        if let seconds = number(t, "forward_timeout", path) {
            if CallbackSettings.forwardTimeoutRange.contains(seconds) {
                c.forwardTimeout = .milliseconds(Int64((seconds * 1000).rounded()))
            } else {
                problem("\(path).forward_timeout", "must be between 0.1 and 4.5 seconds: OSS waits 5 s for the whole callback")
            }
        }
        return c
    }

    /// `[profiles.NAME.callback]`.
    mutating func callbackSpec(_ t: TOMLTable, _ path: String, format: ResponseFormat) -> CallbackSpec? {
        let before = problems.count
        checkKeys(t, path, allowed: ["url", "host", "body", "body_type", "sni"])
        var urls: [String] = []
        if let one = t["url"]?.string {
            urls = [one]
        } else if t["url"]?.array != nil {
            urls = strings(t, "url", path) ?? []
        } else {
            problem("\(path).url", t["url"] == nil ? "missing" : "must be a URL or a list of up to 5")
        }
        if urls.isEmpty && t["url"] != nil { problem("\(path).url", "must name at least one URL") }
        if urls.count > 5 { problem("\(path).url", "OSS takes at most 5 callback URLs") }
        for (i, u) in urls.enumerated() where !Self.isHTTPURL(u) {
            problem(urls.count == 1 && t["url"]?.string != nil ? "\(path).url" : "\(path).url[\(i)]", "must be an http(s) URL without spaces or ';'")
        }
        let host = string(t, "host", path)
        if let host, host.isEmpty || !host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            problem("\(path).host", "must be a host name")
        }
        let body = string(t, "body", path)
        if body == nil && t["body"] == nil { problem("\(path).body", "missing") }
        var bodyType = "application/json"
        if let type = string(t, "body_type", path) {
            if type == "application/json" || type == "application/x-www-form-urlencoded" {
                bodyType = type
            } else {
                problem("\(path).body_type", "must be application/json or application/x-www-form-urlencoded")
            }
        }
        let sni = bool(t, "sni", path)
        if let body, bodyType == "application/json", !body.drop(while: { $0 == " " }).hasPrefix("{") {
            problem("\(path).body_type", "the body does not look like JSON; a body such as object=${object}&size=${size} needs body_type = \"application/x-www-form-urlencoded\"")
        }
        if format == .java {
            problem(path, "format \"java\" answers the Java bean, which has no callback field; use native, uppy or aliyun-appserver")
        }
        guard let body else { return nil }
        let spec = CallbackSpec(urls: urls, host: host, body: body, bodyType: bodyType, sni: sni)
        for name in spec.variables where name.isEmpty || !name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "_") }) {
            problem("\(path).body", "custom variable ${x:\(name)}: OSS takes lowercase letters, digits and '_' only")
        }
        return problems.count == before ? spec : nil
    }

    static func isProfileName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 64
            && s.utf8.allSatisfy { Self.isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
    }

    static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }

    mutating func serverSettings(_ t: TOMLTable) -> ServerSettings {
        let path = "server"
        checkKeys(
            t, path,
            allowed: [
                "base_path", "identity_param", "threads", "max_connections", "request_timeout", "max_body", "default_profile",
                "max_expires_in", "tenant_param", "metrics",
            ])
        var s = ServerSettings()
        if var base = string(t, "base_path", path) {
            while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
            if !base.hasPrefix("/") || base.contains("?") || base.contains("#") || base.contains(" ") {
                problem("\(path).base_path", "must be a path starting with '/' (no query, fragment or spaces)")
            } else {
                s.basePath = base == "/" ? "" : base
            }
        }
        if let name = string(t, "identity_param", path) {
            if name.isEmpty || name.utf8.count > 64
                || !name.utf8.allSatisfy({ Self.isAlnum($0) || $0 == UInt8(ascii: "_") })
            {
                problem("\(path).identity_param", "must be a FastCGI param name (letters, digits, '_')")
            } else if ServerSettings.isClientHeader(name) {
                problem("\(path).identity_param", "\(name) is a request header the client sends (the web server passes every header as HTTP_*): the client would choose its own identity; have the web server set a param of its own, such as fastcgi_param UPSIGN_USER $upstream_http_x_user")
            } else {
                s.identityParam = name
            }
        }
        if let n = int(t, "threads", path, 1...1024) { s.threads = n }
        if let n = int(t, "max_connections", path, 1...1_000_000) { s.maxConnections = n }
        if let n = int(t, "request_timeout", path, 1...3600) { s.requestTimeout = n }
        if let n = int(t, "max_body", path, 0...(16 << 20)) { s.maxBody = n }
        if let name = string(t, "default_profile", path) { s.defaultProfile = name }
        if let n = int(t, "max_expires_in", path, 1...604_800) { s.maxExpiresIn = n }
        if let on = bool(t, "metrics", path) { s.metrics = on }
        if let name = string(t, "tenant_param", path) {
            if name.isEmpty || name.utf8.count > 64 || !name.utf8.allSatisfy({ Self.isAlnum($0) || $0 == UInt8(ascii: "_") }) {
                problem("\(path).tenant_param", "must be a FastCGI param name (letters, digits, '_')")
            } else if ServerSettings.isClientHeader(name) {
                problem("\(path).tenant_param", "\(name) is a request header the client sends (the web server passes every header as HTTP_*): the client would choose its tenant; have the web server set a param of its own, such as fastcgi_param UPSIGN_APP")
            } else {
                s.tenantParam = name
            }
        }
        return s
    }

    static let profileKeys: Set<String> = [
        "provider", "signature", "bucket", "region", "endpoint", "key", "extensions", "content_types",
        "min_size", "max_size", "expires_in", "format", "require_user", "credentials",
        "success_action_status", "forbid_overwrite", "object_acl", "cache_control", "content_disposition",
        "server_side_encryption", "server_side_encryption_key_id", "meta", "meta_max_length", "formats",
        "callback", "apps", "access_key_id_env", "secret_env", "token_env",
    ]

    /// OSS's PostObject limit: an object posted by form is at most 5 GB.
    static let maxObjectSize: Int64 = 5 * 1024 * 1024 * 1024

    mutating func profile(_ name: String, _ t: TOMLTable, _ path: String, maxExpiresIn: Int, tenantParam: String?) -> Profile? {
        let before = problems.count
        checkKeys(t, path, allowed: Self.profileKeys)

        var provider = Provider.aliyunOSS
        if let s = string(t, "provider", path) {
            if let p = Provider(rawValue: s) {
                provider = p
            } else {
                problem("\(path).provider", "unsupported provider '\(s)'; supported: " + Provider.allCases.map(\.rawValue).joined(separator: ", "))
            }
        }
        var signature: SignatureVersion?
        if let s = string(t, "signature", path) {
            if let v = SignatureVersion(rawValue: s), provider.signatures.contains(v) {
                signature = v
            } else {
                problem("\(path).signature", "unsupported signature '\(s)' for \(provider.rawValue); supported: " + provider.signatures.map(\.rawValue).joined(separator: ", "))
            }
        }

        let bucket = string(t, "bucket", path)
        if let b = bucket, !Self.isBucketName(b, provider: provider) {
            problem("\(path).bucket", "not a valid bucket name (3-63 lowercase letters, digits and '-'\(provider == .s3 ? " or '.'" : provider == .gcs ? ", '.' or '_'" : ""), starting and ending with a letter or digit)")
        } else if bucket == nil, t["bucket"] == nil {
            problem("\(path).bucket", "missing")
        }

        var region = string(t, "region", path)
        if let r = region {
            let plain = provider == .aliyunOSS && r.hasPrefix("oss-") ? String(r.dropFirst(4)) : r
            if plain.isEmpty || !plain.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "-") }) {
                problem("\(path).region", "not a region id such as \(Self.exampleRegion(provider))")
            }
            region = plain
        } else if t["region"] == nil {
            region = provider.defaultRegion
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
                endpoint = provider.defaultEndpoint(bucket: b, region: r)
            } else {
                problem("\(path).endpoint", "missing (or set bucket and region to derive it)")
            }
        }

        var key: KeyTemplate?
        let keyText = string(t, "key", path) ?? (t["key"] == nil ? "uploads/{uuid}{ext}" : nil)
        if let text = keyText {
            do throws(KeyTemplate.ParseError) {
                key = try KeyTemplate(text)
            } catch {
                problem("\(path).key", error.description)
            }
        }

        var extensions: [String] = []
        for (i, e) in (strings(t, "extensions", path) ?? []).enumerated() {
            let lower = (e.hasPrefix(".") ? String(e.dropFirst()) : e).lowercased()
            if lower.isEmpty || lower.utf8.count > 16 || !lower.utf8.allSatisfy(Self.isAlnum) {
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
            } else if provider == .qiniu, lower.hasSuffix("/"), ContentType.storeLimit([lower]).isEmpty {
                problem("\(path).content_types[\(i)]", "Qiniu matches the type itself, and the family \(lower) holds types a browser runs and none upsign knows to be safe; list the exact types")
            } else if !contentTypes.contains(lower) {
                contentTypes.append(lower)
            }
        }

        let minSize = int(t, "min_size", path, 0...Int(Self.maxObjectSize)).map(Int64.init) ?? 0
        let maxSize = int(t, "max_size", path, 0...Int(Self.maxObjectSize)).map(Int64.init) ?? 1_048_576_000
        if minSize > maxSize { problem("\(path).min_size", "must not be larger than max_size (\(maxSize))") }
        let expiresIn = int(t, "expires_in", path, 1...604_800).map(Int64.init) ?? min(600, Int64(maxExpiresIn))
        if expiresIn > Int64(maxExpiresIn) {
            problem("\(path).expires_in", "must not exceed server.max_expires_in (\(maxExpiresIn) seconds)")
        }

        var format = ResponseFormat.native
        if let s = string(t, "format", path) {
            if let f = ResponseFormat(rawValue: s) {
                format = f
            } else {
                problem("\(path).format", "must be one of " + ResponseFormat.allCases.map(\.rawValue).joined(separator: ", "))
            }
        }
        // V4 is the default; the Java bean has no place for V4 fields, so java profiles sign V1.
        if format == .java, signature == .v4 {
            problem("\(path).signature", "format \"java\" answers the Java bean, which carries only V1 fields; use \"v1\" or format \"native\"")
        }
        let signatureVersion = signature ?? (format == .java ? .v1 : provider.signatures[0])
        if provider == .aliyunOSS, signatureVersion == .v4, region == nil, t["region"] == nil {
            problem("\(path).region", "missing: V4 signatures are scoped to a region (such as cn-hangzhou)")
        }
        let requireUser = bool(t, "require_user", path) ?? (key?.uses(.user) ?? false)
        if requireUser == false, key?.uses(.user) == true {
            problem("\(path).require_user", "the key template uses {user}, so a user is required")
        }

        let conventional = provider.environmentVariables
        let storeEnvironment: CredentialsSource = provider == .aliyunOSS
            ? .environment
            : .environmentNamed(accessKeyId: conventional.accessKeyId, secret: conventional.secret, token: conventional.token)
        var credentials = storeEnvironment
        if let s = string(t, "credentials", path) {
            if s == "env" {
                credentials = storeEnvironment
            } else if s.hasPrefix("/")
                || (s.hasPrefix(CredentialStore.credentialsDirectoryPrefix)
                    && s.count > CredentialStore.credentialsDirectoryPrefix.count
                    && !s.dropFirst(CredentialStore.credentialsDirectoryPrefix.count).contains("/"))
            {
                credentials = .file(path: s)
            } else {
                problem("\(path).credentials", "must be \"env\", an absolute file path or \"$CREDENTIALS_DIRECTORY/NAME\" (systemd LoadCredential=)")
            }
        }
        let idEnv = string(t, "access_key_id_env", path)
        let secretEnv = string(t, "secret_env", path)
        let tokenEnv = string(t, "token_env", path)
        if tokenEnv != nil && provider.vocabulary.securityToken == nil {
            problem("\(path).token_env", "\(provider.rawValue) keys have no session token")
        }
        for (key, name) in [("access_key_id_env", idEnv), ("secret_env", secretEnv), ("token_env", tokenEnv)] {
            if let name, name.isEmpty || !name.utf8.allSatisfy({ Self.isAlnum($0) || $0 == UInt8(ascii: "_") }) {
                problem("\(path).\(key)", "must be an environment variable name")
            }
        }
        if idEnv != nil || secretEnv != nil || tokenEnv != nil {
            if case .file = credentials {
                problem("\(path).credentials", "a credentials file and access_key_id_env/secret_env/token_env exclude each other")
            } else if let idEnv, let secretEnv {
                credentials = .environmentNamed(accessKeyId: idEnv, secret: secretEnv, token: tokenEnv)
            } else {
                problem("\(path).\(idEnv == nil ? "access_key_id_env" : "secret_env")", "access_key_id_env and secret_env go together")
            }
        }
        var apps: [String] = []
        for (i, app) in (strings(t, "apps", path) ?? []).enumerated() {
            if app.isEmpty || app.utf8.count > 128 || !app.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
                problem("\(path).apps[\(i)]", "an app id is 1-128 printable ASCII characters")
            } else if !apps.contains(app) {
                apps.append(app)
            }
        }
        if !apps.isEmpty && tenantParam == nil {
            problem("\(path).apps", "needs server.tenant_param: the param the web server sets to the requesting app")
        }

        var callback: CallbackSpec?
        if let value = t["callback"] {
            if provider != .aliyunOSS {
                problem("\(path).callback", "upload callbacks are an Aliyun OSS feature; \(provider.rawValue) profiles have none")
            } else if let table = value.table {
                callback = callbackSpec(table, "\(path).callback", format: format)
            } else {
                problem("\(path).callback", "must be a table")
            }
        }
        let pins = pins(t, path, provider: provider)
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
        guard let bucket, let endpoint, let key else { return nil }
        var profile = Profile(
            name: name, provider: provider, signature: signatureVersion, bucket: bucket, region: region,
            endpoint: endpoint, key: key, extensions: extensions, contentTypes: contentTypes,
            minSize: minSize, maxSize: maxSize, expiresIn: expiresIn, format: format,
            requireUser: requireUser, credentials: credentials)
        profile.pins = pins
        profile.formats = formats
        profile.callback = callback
        profile.apps = apps
        // The shape rules, once the profile is otherwise sound (a broken field is reported
        // once, by itself, not again as a shape it cannot answer).
        let sound = problems.count == before
        for f in formats where sound {
            if let why = profile.problem(answering: f) { problem(f == format ? "\(path).format" : "\(path).formats", why) }
        }
        return problems.count == before ? profile : nil
    }

    /// An example region id for `provider`, for error messages.
    static func exampleRegion(_ provider: Provider) -> String {
        switch provider {
        case .aliyunOSS: "cn-hangzhou"
        case .s3: "us-east-1"
        case .tencentCOS: "ap-guangzhou"
        case .huaweiOBS: "cn-north-4"
        case .qiniu: "z0"
        case .gcs: "auto"
        }
    }

    /// Refuses `key` when `provider` has no form field for it.
    mutating func unsupported(_ t: TOMLTable, _ path: String, _ key: String, _ provider: Provider, when missing: Bool) {
        if missing && t[key] != nil {
            problem("\(path).\(key)", "\(provider.rawValue) forms have no field for it")
        }
    }

    /// The keys that add pinned form fields, checked against what `provider`'s forms can carry.
    mutating func pins(_ t: TOMLTable, _ path: String, provider: Provider) -> Profile.Pins {
        let names = provider.vocabulary
        unsupported(t, path, "success_action_status", provider, when: !names.hasStandardFields)
        unsupported(t, path, "cache_control", provider, when: !names.hasStandardFields)
        unsupported(t, path, "content_disposition", provider, when: !names.hasStandardFields)
        unsupported(t, path, "forbid_overwrite", provider, when: names.forbidOverwrite == nil && provider != .qiniu)
        unsupported(t, path, "object_acl", provider, when: names.acl == nil)
        unsupported(t, path, "server_side_encryption", provider, when: names.serverSideEncryption == nil)
        unsupported(t, path, "meta", provider, when: names.metaPrefix == nil)
        var p = Profile.Pins()
        if let n = int(t, "success_action_status", path, 200...201) { p.successActionStatus = n }
        if let b = bool(t, "forbid_overwrite", path) { p.forbidOverwrite = b }
        if let acl = string(t, "object_acl", path), names.acl != nil {
            if provider.objectACLs.contains(acl) { p.objectACL = acl } else {
                problem("\(path).object_acl", "must be one of " + provider.objectACLs.joined(separator: ", "))
            }
        }
        if let cc = string(t, "cache_control", path) {
            if cc.isEmpty || cc.utf8.count > 256 || !cc.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "$") }) {
                problem("\(path).cache_control", "must be 1-256 printable ASCII characters without '$', such as max-age=31536000")
            } else {
                p.cacheControl = cc
            }
        }
        if let d = string(t, "content_disposition", path) {
            if let type = Profile.DispositionType(rawValue: d) { p.contentDisposition = type } else {
                problem("\(path).content_disposition", "must be attachment or inline")
            }
        }
        if let e = string(t, "server_side_encryption", path), names.serverSideEncryption != nil {
            if provider.encryptions.values.contains(e) { p.serverSideEncryption = e } else {
                problem("\(path).server_side_encryption", "must be one of " + provider.encryptions.values.joined(separator: ", "))
            }
        }
        if let k = string(t, "server_side_encryption_key_id", path) {
            if p.serverSideEncryption == nil || p.serverSideEncryption != provider.encryptions.kms {
                problem("\(path).server_side_encryption_key_id", "only with server_side_encryption = \"\(provider.encryptions.kms ?? "KMS")\"")
            } else if k.isEmpty || k.utf8.count > 256 || !k.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "$") }) {
                problem("\(path).server_side_encryption_key_id", "must be a KMS key id")
            } else {
                p.serverSideEncryptionKeyId = k
            }
        }
        for (i, name) in (strings(t, "meta", path) ?? []).enumerated() {
            let lower = name.lowercased()
            if lower.isEmpty || lower.utf8.count > 64
                || !lower.utf8.allSatisfy({ Self.isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") })
            {
                problem("\(path).meta[\(i)]", "a metadata name is 1-64 letters, digits, '-' or '_' (without the \(names.metaPrefix ?? "x-oss-meta-") prefix)")
            } else if !p.meta.contains(lower) {
                p.meta.append(lower)
            }
        }
        if let n = int(t, "meta_max_length", path, 1...2048) { p.metaMaxLength = n }
        return p
    }

    /// Bucket naming rules: 3-63 characters of lowercase letters, digits and hyphens (S3 and GCS
    /// also allow dots, GCS underscores), starting and ending with a letter or digit.
    static func isBucketName(_ s: String, provider: Provider = .aliyunOSS) -> Bool {
        let b = Array(s.utf8)
        guard (3...63).contains(b.count) else { return false }
        let dots = provider == .s3 || provider == .gcs
        let underscores = provider == .gcs
        let ok = b.allSatisfy {
            ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "-")
                || (dots && $0 == UInt8(ascii: ".")) || (underscores && $0 == UInt8(ascii: "_"))
        }
        return ok && b.first != UInt8(ascii: "-") && b.last != UInt8(ascii: "-")
    }
}
