import CFastCGI
import Glibc

/// Why the FastCGI server could not start.
public enum FastCGIError: Error, Equatable, CustomStringConvertible {
    /// No `--listen` was given and neither fd 0 nor systemd socket activation provides a listening socket.
    case noListeningSocket
    /// A system call on the listening socket failed.
    case socket(operation: String, address: String, errno: Int32)
    /// The host name did not resolve.
    case unresolvable(host: String)
    /// `FCGX_Init` failed.
    case libraryInit(code: Int32)
    /// A worker thread could not be created.
    case threadCreate(errno: Int32)

    /// A sentence for the operator.
    public var description: String {
        switch self {
        case .noListeningSocket:
            "no listening socket: fd 0 is not a socket and no systemd socket was passed (LISTEN_FDS); use --listen unix:/path or --listen HOST:PORT"
        case .socket(let op, let address, let errno):
            "\(op) \(address) failed: \(String(cString: strerror(errno)))"
        case .unresolvable(let host): "cannot resolve host \(host)"
        case .libraryInit(let code): "FCGX_Init failed (\(code))"
        case .threadCreate(let errno): "cannot create a thread: \(String(cString: strerror(errno)))"
        }
    }
}
