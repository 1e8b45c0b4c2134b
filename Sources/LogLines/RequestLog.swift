/// Where request lines go.
public protocol RequestLog: Sendable {
    /// Records one answered request.
    func record(_ line: RequestLine)
}
