import Glibc

/// Starting threads: the one place a Swift closure crosses `pthread_create`.
public enum Threads {
    /// Starts a thread running `body`, with a stack of `stackSize` bytes (nil: the system's
    /// default); returns it for `pthread_join`, or nil (with `errno`-style code in
    /// `failure`) when no thread could be made. `detached`: nobody joins it; nil is returned
    /// on success too.
    @discardableResult
    public static func spawn(
        stackSize: Int? = nil, detached: Bool = false, failure: UnsafeMutablePointer<Int32>? = nil,
        _ body: @escaping @Sendable () -> Void
    ) -> pthread_t? {
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
            failure?.pointee = rc
            return nil
        }
        return detached ? nil : thread
    }
}
