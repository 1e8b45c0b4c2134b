import ASCIIText

/// Where verified uploads are posted (`[callback] forward`): an `http://` or `https://` URL, or a
/// unix socket in nginx's spelling, `unix:/run/app/app.sock:/uploads` (the socket's path, a
/// colon, and the request path).
public struct ForwardTarget: Sendable, Equatable, CustomStringConvertible {
    /// The URL posted to; for a unix socket, `http://localhost` and the request path.
    public let url: String
    /// The unix socket connected to instead of the URL's host, if any.
    public let unixSocket: String?
    /// The URL's host (`[::1]` with its brackets), or nil for a unix socket.
    public let host: String?
    /// The value as configured.
    public let description: String

    /// True when the uploads travel in the clear to another machine: plain `http://` to a host
    /// other than `localhost`, `127.x.x.x` or `[::1]`.
    public var isPlainHTTPToAnotherHost: Bool {
        guard let host, url.hasPrefix("http://") else { return false }
        return !(host == "localhost" || host == "[::1]" || host.hasPrefix("127."))
    }

    /// The target `text` names, or why it names none.
    public static func parse(_ text: String) -> Result<ForwardTarget, ConfigurationError> {
        func refuse(_ why: String) -> Result<ForwardTarget, ConfigurationError> {
            .failure(ConfigurationError(problems: [.init(path: "callback.forward", message: why)]))
        }
        let usage = "must be an http(s)://host[:port]/path URL or unix:/path/to.sock:/path"
        guard !text.isEmpty, text.utf8.count <= 1024, ASCII.isVisible(text), !text.contains("#") else {
            return refuse(usage + ", in printable ASCII without spaces")
        }
        if text.hasPrefix("unix:") {
            let rest = text.dropFirst(5)
            guard let colon = rest.firstIndex(of: ":") else { return refuse(usage) }
            let socket = String(rest[..<colon])
            let path = String(rest[rest.index(after: colon)...])
            guard socket.hasPrefix("/"), socket.utf8.count < 108 else {
                return refuse("the socket must be an absolute path of at most 107 bytes: " + usage)
            }
            guard path.hasPrefix("/") else { return refuse("the request path must start with '/': " + usage) }
            return .success(ForwardTarget(url: "http://localhost" + path, unixSocket: socket, host: nil, description: text))
        }
        let rest: Substring
        if text.hasPrefix("http://") {
            rest = text.dropFirst(7)
        } else if text.hasPrefix("https://") {
            rest = text.dropFirst(8)
        } else {
            return refuse(usage)
        }
        guard let slash = rest.firstIndex(of: "/") else { return refuse("the URL must name a path: " + usage) }
        let authority = rest[..<slash]
        guard !authority.isEmpty, !authority.contains("@"), !authority.hasPrefix(":") else {
            return refuse("the URL must name a host (and no user): " + usage)
        }
        // The port, if any: after `]` for an IPv6 literal, else after the host's one colon.
        let afterHost = authority.hasPrefix("[") ? authority.drop { $0 != "]" }.dropFirst() : authority.drop { $0 != ":" }
        if authority.hasPrefix("[") && !authority.contains("]") { return refuse("the URL's IPv6 host lacks its ']': " + usage) }
        if !afterHost.isEmpty {
            let digits = afterHost.dropFirst()
            guard afterHost.first == ":", !digits.isEmpty, digits.count <= 5, digits.allSatisfy({ ("0"..."9").contains($0) }),
                let port = Int(digits), (1...65535).contains(port)
            else { return refuse("the URL's port must be a number from 1 to 65535: " + usage) }
        }
        let host = authority.dropLast(afterHost.count)
        return .success(ForwardTarget(url: text, unixSocket: nil, host: String(host), description: text))
    }
}
