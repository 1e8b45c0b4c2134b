import ASCIIText

/// One gateway request as a web server hands it over: CGI/FastCGI params and the request body.
/// Everything is copied out of the transport, so the value outlives the connection.
public struct CGIRequest: Sendable {
    /// The request body, read up to the configured limit.
    public enum Body: Sendable, Equatable {
        /// The whole body (empty when there is none).
        case bytes([UInt8])
        /// `CONTENT_LENGTH` announced more than the limit; nothing was read.
        case tooLarge(declared: Int)
        /// `CONTENT_LENGTH` is not a non-negative decimal number.
        case invalidLength
        /// The body ended before `CONTENT_LENGTH` bytes arrived.
        case truncated

        /// The length `CONTENT_LENGTH` declares: 0 when it is absent or empty, nil (`.invalidLength`)
        /// unless it is 1-18 decimal digits. Every transport reads the body by this one rule.
        public static func declaredLength(_ contentLength: String?) -> Int? {
            guard let text = contentLength, !text.isEmpty else { return 0 }
            guard text.utf8.count <= 18, text.utf8.allSatisfy(ASCII.isDigit) else { return nil }
            return Int(text)
        }
    }

    /// The params (`REQUEST_METHOD`, `QUERY_STRING`, `HTTP_*`, ...), as sent.
    public let params: CGIParams
    /// The body.
    public let body: Body

    /// Creates a request.
    public init(params: CGIParams, body: Body) {
        self.params = params
        self.body = body
    }

    /// Creates a request from a dictionary of params.
    public init(params: [String: String], body: Body) {
        self.init(params: CGIParams(params), body: body)
    }

    /// The value of param `name`, treating an empty value as absent (nginx sends empty params for
    /// unset variables).
    public func param(_ name: String) -> String? {
        guard let v = params[name], !v.isEmpty else { return nil }
        return v
    }

    /// `REQUEST_METHOD`, uppercased as sent (`GET` when absent).
    public var method: String { param("REQUEST_METHOD") ?? "GET" }

    /// `QUERY_STRING`, or the empty string.
    public var queryString: String { params["QUERY_STRING"] ?? "" }

    /// The request path: `DOCUMENT_URI` (nginx, after its rewrites), else the path of
    /// `REQUEST_URI`, else `SCRIPT_NAME` + `PATH_INFO` (plain CGI servers).
    public var path: String {
        if let p = param("DOCUMENT_URI") { return p }
        if let uri = param("REQUEST_URI") {
            if let q = uri.firstIndex(of: "?") { return String(uri[..<q]) }
            return uri
        }
        return (params["SCRIPT_NAME"] ?? "") + (params["PATH_INFO"] ?? "")
    }

    /// `CONTENT_TYPE` without parameters, lowercased (`application/json`), or nil.
    public var mediaType: String? {
        guard let raw = param("CONTENT_TYPE") else { return nil }
        let base = raw.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let trimmed = base.trimmingASCIISpaces()
        return trimmed.isEmpty ? nil : trimmed.lowercased()
    }
}
