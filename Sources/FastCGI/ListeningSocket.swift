import CFastCGI
import Glibc

/// The listening socket the workers accept FastCGI connections on.
public struct ListeningSocket: Sendable {
    /// The file descriptor.
    public let fd: Int32
    /// How it was obtained, for the start-up log line (`fd 0`, `systemd fd 3`, `unix:/path`).
    public let origin: String
    /// True when upsign created it (and so may remove its socket file at exit).
    public let owned: Bool
    /// The unix socket path upsign created, if any.
    public let unixPath: String?

    /// The socket handed over by the process that started us: systemd socket activation
    /// (`LISTEN_PID` = our pid, `LISTEN_FDS` ≥ 1 → fd 3) first, then fd 0 when it is a listening
    /// socket (spawn-fcgi, mod_fcgid, `StandardInput=socket`). Nil when there is none.
    public static func inherited(environment: [String: String]) -> ListeningSocket? {
        if let pid = environment["LISTEN_PID"].flatMap({ Int32($0) }), pid == getpid(),
            let count = environment["LISTEN_FDS"].flatMap({ Int($0) }), count >= 1, isListening(3)
        {
            return ListeningSocket(fd: 3, origin: "systemd fd 3", owned: false, unixPath: nil)
        }
        if isListening(0) {
            return ListeningSocket(fd: 0, origin: "fd 0", owned: false, unixPath: nil)
        }
        return nil
    }

    /// True when `fd` is a socket in the listening state.
    static func isListening(_ fd: Int32) -> Bool {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &length) == 0 && value != 0
    }

    /// Creates, binds and listens on `address`. A stale unix socket file at the path is replaced;
    /// any other file there is an error. `mode` and `group` (the web server's, so that it may
    /// connect) apply to unix sockets.
    public static func open(
        _ address: ListenAddress, mode: mode_t = 0o660, group: gid_t? = nil, backlog: Int32 = 1024
    ) throws(FastCGIError) -> ListeningSocket {
        switch address {
        case .unix(let path):
            var st = stat()
            if lstat(path, &st) == 0 {
                guard st.st_mode & S_IFMT == S_IFSOCK else {
                    throw .socket(operation: "bind", address: address.description, errno: EEXIST)
                }
                unlink(path)
            }
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw .socket(operation: "socket", address: address.description, errno: errno) }
            var sa = sockaddr_un()
            sa.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &sa.sun_path) { raw in
                for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
                raw[path.utf8.count] = 0
            }
            let previous = umask(0o177)
            let bound = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            umask(previous)
            guard bound == 0 else {
                let e = errno
                Glibc.close(fd)
                throw .socket(operation: "bind", address: address.description, errno: e)
            }
            chmod(path, mode)
            if let group, chown(path, uid_t.max, group) != 0 {
                let e = errno
                Glibc.close(fd)
                unlink(path)
                throw .socket(operation: "chown", address: address.description, errno: e)
            }
            guard listen(fd, backlog) == 0 else {
                let e = errno
                Glibc.close(fd)
                throw .socket(operation: "listen", address: address.description, errno: e)
            }
            return ListeningSocket(fd: fd, origin: address.description, owned: true, unixPath: path)

        case .tcp(let host, let port):
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
            var list: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
                throw .unresolvable(host: host)
            }
            defer { freeaddrinfo(list) }
            var lastErrno: Int32 = 0
            var cursor: UnsafeMutablePointer<addrinfo>? = first
            while let ai = cursor {
                cursor = ai.pointee.ai_next
                let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), ai.pointee.ai_protocol)
                if fd < 0 {
                    lastErrno = errno
                    continue
                }
                var one: Int32 = 1
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
                if bind(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0, listen(fd, backlog) == 0 {
                    return ListeningSocket(fd: fd, origin: address.description, owned: true, unixPath: nil)
                }
                lastErrno = errno
                Glibc.close(fd)
            }
            throw .socket(operation: "bind", address: address.description, errno: lastErrno)
        }
    }

    /// Who can reach the socket.
    public enum Exposure: Sendable, Equatable {
        /// A unix socket: whoever its file's mode lets in.
        case unixSocket
        /// TCP on a loopback address: processes on this host.
        case loopback
        /// TCP on another address (`0.0.0.0`, `::` or an interface's): whoever reaches the port.
        case network
    }

    /// What the socket is bound to, read from the kernel (an inherited socket too).
    public var exposure: Exposure {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0, let address = PeerAllowList.address(of: storage) else { return .unixSocket }
        return PeerAllowList.isLoopback(address) ? .loopback : .network
    }

    /// Makes accepts non-blocking, so a worker that loses the race for a connection goes back to
    /// waiting instead of blocking in `accept(2)` where shutdown cannot reach it.
    func makeNonBlocking() {
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    }

    /// Closes the socket; removes the socket file when upsign created it.
    public func close() {
        if owned {
            _ = Glibc.close(fd)
            if let unixPath { unlink(unixPath) }
        }
    }
}
