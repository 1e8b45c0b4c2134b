import CFastCGI
import Glibc

/// The process's limit on open files (`RLIMIT_NOFILE`), which bounds its connections.
public enum FileDescriptorLimit {
    /// Descriptors kept free for everything that is not a connection: the standard streams, the
    /// listening socket, epoll instances and eventfds, configuration, credentials and record
    /// files, libcurl's sockets.
    public static let reserve = 64

    /// What raising the limit came to.
    public struct Outcome: Sendable, Equatable {
        /// The soft limit now.
        public let limit: Int
        /// Connections that fit under it: `wanted`, or fewer when the hard limit is lower.
        public let connections: Int
    }

    /// Raises the soft limit so that `connections` connections fit beside `reserve`, as far as
    /// the hard limit allows (an unprivileged process may raise its soft limit up to it).
    public static func raise(toFit connections: Int) -> Outcome {
        var limit = rlimit()
        guard getrlimit(openFilesResource, &limit) == 0 else {
            return Outcome(limit: reserve + connections, connections: connections)
        }
        let wanted = rlim_t(connections + reserve)
        if limit.rlim_cur < wanted {
            var raised = limit
            raised.rlim_cur = min(wanted, limit.rlim_max)
            if setrlimit(openFilesResource, &raised) == 0 { limit = raised }
        }
        let soft = limit.rlim_cur > rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
        return Outcome(limit: soft, connections: max(1, min(connections, soft - reserve)))
    }

    private static var openFilesResource: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }
}
