import Crypto
import JSONText

/// A profile's upload callback: where OSS calls after the upload and with what body. Turned once,
/// at configuration time, into the base64 `callback` form field the policy pins.
public struct CallbackSpec: Sendable, Equatable {
    /// Callback URLs (at most 5; OSS tries them in order).
    public var urls: [String]
    /// The `Host` header OSS sends, if set.
    public var host: String?
    /// The body template, with `${bucket}`, `${object}`, ... and `${x:name}` variables.
    public var body: String
    /// `application/json` or `application/x-www-form-urlencoded`.
    public var bodyType: String
    /// `callbackSNI`, if set.
    public var sni: Bool?
    /// The custom `x:` variables the body uses, in order of first use (without `x:`).
    public let variables: [String]
    /// The `callback` form field: base64 of the callback JSON.
    public let field: String

    /// Builds the spec and its form field; the variables are read from `body`.
    public init(urls: [String], host: String?, body: String, bodyType: String, sni: Bool?) {
        self.urls = urls
        self.host = host
        self.body = body
        self.bodyType = bodyType
        self.sni = sni
        variables = Self.customVariables(in: body)
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.field("callbackUrl", urls.joined(separator: ";"))
        if let host { w.field("callbackHost", host) }
        w.field("callbackBody", body)
        w.field("callbackBodyType", bodyType)
        if let sni { w.key("callbackSNI"); w.bool(sni) }
        w.endObject()
        field = Base64.encode(w.bytes)
    }

    /// The names of the `${x:name}` variables in `body`, each once, in order.
    static func customVariables(in body: String) -> [String] {
        var names: [String] = []
        var rest = Substring(body)
        while let start = rest.firstRange(of: "${x:") {
            let after = rest[start.upperBound...]
            guard let end = after.firstIndex(of: "}") else { break }
            let name = String(after[..<end])
            if !names.contains(name) { names.append(name) }
            rest = after[after.index(after: end)...]
        }
        return names
    }
}
