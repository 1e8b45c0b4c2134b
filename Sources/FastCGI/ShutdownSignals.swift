import CFastCGI
import Glibc
import SystemCalls

/// The process's one owner of SIGTERM, SIGINT, SIGHUP and SIGUSR1.
///
/// `block()` must run before any thread starts, so every thread inherits the mask and no signal
/// handler (libfcgi installs its own for SIGTERM and SIGUSR1, which would make every later read
/// fail) ever runs; a dedicated thread then receives them with `sigwait`.
public enum ShutdownSignals {
    /// A signal upsign acts on.
    public enum Event: Sendable {
        /// SIGTERM, SIGINT, or SIGUSR1 (Apache mod_fcgid's graceful stop): drain and exit.
        case terminate(signal: Int32)
        /// SIGHUP.
        case reload
    }

    private static var handled: [Int32] { [SIGTERM, SIGINT, SIGHUP, SIGUSR1] }

    /// Blocks the handled signals in the calling thread (and all threads it creates later) and
    /// ignores SIGPIPE, so a web server closing a connection mid-answer is an error, not a kill.
    public static func block() {
        var set = sigset_t()
        sigemptyset(&set)
        for s in handled { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        signal(SIGPIPE, SIG_IGN)
    }

    /// Starts a thread that calls `onEvent` for each handled signal, forever.
    public static func startWaiter(_ onEvent: @escaping @Sendable (Event) -> Void) {
        Threads.startDetached {
            var set = sigset_t()
            sigemptyset(&set)
            for s in ShutdownSignals.handled { sigaddset(&set, s) }
            while true {
                var received: Int32 = 0
                guard sigwait(&set, &received) == 0 else { continue }
                onEvent(received == SIGHUP ? .reload : .terminate(signal: received))
            }
        }
    }
}
