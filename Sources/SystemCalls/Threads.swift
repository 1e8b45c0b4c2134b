import Glibc

/// Starting threads: the one place a Swift closure crosses `pthread_create`.
public enum Threads {
    /// Starts a joinable thread running `body`, with a stack of `stackSize` bytes (nil: the
    /// system's default): the thread to `pthread_join`, or `pthread_create`'s error number.
    public static func start(stackSize: Int? = nil, _ body: @escaping @Sendable () -> Void) -> Result<pthread_t, Failure> {
        create(stackSize: stackSize, detached: false, body)
    }

    /// Starts a thread nobody joins, running `body` (a thread meant to run until the process
    /// ends); false when none could be made.
    @discardableResult
    public static func startDetached(stackSize: Int? = nil, _ body: @escaping @Sendable () -> Void) -> Bool {
        if case .success = create(stackSize: stackSize, detached: true, body) { return true }
        return false
    }

    /// Why no thread was made: `pthread_create`'s error number.
    public struct Failure: Error, Equatable {
        /// The error number (`EAGAIN`, ...).
        public let code: Int32
    }

    private static func create(stackSize: Int?, detached: Bool, _ body: @escaping @Sendable () -> Void) -> Result<pthread_t, Failure> {
        final class Box {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        if let stackSize { pthread_attr_setstacksize(&attributes, stackSize) }
        if detached { pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED)) }
        let box = Unmanaged.passRetained(Box(body))
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, &attributes,
            { raw in
                Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
                return nil
            }, box.toOpaque())
        guard rc == 0 else {
            box.release()
            return .failure(Failure(code: rc))
        }
        return .success(thread)
    }
}
