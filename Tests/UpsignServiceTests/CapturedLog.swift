import Logging
import Synchronization

/// Log events kept in memory, and a logger that writes them.
final class CapturedLog: Sendable {
    /// One event.
    struct Entry: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: [String: String]
    }

    private let entries = Mutex<[Entry]>([])

    /// A logger at `trace` whose every event lands here.
    var logger: Logger {
        Logger(label: "test", factory: { _ in Handler(log: self) })
    }

    /// The events so far, in order.
    var all: [Entry] { entries.withLock { $0 } }

    /// The messages logged at `level`, in order.
    func messages(at level: Logger.Level) -> [String] { all.filter { $0.level == level }.map(\.message) }

    fileprivate func append(_ entry: Entry) { entries.withLock { $0.append(entry) } }

    private struct Handler: LogHandler {
        let log: CapturedLog
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            log.append(
                Entry(
                    level: event.level, message: event.message.description,
                    metadata: (event.metadata ?? [:]).mapValues { $0.description }))
        }
    }
}
