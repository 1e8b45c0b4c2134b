import CFastCGI
import Glibc

/// One event loop's epoll instance and its waker: the descriptors the loop waits on, each with a
/// 64-bit token that says what it is (`Token`).
final class Poller {
    /// What an event is about.
    enum Token {
        /// The shared listening socket.
        static let listener: UInt64 = 1
        /// The loop's eventfd: another thread has work for it (returned connections, shutdown,
        /// room to accept again).
        static let waker: UInt64 = 2
        // Any other value is the address of a `Connection`.
    }

    /// Events of a connection: readable, or the peer shut its side; edge-triggered, so a
    /// partial request is looked at again when more of it arrives, not in a busy loop.
    static let connectionEvents = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue
    /// The peer shut down its writing side, or the connection failed.
    static let hangUpEvents = EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue

    private let epoll: Int32
    private let wakeFd: Int32

    /// A new epoll instance with its eventfd registered.
    init() throws(FastCGIError) {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw .socket(operation: "epoll_create1", address: "event loop", errno: errno) }
        wakeFd = upsign_eventfd()
        guard wakeFd >= 0 else {
            let e = errno
            Glibc.close(epoll)
            throw .socket(operation: "eventfd", address: "event loop", errno: e)
        }
        guard add(wakeFd, events: EPOLLIN.rawValue, token: Token.waker) else {
            let e = errno
            Glibc.close(wakeFd)
            Glibc.close(epoll)
            throw .socket(operation: "epoll_ctl", address: "event loop", errno: e)
        }
    }

    deinit {
        Glibc.close(wakeFd)
        Glibc.close(epoll)
    }

    /// Watches `fd` for `events`; false (with `errno`) when the kernel refuses.
    @discardableResult
    func add(_ fd: Int32, events: UInt32, token: UInt64) -> Bool {
        var event = epoll_event()
        event.events = events
        event.data.u64 = token
        return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0
    }

    /// Stops watching `fd` (a descriptor closed is forgotten by the kernel by itself).
    func remove(_ fd: Int32) {
        var event = epoll_event()
        _ = epoll_ctl(epoll, EPOLL_CTL_DEL, fd, &event)
    }

    /// The listening socket: one loop is woken per connection (`EPOLLEXCLUSIVE`), not all.
    func addListener(_ fd: Int32) -> Bool {
        add(fd, events: EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue, token: Token.listener)
    }

    /// Waits up to `timeout` milliseconds (-1: without end) and fills `events`; returns how many.
    func wait(into events: UnsafeMutableBufferPointer<epoll_event>, timeout: Int32) -> Int {
        let n = epoll_wait(epoll, events.baseAddress, Int32(events.count), timeout)
        return n < 0 ? 0 : Int(n)
    }

    /// Wakes the loop from any thread.
    func wake() {
        var one: UInt64 = 1
        _ = write(wakeFd, &one, 8)
    }

    /// Resets the waker once the loop has woken.
    func clearWake() {
        var count: UInt64 = 0
        _ = read(wakeFd, &count, 8)
    }
}
