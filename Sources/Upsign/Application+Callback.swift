import ASCIIText
import CGI
import Crypto
import JSONText
import Logging
import PostPolicy

extension Application {
    /// Verifies an OSS upload callback (`POST {base}/callback`) and, when it holds, records the
    /// upload and answers the configured JSON, which OSS relays to the uploader.
    ///
    /// OSS signs `url-decoded path` + (`?` + raw query) + `\n` + body with RSA (PKCS#1 v1.5, MD5),
    /// sends the signature base64 in `authorization` and the base64 URL of its public key in
    /// `x-oss-pub-key-url`. The path is `REQUEST_URI`'s, as OSS sent it, not one nginx rewrote.
    public func verifyCallback(_ request: CGIRequest) -> Result<[UInt8], APIError> {
        let body: [UInt8]
        switch request.body {
        case .bytes(let b): body = b
        case .tooLarge: return .failure(.bodyTooLarge(limit: configuration.server.maxBody))
        case .invalidLength, .truncated: return .failure(.invalidRequest("the callback body does not match CONTENT_LENGTH"))
        }
        guard let authorization = request.param("HTTP_AUTHORIZATION") else { return .failure(.callbackUnsigned) }
        guard let signature = Base64.decode(authorization), !signature.isEmpty else {
            return .failure(.invalidRequest("authorization is not base64"))
        }

        var keyURL: String?
        if !publicKeys.isPinned {
            guard let encoded = request.param("HTTP_X_OSS_PUB_KEY_URL") else {
                return .failure(.invalidRequest("x-oss-pub-key-url is missing"))
            }
            guard let decoded = Base64.decode(encoded), let url = String(validating: decoded, as: UTF8.self),
                ASCII.isVisible(url)
            else {
                return .failure(.invalidRequest("x-oss-pub-key-url is not a base64 URL"))
            }
            guard Self.isPlainURL(url), configuration.callback.publicKeyURLPrefixes.contains(where: { url.hasPrefix($0) }) else {
                logger.warning("callback refused: public key URL not allowed", metadata: ["callback.key_url": .string(String(url.prefix(256)))])
                return .failure(.keyURLNotAllowed)
            }
            keyURL = url
        }

        guard let signed = Self.callbackStringToSign(request, body: body) else {
            return .failure(.invalidRequest("the request path has bad percent-encoding"))
        }
        let key: PublicKey
        switch publicKeys.key(for: keyURL) {
        case .success(let k): key = k
        case .failure(let e):
            logger.error("callback refused: public key unavailable", metadata: ["error": .string(e.description)])
            return .failure(.keyFetchFailed)
        }
        guard key.verify(signature: signature, message: signed, digest: .md5) else {
            logger.warning("callback refused: signature does not verify")
            return .failure(.callbackSignatureInvalid)
        }

        let parsed: [(String, String)]
        switch Self.callbackValues(body, mediaType: request.mediaType) {
        case .success(let v): parsed = v
        case .failure(let e): return .failure(e)
        }
        var values = parsed
        switch checkBinding(values) {
        case .success(let bound?):
            // The user is the one the upload was issued to: set, and compared below, from the proof.
            if let said = values.first(where: { $0.0 == "x:user" || $0.0 == "user" })?.1, said != bound.user {
                logger.warning("callback refused: its user differs from the one the upload was issued to")
                return .failure(.callbackNotBound(CallbackBinding.Refusal.mismatch.description))
            }
            values.removeAll { $0.0 == "user" || $0.0 == "x:user" }
            values.append(("user", bound.user))
        case .success(nil):
            break
        case .failure(let refusal):
            logger.warning("callback refused: not bound to an upload issued here", metadata: ["reason": .string(refusal.description)])
            return .failure(.callbackNotBound(refusal.description))
        }
        if let relay {
            return forward(values, through: relay)
        }
        if let records {
            switch records.append(Self.record(values, at: clock())) {
            case .failure(let e):
                logger.error("callback verified but not recorded", metadata: ["error": .string(e.description)])
                return .failure(.recordFailed)
            case .success(.alreadyRecorded):
                // A resend (nginx retries on a new connection when upsign restarts): the same
                // answer, no second record.
                logger.notice("callback of an upload already recorded: not recorded again")
            case .success(.recorded):
                break
            }
        }
        return .success(Self.render(configuration.callback.response, values))
    }

    /// Posts the verified upload to the application and answers what it answered; a resend of
    /// an upload it already answered gets the same answer without asking it again.
    func forward(_ values: [(String, String)], through relay: UploadRelay) -> Result<[UInt8], APIError> {
        let record = Self.record(values, at: clock())
        let id = UploadRelay.uploadID(record: record, token: values.first(where: { $0.0 == CallbackBinding.tokenMember })?.1)
        switch relay.deliver(id: id, body: UploadRelay.body(record: record, id: id)) {
        case .success(let (answer, repeated)):
            if repeated { logger.notice("callback of an upload already delivered: answered as before", metadata: ["upload.id": .string(id)]) }
            return .success(answer)
        case .failure(let failure):
            logger.error(
                "callback verified but not delivered",
                metadata: [
                    "upload.id": .string(id), "forward": .string(relay.target.description), "error": .string(failure.description),
                ])
            switch failure {
            case .timedOut: return .failure(.forwardTimedOut)
            case .unreachable: return .failure(.forwardFailed("the application could not be reached"))
            case .refused(let status): return .failure(.forwardFailed("the application answered HTTP \(status)"))
            case .invalidAnswer(let why): return .failure(.forwardFailed("the application's answer is \(why)"))
            }
        }
    }

    /// The upload a callback's binding proves upsign issued; nil for a callback without one when
    /// `require_binding` is off. A call OSS signed is still refused when its token is missing
    /// (and required), malformed, expired, or does not cover the bucket and object OSS reports.
    func checkBinding(_ values: [(String, String)]) -> Result<CallbackBinding.Bound?, CallbackBinding.Refusal> {
        func value(_ name: String) -> String? { values.first(where: { $0.0 == name })?.1 }
        guard let token = value(CallbackBinding.tokenMember) else {
            return configuration.callback.requireBinding ? .failure(.missing) : .success(nil)
        }
        guard let binding else { return .failure(.mismatch) }
        guard let bucket = value(CallbackBinding.bucketMember), let object = value(CallbackBinding.objectMember) else {
            return .failure(.malformed)
        }
        return binding.verify(token, bucket: bucket, object: object, now: clock().secondsSince1970).map { $0 }
    }

    /// True for a URL a prefix check can be trusted on: `http(s)://`, then only unreserved
    /// characters and `/` `:` (no percent-escapes, query, fragment or user info), and no `.` or
    /// `..` segment that a client or server would resolve out of the allowed prefix.
    static func isPlainURL(_ url: String) -> Bool {
        let rest: Substring
        if url.hasPrefix("https://") { rest = url.dropFirst(8) } else if url.hasPrefix("http://") { rest = url.dropFirst(7) } else { return false }
        guard rest.utf8.allSatisfy({ ASCII.isUnreserved($0) || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") }) else { return false }
        return !rest.split(separator: "/", omittingEmptySubsequences: false).dropFirst().contains { $0 == "." || $0 == ".." }
    }

    /// The bytes OSS signs: the url-decoded path, `?` and the raw query when there is one, a
    /// newline and the body.
    static func callbackStringToSign(_ request: CGIRequest, body: [UInt8]) -> [UInt8]? {
        let uri: String
        if let requestURI = request.param("REQUEST_URI") {
            uri = requestURI
        } else {
            let query = request.queryString
            uri = request.path + (query.isEmpty ? "" : "?" + query)
        }
        let rawPath: Substring
        var query: Substring?
        if let q = uri.firstIndex(of: "?") {
            rawPath = uri[..<q]
            query = uri[uri.index(after: q)...]
        } else {
            rawPath = uri[...]
        }
        guard var out = ASCII.percentDecoded(rawPath.utf8, plusAsSpace: false) else { return nil }
        if let query {
            out.append(UInt8(ascii: "?"))
            out.append(contentsOf: query.utf8)
        }
        out.append(0x0A)
        out.append(contentsOf: body)
        return out
    }

    /// The callback body's name/value pairs: a flat JSON object or a form, each name once.
    static func callbackValues(_ body: [UInt8], mediaType: String?) -> Result<[(String, String)], APIError> {
        switch mediaType {
        case "application/json"?:
            do {
                let object = try FlatJSONObject.parse(body)
                return .success(
                    object.members.compactMap { key, value in
                        switch value {
                        case .string(let s): (key, s)
                        case .number(let n): (key, n)
                        case .bool(let b): (key, b ? "true" : "false")
                        case .null: nil
                        }
                    })
            } catch {
                return .failure(.invalidRequest("the callback body is not a flat JSON object: \(error)"))
            }
        case "application/x-www-form-urlencoded"?, nil:
            guard let text = String(validating: body, as: UTF8.self) else {
                return .failure(.invalidRequest("the callback body is not UTF-8"))
            }
            let pairs: [(String, String)]
            do {
                pairs = try FormURLEncoding.decode(text, source: "callback body")
            } catch {
                return .failure(error)
            }
            // As for JSON bodies: a name given twice is refused, never resolved by order.
            for (index, pair) in pairs.enumerated() where pairs[..<index].contains(where: { $0.0 == pair.0 }) {
                return .failure(.invalidRequest("the callback body names '\(pair.0)' more than once"))
            }
            return .success(pairs)
        default:
            return .failure(.invalidRequest("the callback body must be JSON or a form"))
        }
    }

    /// `{"bucket","key","size","mimeType","etag","user","time"}` from the callback's values.
    static func record(_ values: [(String, String)], at time: Timestamp) -> [UInt8] {
        func value(_ names: String...) -> String? {
            for n in names { if let v = values.first(where: { $0.0 == n })?.1 { return v } }
            return nil
        }
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.field("bucket", value(CallbackBinding.bucketMember, "bucket") ?? "")
        w.field("key", value(CallbackBinding.objectMember, "object", "key") ?? "")
        if let size = value("size"), let n = Int64(size) {
            w.key("size")
            w.integer(n)
        } else {
            w.field("size", value("size") ?? "")
        }
        w.field("mimeType", value("mimeType") ?? "")
        w.field("etag", value("etag") ?? "")
        w.field("user", value("user", "x:user") ?? "")
        w.field("time", time.iso8601Milliseconds)
        w.endObject()
        return w.bytes
    }

    /// The response template with each `${name}` replaced by the callback's value, escaped for
    /// use inside a JSON string; unknown names become empty.
    static func render(_ template: String, _ values: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(template.utf8.count + 128)
        let t = Array(template.utf8)
        var i = 0
        while i < t.count {
            if t[i] == UInt8(ascii: "$"), i + 1 < t.count, t[i + 1] == UInt8(ascii: "{"),
                let end = t[(i + 2)...].firstIndex(of: UInt8(ascii: "}"))
            {
                let name = String(decoding: t[(i + 2)..<end], as: UTF8.self)
                let lookup = name == "user" ? ["user", "x:user"] : [name]
                if let v = lookup.lazy.compactMap({ n in values.first(where: { $0.0 == n })?.1 }).first {
                    var quoted: [UInt8] = []
                    JSONWriter.appendQuoted(v, to: &quoted)
                    out.append(contentsOf: quoted.dropFirst().dropLast())
                }
                i = end + 1
            } else {
                out.append(t[i])
                i += 1
            }
        }
        return out
    }
}
