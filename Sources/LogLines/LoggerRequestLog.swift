import Logging

/// Request lines as swift-log events (message `request`, the fields as metadata).
public struct LoggerRequestLog: RequestLog {
    /// The logger written to.
    public let logger: Logger

    /// Logs through `logger`.
    public init(_ logger: Logger) { self.logger = logger }

    public func record(_ line: RequestLine) {
        logger.log(level: line.level, RequestLine.message, metadata: line.metadata)
    }
}
