import CGI
import JSONText
import PostPolicy

/// What a client may say about the upload it wants a policy for. Everything else (bucket, key,
/// limits) comes from the profile.
public struct PolicyParameters: Sendable, Equatable {
    /// The profile's name.
    public var profile: String?
    /// The original file name (only its extension is used).
    public var filename: String?
    /// The file's media type.
    public var contentType: String?
    /// The file's size in bytes, when the client announces it.
    public var size: Int64?
    /// The answer shape, overriding the profile's.
    public var format: ResponseFormat?
    /// The parameter prefixes that ask for user metadata: any store's own (a client written for
    /// one store keeps working against another) and the neutral `meta-`.
    static let metaPrefixes = Provider.allCases.compactMap(\.store.vocabulary.metaPrefix) + ["meta-"]

    /// User metadata the client asks for (`x-oss-meta-NAME=value`, `x-amz-meta-NAME`, `meta-NAME`, ...),
    /// names lowercased without the prefix.
    public var meta: [(name: String, value: String)] = []
    /// Values for the profile's callback variables (`x:NAME=value`), names without `x:`.
    public var callbackVariables: [(name: String, value: String)] = []

    public static func == (a: PolicyParameters, b: PolicyParameters) -> Bool {
        a.profile == b.profile && a.filename == b.filename && a.contentType == b.contentType && a.size == b.size
            && a.format == b.format && a.meta.map(\.name) == b.meta.map(\.name) && a.meta.map(\.value) == b.meta.map(\.value)
            && a.callbackVariables.map(\.name) == b.callbackVariables.map(\.name)
            && a.callbackVariables.map(\.value) == b.callbackVariables.map(\.value)
    }

    /// Creates parameters.
    public init(profile: String? = nil, filename: String? = nil, contentType: String? = nil, size: Int64? = nil, format: ResponseFormat? = nil) {
        self.profile = profile
        self.filename = filename
        self.contentType = contentType
        self.size = size
        self.format = format
    }

    /// The most parameters a request may carry (a policy request needs five).
    public static let maxPairs = 64

    /// Reads the parameters from the query string and, for a POST, from a form or JSON body.
    /// A parameter given twice (in one source or across them) is an error; unknown ones are ignored.
    public static func parse(_ request: CGIRequest) throws(APIError) -> PolicyParameters {
        var pairs = try FormURLEncoding.decode(request.queryString, source: "query string")
        if case .bytes(let body) = request.body, !body.isEmpty {
            switch request.mediaType {
            case "application/x-www-form-urlencoded"?:
                guard let text = String(validating: body, as: UTF8.self) else {
                    throw .invalidRequest("the form body is not UTF-8")
                }
                pairs += try FormURLEncoding.decode(text, source: "form body")
            case "application/json"?:
                pairs += try jsonPairs(body)
            default:
                throw .unsupportedMediaType
            }
        }
        guard pairs.count <= maxPairs else {
            throw .invalidRequest("more than \(maxPairs) parameters")
        }
        var p = PolicyParameters()
        for (index, (name, value)) in pairs.enumerated() {
            // A handful of pairs: a linear look-back is cheaper than hashing them.
            guard !pairs[..<index].contains(where: { $0.0 == name }) else {
                throw .invalidRequest("parameter '\(name)' is given more than once")
            }
            switch name {
            case "profile":
                guard value.utf8.count <= 64 else { throw .invalidRequest("profile is too long") }
                p.profile = value.isEmpty ? nil : value
            case "filename":
                guard value.utf8.count <= 1024 else { throw .invalidRequest("filename is longer than 1024 bytes") }
                p.filename = value.isEmpty ? nil : value
            case "contentType":
                guard !value.isEmpty else { continue }
                let lower = value.lowercased()
                guard ContentType.isValid(lower) else {
                    throw .invalidRequest("contentType must be a media type such as image/png, without parameters")
                }
                p.contentType = lower
            case "size":
                guard !value.isEmpty else { continue }
                guard value.utf8.count <= 16, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int64(value) else {
                    throw .invalidRequest("size must be a whole number of bytes")
                }
                p.size = n
            case "format":
                guard !value.isEmpty else { continue }
                guard let f = ResponseFormat(rawValue: value) else {
                    throw .invalidRequest("format must be one of " + ResponseFormat.allCases.map(\.rawValue).joined(separator: ", "))
                }
                p.format = f
            default:
                let lower = name.lowercased()
                if let prefix = Self.metaPrefixes.first(where: { lower.hasPrefix($0) }) {
                    let metaName = String(lower.dropFirst(prefix.count))
                    guard !p.meta.contains(where: { $0.name == metaName }) else {
                        throw .invalidRequest("parameter '\(name)' is given more than once")
                    }
                    p.meta.append((metaName, value))
                } else if name.hasPrefix("x:") {
                    p.callbackVariables.append((String(name.dropFirst(2)), value))
                }
                continue
            }
        }
        return p
    }

    /// The members of a flat JSON object as name/value text; numbers only for `size`.
    static func jsonPairs(_ body: [UInt8]) throws(APIError) -> [(String, String)] {
        let object: FlatJSONObject
        do {
            object = try FlatJSONObject.parse(body)
        } catch {
            throw .invalidRequest("the JSON body is not a flat object: \(error)")
        }
        var out: [(String, String)] = []
        for (key, value) in object.members {
            switch value {
            case .string(let s): out.append((key, s))
            case .number(let n):
                guard key == "size" else { throw .invalidRequest("'\(key)' must be a string") }
                out.append((key, n))
            case .null: continue
            case .bool: throw .invalidRequest("'\(key)' must be a string")
            }
        }
        return out
    }
}
