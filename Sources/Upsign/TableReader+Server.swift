import ASCIIText
import TOMLKit

extension TableReader {
    /// The keys `[server]` takes.
    static let serverKeys: Set<String> = [
        "base_path", "identity_param", "threads", "max_connections", "request_timeout", "max_body", "default_profile",
        "max_expires_in", "tenant_param", "metrics",
    ]

    mutating func serverSettings(_ t: TOMLTable) -> ServerSettings {
        let path = "server"
        checkKeys(t, path, allowed: Self.serverKeys)
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
            if name.utf8.count > 64 || !ASCII.isWord(name) {
                problem("\(path).identity_param", "must be a FastCGI param name (letters, digits, '_')")
            } else if ServerSettings.isClientHeader(name) {
                problem(
                    "\(path).identity_param",
                    "\(name) is a request header the client sends (the web server passes every header as HTTP_*): the client would choose its own identity; have the web server set a param of its own, such as fastcgi_param UPSIGN_USER $upstream_http_x_user"
                )
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
            if name.utf8.count > 64 || !ASCII.isWord(name) {
                problem("\(path).tenant_param", "must be a FastCGI param name (letters, digits, '_')")
            } else if ServerSettings.isClientHeader(name) {
                problem(
                    "\(path).tenant_param",
                    "\(name) is a request header the client sends (the web server passes every header as HTTP_*): the client would choose its tenant; have the web server set a param of its own, such as fastcgi_param UPSIGN_APP"
                )
            } else {
                s.tenantParam = name
            }
        }
        return s
    }
}
