import JSONText
import Logging

/// What the log says of one answered request: its id (nginx's `$request_id` when passed), route,
/// profile, status, duration and user, and the error code answered. No parameter values, no
/// policy, never a credential.
public struct RequestLine: Sendable, Equatable {
    /// The request's id, at most 64 characters.
    public var id: String?
    /// The HTTP method, at most 16 characters.
    public var method: String
    /// The route answered (`policy`, `healthz`, …, `unknown`).
    public var route: String
    /// The path, only for unknown routes, at most 256 characters.
    public var path: String?
    /// The profile used.
    public var profile: String?
    /// The authenticated user, once validated.
    public var user: String?
    /// The HTTP status answered.
    public var status: Int
    /// How long answering took, in microseconds.
    public var durationMicroseconds: UInt64
    /// The error code answered, if any.
    public var error: String?

    /// Creates a line; the free-form fields are cut to their limits.
    public init(
        id: String?, method: String, route: String, path: String?, profile: String?, user: String?,
        status: Int, durationMicroseconds: UInt64, error: String?
    ) {
        self.id = id.map { Self.cut($0, 64) }
        self.method = Self.cut(method, 16)
        self.route = route
        self.path = path.map { Self.cut($0, 256) }
        self.profile = profile
        self.user = user
        self.status = status
        self.durationMicroseconds = durationMicroseconds
        self.error = error
    }

    private static func cut(_ s: String, _ limit: Int) -> String {
        s.utf8.count <= limit ? s : String(s.prefix(limit))
    }

    /// The log message of every request line.
    public static let message: Logger.Message = "request"

    /// `info`, or `error` for a 5xx.
    public var level: Logger.Level { status >= 500 ? .error : .info }

    /// The line's fields as swift-log metadata.
    public var metadata: Logger.Metadata {
        var m = Logger.Metadata(minimumCapacity: 9)
        m["request.method"] = .string(method)
        m["route"] = .string(route)
        m["status"] = .stringConvertible(status)
        m["duration_us"] = .stringConvertible(durationMicroseconds)
        if let path { m["request.path"] = .string(path) }
        if let id { m["request.id"] = .string(id) }
        if let profile { m["profile"] = .string(profile) }
        if let user { m["user"] = .string(user) }
        if let error { m["error"] = .string(error) }
        return m
    }

    /// Writes the fields into an open JSON object, keys sorted as `JSONLineLogHandler` sorts them.
    func writeFields(to w: inout JSONWriter) {
        w.key("duration_us")
        w.integer(Int64(truncatingIfNeeded: durationMicroseconds))
        if let error { w.field("error", error) }
        if let profile { w.field("profile", profile) }
        if let id { w.field("request.id", id) }
        w.field("request.method", method)
        if let path { w.field("request.path", path) }
        w.field("route", route)
        w.key("status")
        w.integer(status)
        if let user { w.field("user", user) }
    }
}
