import CGI
import JSONText

/// An error answered to the client: an HTTP status, a stable machine-readable code and a sentence.
/// The one place errors become responses (`response`), so every error has the same JSON shape:
/// `{"error":{"code":"...","message":"..."}}`. Messages never carry secrets.
public struct APIError: Error, Sendable, Equatable {
    /// The HTTP status.
    public let status: Int
    /// A stable code clients can branch on (`identity_required`, `size_out_of_range`, ...).
    public let code: String
    /// A sentence for the developer reading the response.
    public let message: String
    /// Extra headers (`Allow` on 405).
    public var headers: [(name: String, value: String)] = []

    /// Creates an error.
    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public static func == (a: APIError, b: APIError) -> Bool {
        a.status == b.status && a.code == b.code && a.message == b.message
    }

    /// 400 `invalid_request`: the request could not be read.
    public static func invalidRequest(_ message: String) -> APIError { APIError(status: 400, code: "invalid_request", message: message) }
    /// 400 `missing_parameter`.
    public static func missingParameter(_ name: String, _ why: String) -> APIError {
        APIError(status: 400, code: "missing_parameter", message: "parameter '\(name)' is required: \(why)")
    }
    /// 400 `extension_not_allowed`.
    public static func extensionNotAllowed(_ allowed: [String]) -> APIError {
        APIError(
            status: 400, code: "extension_not_allowed",
            message: allowed.isEmpty
                ? "the file name's extension must be 1-16 letters or digits"
                : "the file name's extension is not allowed; allowed: \(allowed.joined(separator: ", "))")
    }
    /// 400 `extension_required`: the profile lists extensions and the file name has none (no
    /// dot, or nothing after the last one).
    public static func extensionRequired(_ allowed: [String]) -> APIError {
        APIError(
            status: 400, code: "extension_required",
            message: "the file name must end in one of these extensions: \(allowed.joined(separator: ", "))")
    }
    /// 400 `content_type_not_allowed`.
    public static func contentTypeNotAllowed(_ allowed: [String]) -> APIError {
        APIError(status: 400, code: "content_type_not_allowed", message: "contentType is not allowed; allowed: \(allowed.joined(separator: ", "))")
    }
    /// 400 `size_out_of_range`.
    public static func sizeOutOfRange(_ range: ClosedRange<Int64>) -> APIError {
        APIError(status: 400, code: "size_out_of_range", message: "size must be between \(range.lowerBound) and \(range.upperBound) bytes")
    }
    /// 400 `meta_not_allowed`: user metadata the profile does not list, or a value it refuses.
    public static func metaNotAllowed(_ why: String) -> APIError {
        APIError(status: 400, code: "meta_not_allowed", message: why)
    }
    /// 400 `invalid_identity`: the web server passed a user name upsign will not put in a key.
    public static func invalidIdentity(_ why: String) -> APIError {
        APIError(status: 400, code: "invalid_identity", message: "the authenticated user name is not usable: \(why)")
    }
    /// 401 `identity_required`.
    public static let identityRequired = APIError(
        status: 401, code: "identity_required", message: "this profile needs an authenticated user, and none was passed")
    /// 404 `not_found`.
    public static let notFound = APIError(status: 404, code: "not_found", message: "no such route")
    /// 404 `unknown_profile`.
    public static let unknownProfile = APIError(status: 404, code: "unknown_profile", message: "no such upload profile")
    /// 403 `profile_forbidden`: the profile is not this tenant's (or does not exist, when tenants
    /// are configured): the answer tells the two apart for nobody.
    public static let profileForbidden = APIError(status: 403, code: "profile_forbidden", message: "this profile is not available here")
    /// 405 `method_not_allowed`, with the `Allow` header.
    public static func methodNotAllowed(_ allowed: [String]) -> APIError {
        var e = APIError(status: 405, code: "method_not_allowed", message: "use \(allowed.joined(separator: " or "))")
        e.headers = [("Allow", allowed.joined(separator: ", "))]
        return e
    }
    /// 403 `callback_not_bound`: a callback OSS signed that does not prove upsign issued its
    /// upload (no binding, or one for another bucket, object or user, or expired).
    public static func callbackNotBound(_ why: String) -> APIError {
        APIError(status: 403, code: "callback_not_bound", message: why)
    }
    /// 413 `body_too_large`.
    public static func bodyTooLarge(limit: Int) -> APIError {
        APIError(status: 413, code: "body_too_large", message: "the request body is larger than \(limit) bytes")
    }
    /// 415 `unsupported_media_type`.
    public static let unsupportedMediaType = APIError(
        status: 415, code: "unsupported_media_type",
        message: "send parameters in the query string, as application/x-www-form-urlencoded or as a JSON object")
    /// 503 `credentials_unavailable`.
    public static let credentialsUnavailable = APIError(
        status: 503, code: "credentials_unavailable", message: "the storage credentials for this profile are not available")
    /// 503 `credentials_expired`: the temporary credentials' `Expiration` has passed and no
    /// fresher ones were written.
    public static let credentialsExpired = APIError(
        status: 503, code: "credentials_expired", message: "the storage credentials for this profile have expired")
    /// 403 `callback_unsigned`: a callback without an `authorization` header.
    public static let callbackUnsigned = APIError(status: 403, code: "callback_unsigned", message: "the callback carries no signature")
    /// 403 `callback_signature_invalid`: the signature does not match the path, query and body.
    public static let callbackSignatureInvalid = APIError(
        status: 403, code: "callback_signature_invalid", message: "the callback signature does not verify")
    /// 403 `key_url_not_allowed`: the public key URL is not on the allow-list.
    public static let keyURLNotAllowed = APIError(
        status: 403, code: "key_url_not_allowed", message: "the callback's public key URL is not allowed")
    /// 502 `key_fetch_failed`: the public key could not be fetched or read.
    public static let keyFetchFailed = APIError(
        status: 502, code: "key_fetch_failed", message: "the callback's public key could not be fetched")
    /// 502 `forward_failed`: the application a verified upload is forwarded to did not take it (`why` names no
    /// URL). Nothing is remembered as delivered: a resend is delivered.
    public static func forwardFailed(_ why: String) -> APIError {
        APIError(status: 502, code: "forward_failed", message: "the upload could not be delivered: \(why)")
    }

    /// 504 `forward_timeout`: the application a verified upload is forwarded to did not answer in time.
    public static let forwardTimedOut = APIError(
        status: 504, code: "forward_timeout", message: "the upload could not be delivered: the application did not answer in time")

    /// 503 `record_failed`: a verified upload could not be recorded.
    public static let recordFailed = APIError(status: 503, code: "record_failed", message: "the upload could not be recorded")
    /// 500 `internal_error`: only for faults of the machine (no randomness), never for input.
    public static let internalError = APIError(status: 500, code: "internal_error", message: "internal error")

    /// The JSON error response.
    public var response: CGIResponse {
        var w = JSONWriter(capacity: 128)
        w.beginObject()
        w.key("error")
        w.beginObject()
        w.field("code", code)
        w.field("message", message)
        w.endObject()
        w.endObject()
        return CGIResponse(status: status, headers: JSONResponse.headers + headers, body: w.bytes)
    }
}
