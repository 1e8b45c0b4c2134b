import JSONText
import Logging

/// Request lines rendered straight into a `BatchedLineWriter`, in the very format of
/// `JSONLineLogHandler` (the same bytes as logging `metadata` through it), without building a
/// metadata dictionary per request: the handler allocates, hashes and then sorts that dictionary
/// for every line, where a request line's fields are known, and written here, in sorted order
/// already (`Benchmarks/cpu_per_request.py` measures the CPU time a request costs).
public struct JSONRequestLog: RequestLog {
    /// The least severe level written (the `--log-level`).
    public let logLevel: Logger.Level
    /// Where lines go.
    public let output: BatchedLineWriter

    /// Writes lines at `logLevel` or above to `output`.
    public init(logLevel: Logger.Level, output: BatchedLineWriter = .standardError) {
        self.logLevel = logLevel
        self.output = output
    }

    public func record(_ line: RequestLine) {
        let level = line.level
        guard level >= logLevel else { return }
        var bytes = Self.render(line, now: JSONLineLogHandler.now())
        bytes.append(0x0A)
        bytes.withUnsafeBytes { output.append($0, urgent: level >= .notice) }
    }

    /// The line (without its newline), stamped `now` (seconds, milliseconds).
    static func render(_ line: RequestLine, now: (Int64, Int)) -> [UInt8] {
        var w = JSONWriter(capacity: 320)
        JSONLineLogHandler.begin(&w, level: line.level, message: "request", now: now)
        line.writeFields(to: &w)
        w.endObject()
        return w.bytes
    }
}
