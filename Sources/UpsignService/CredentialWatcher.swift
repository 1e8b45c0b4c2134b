import Glibc
import Logging
import PostPolicy
import SystemCalls
import Upsign

/// Polls the credentials files for changes (an STS agent rewriting them) and logs each reload.
public enum CredentialWatcher {
    /// Starts a thread that checks the store `store()` gives (the current configuration's) every
    /// `interval` microseconds, forever.
    public static func start(_ store: @escaping @Sendable () -> CredentialStore, logger: Logger, interval: UInt32 = 250_000) {
        Threads.startDetached {
            while true {
                usleep(interval)
                log(store().reloadChangedFiles(), logger)
            }
        }
    }

    /// One log line per reload event; secrets never appear (only sources, generations, dates).
    public static func log(_ events: [CredentialStore.ReloadEvent], _ logger: Logger) {
        for event in events {
            switch event {
            case .loaded(let source, let generation, let expiration):
                logger.notice(
                    "credentials loaded",
                    metadata: [
                        "credentials.source": .string(source.description),
                        "credentials.generation": .stringConvertible(generation),
                        "credentials.expiration": .string(expiration?.iso8601Milliseconds ?? "none"),
                    ])
            case .failed(let source, let error, let kept):
                logger.error(
                    "credentials reload failed; keeping the previous ones",
                    metadata: [
                        "credentials.source": .string(source.description),
                        "credentials.kept_generation": .string(kept.map(String.init) ?? "none"),
                        "error": .string(error.description),
                    ])
            }
        }
    }
}
