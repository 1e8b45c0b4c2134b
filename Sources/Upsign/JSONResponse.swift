import CGI

/// Headers and construction of JSON responses.
enum JSONResponse {
    /// Every JSON answer: its type, and never cached (a policy is a short-lived credential).
    static let headers: [(name: String, value: String)] = [
        ("Content-Type", "application/json"),
        ("Cache-Control", "no-store"),
    ]

    /// A 200 response with `body`.
    static func ok(_ body: [UInt8]) -> CGIResponse {
        CGIResponse(status: 200, headers: headers, body: body)
    }
}
