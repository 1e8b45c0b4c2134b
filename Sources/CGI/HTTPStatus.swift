/// Reason phrases for the statuses upsign answers with.
public enum HTTPStatus {
    /// The standard reason phrase of `code` (RFC 9110 §15), or "Unknown".
    public static func reasonPhrase(_ code: Int) -> String {
        switch code {
        case 200: "OK"
        case 204: "No Content"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 411: "Length Required"
        case 413: "Content Too Large"
        case 415: "Unsupported Media Type"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        default: "Unknown"
        }
    }
}
