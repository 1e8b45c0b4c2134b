import Glibc
import JSONText
import Logging
import PostPolicy

/// Writes one JSON object per log line through a `BatchedLineWriter` (standard error by default).
/// Keys: `ts`, `level`, `msg`, then the metadata (dotted keys, sorted); integers logged with
/// `.stringConvertible` are JSON numbers, everything else a string.
///
/// Lines at `info` and below (the per-request lines) are batched, at most a few milliseconds late;
/// `notice` and above are written before `log` returns.
public struct JSONLineLogHandler: LogHandler {
    /// The logger's label (not printed: upsign has one logger).
    public let label: String
    /// The least severe level logged.
    public var logLevel: Logger.Level = .info
    /// Metadata added to every line.
    public var metadata: Logger.Metadata = [:]
    /// Where lines go.
    public let output: BatchedLineWriter

    /// A handler writing to `output`.
    public init(label: String, output: BatchedLineWriter = .standardError) {
        self.label = label
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = Self.render(event, handlerMetadata: metadata, now: Self.now())
        line.append(0x0A)
        line.withUnsafeBytes { output.append($0, urgent: event.level >= .notice) }
    }

    /// The line for `event` (without its newline), stamped `now` (seconds, milliseconds).
    static func render(_ event: LogEvent, handlerMetadata: Logger.Metadata, now: (Int64, Int)) -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        begin(&w, level: event.level, message: event.message.description, now: now)
        // The handler's own metadata is usually empty: then the event's is used as it is (a merge
        // would copy and rehash it on every request line).
        let merged: Logger.Metadata
        if handlerMetadata.isEmpty {
            merged = event.metadata ?? [:]
        } else {
            var m = handlerMetadata
            if let extra = event.metadata { m.merge(extra) { $1 } }
            merged = m
        }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            w.key(key)
            if case .stringConvertible(let v) = value, let n = integer(v) {
                w.integer(n)
            } else if case .string(let s) = value {
                w.string(s)
            } else {
                w.string(value.description)
            }
        }
        w.endObject()
        return w.bytes
    }

    /// Opens the line's object and writes `ts`, `level` and `msg`.
    static func begin(_ w: inout JSONWriter, level: Logger.Level, message: String, now: (Int64, Int)) {
        w.beginObject()
        w.key("ts")
        w.unescapedString { Timestamp(secondsSince1970: now.0).appendISO8601(to: &$0, millisecond: now.1) }
        w.field("level", level.rawValue)
        w.field("msg", message)
    }

    /// `value` as an integer, if it is one: the common types are tried by name first, as a
    /// protocol cast looks up conformances each time.
    private static func integer(_ value: any CustomStringConvertible & Sendable) -> Int64? {
        if let n = value as? Int { return Int64(n) }
        if let n = value as? UInt64 { return Int64(truncatingIfNeeded: n) }
        if let n = value as? Int32 { return Int64(n) }
        if let n = value as? any BinaryInteger { return Int64(truncatingIfNeeded: n) }
        return nil
    }

    static func now() -> (Int64, Int) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return (Int64(now.tv_sec), Int(now.tv_nsec / 1_000_000))
    }
}
