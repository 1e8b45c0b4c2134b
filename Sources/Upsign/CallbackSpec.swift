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
        field = Self.field(urls: urls, host: host, body: body, bodyType: bodyType, sni: sni)
    }

    /// The `callback` field for one upload: the body with upsign's binding members added (the
    /// token as literal text, the bucket and the object as OSS fills them), so `/callback` can
    /// tell an upload it issued from any other OSS-signed call (`CallbackBinding`).
    public func field(boundBy token: String) -> String {
        let t = CallbackBinding.self
        let bound: String
        if bodyType == "application/json" {
            // `{...}` → `{..., "upsign_bind":"TOKEN","upsign_bucket":${bucket},"upsign_object":${object}}`;
            // OSS writes `${bucket}` and `${object}` as JSON strings in a JSON body.
            let members = "\"\(t.tokenMember)\":\"\(token)\",\"\(t.bucketMember)\":${bucket},\"\(t.objectMember)\":${object}"
            if let close = body.lastIndex(of: "}") {
                let head = body[..<close]
                let empty = head.drop(while: { $0 == " " || $0 == "{" || $0 == "\n" || $0 == "\t" }).isEmpty
                bound = head + (empty ? "" : ",") + members + body[close...]
            } else {
                bound = body
            }
        } else {
            bound = body + "&\(t.tokenMember)=\(token)&\(t.bucketMember)=${bucket}&\(t.objectMember)=${object}"
        }
        return Self.field(urls: urls, host: host, body: bound, bodyType: bodyType, sni: sni)
    }

    static func field(urls: [String], host: String?, body: String, bodyType: String, sni: Bool?) -> String {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.field("callbackUrl", urls.joined(separator: ";"))
        if let host { w.field("callbackHost", host) }
        w.field("callbackBody", body)
        w.field("callbackBodyType", bodyType)
        if let sni {
            w.key("callbackSNI")
            w.bool(sni)
        }
        w.endObject()
        return Base64.encode(w.bytes)
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
