import Upsign

/// Why the service could not start or answer. Each case is one exit status of `upsign`, which
/// the command line maps in one place (`exitStatus`); what went wrong is already logged.
public enum ServiceError: Error, Sendable, Equatable {
    /// The configuration, or a file it names (a pinned callback key, `ca_file`, the binding
    /// secret), is not usable; each problem was logged. Exit 78 (`EX_CONFIG`).
    case configuration(ConfigurationError)
    /// The answer could not be written (plain CGI: stdout was closed). Exit 1.
    case outputFailed

    /// The process's exit status for this error.
    public var exitStatus: Int32 {
        switch self {
        case .configuration: 78
        case .outputFailed: 1
        }
    }
}
