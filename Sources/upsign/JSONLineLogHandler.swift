import Glibc
import JSONText
import Logging
import PostPolicy

/// Writes one JSON object per log line to stderr, in a single `write(2)` so that lines from
/// different threads never interleave. Keys: `ts`, `level`, `msg`, then the metadata (dotted keys,
/// sorted); integers logged with `.stringConvertible` are JSON numbers, everything else a string.
struct JSONLineLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let stamp = Timestamp(secondsSince1970: Int64(now.tv_sec)).iso8601(millisecond: Int(now.tv_nsec / 1_000_000))
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.field("ts", stamp)
        w.field("level", event.level.rawValue)
        w.field("msg", event.message.description)
        // The handler's own metadata is usually empty: then the event's is used as it is (a merge
        // would copy and rehash it on every request line).
        let merged: Logger.Metadata
        if metadata.isEmpty {
            merged = event.metadata ?? [:]
        } else {
            var m = metadata
            if let extra = event.metadata { m.merge(extra) { $1 } }
            merged = m
        }
        for key in merged.keys.sorted() {
            switch merged[key]! {
            case .stringConvertible(let n as any BinaryInteger):
                w.key(key)
                w.integer(Int64(truncatingIfNeeded: n))
            case let value:
                w.field(key, value.description)
            }
        }
        w.endObject()
        var bytes = w.bytes
        bytes.append(0x0A)
        bytes.withUnsafeBytes { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
