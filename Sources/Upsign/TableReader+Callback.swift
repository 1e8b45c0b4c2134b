import ASCIIText
import TOMLKit

extension TableReader {
    static func isHTTPURL(_ s: String) -> Bool {
        (s.hasPrefix("https://") || s.hasPrefix("http://")) && s.utf8.count <= 1024
            && !s.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F || $0 == UInt8(ascii: ";") })
    }

    /// The keys `[callback]` takes.
    static let callbackKeys: Set<String> = [
        "public_key_url_prefixes", "public_key_file", "ca_file", "records", "response", "binding_secret", "require_binding",
        "forward", "forward_timeout",
    ]

    /// The keys `[profiles.NAME.callback]` takes.
    static let profileCallbackKeys: Set<String> = ["url", "host", "body", "body_type", "sni"]

    mutating func callbackSettings(_ t: TOMLTable) -> CallbackSettings {
        let path = "callback"
        checkKeys(t, path, allowed: Self.callbackKeys)
        var c = CallbackSettings()
        if let prefixes = strings(t, "public_key_url_prefixes", path) {
            for (i, p) in prefixes.enumerated() where !Self.isHTTPURL(p) || !p.dropFirst(8).contains("/") {
                problem(
                    "\(path).public_key_url_prefixes[\(i)]", "must be an http(s) URL prefix ending in a path, such as https://gosspublic.alicdn.com/")
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
                || (secret.hasPrefix(CredentialStore.credentialsDirectoryPrefix)
                    && !secret.dropFirst(CredentialStore.credentialsDirectoryPrefix.count).contains("/"))
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
        checkKeys(t, path, allowed: Self.profileCallbackKeys)
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
        if let host, !ASCII.isVisible(host) {
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
            problem(
                "\(path).body_type",
                "the body does not look like JSON; a body such as object=${object}&size=${size} needs body_type = \"application/x-www-form-urlencoded\""
            )
        }
        if format == .java {
            problem(path, "format \"java\" answers the Java bean, which has no callback field; use native, uppy or aliyun-appserver")
        }
        guard let body else { return nil }
        let spec = CallbackSpec(urls: urls, host: host, body: body, bodyType: bodyType, sni: sni)
        for name in spec.variables where name.isEmpty || !name.utf8.allSatisfy({ ASCII.isLowerAlnum($0) || $0 == UInt8(ascii: "_") }) {
            problem("\(path).body", "custom variable ${x:\(name)}: OSS takes lowercase letters, digits and '_' only")
        }
        return problems.count == before ? spec : nil
    }
}
