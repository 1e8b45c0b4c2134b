import Glibc

/// A value of which every thread has its own copy, made on first use and released when the
/// thread exits (POSIX thread-specific data).
///
/// For state that is read on every request and must not be shared behind a lock: with dozens of
/// worker threads on a few cores, even a short critical section is where they queue.
public final class PerThread<Value>: @unchecked Sendable {
    private let key: pthread_key_t
    private let make: @Sendable () -> Value

    /// Creates the storage; `make` builds a thread's value the first time that thread asks.
    public init(_ make: @escaping @Sendable () -> Value) {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            guard let pointer else { return }
            Unmanaged<ThreadValueBox>.fromOpaque(pointer).release()
        }
        self.key = key
        self.make = make
    }

    deinit {
        // Values still held by live threads are leaked rather than freed under their feet.
        pthread_key_delete(key)
    }

    private final class Box: ThreadValueBox {
        var value: Value
        init(_ value: Value) { self.value = value }
    }

    /// Calls `body` with the calling thread's value, which it may change.
    public func withValue<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        let box: Box
        if let existing = pthread_getspecific(key) {
            box = Unmanaged<Box>.fromOpaque(existing).takeUnretainedValue()
        } else {
            box = Box(make())
            pthread_setspecific(key, Unmanaged.passRetained(box).toOpaque())
        }
        return try body(&box.value)
    }
}

/// The non-generic base of the per-thread boxes, so the thread-exit destructor (a C function) can
/// release any of them.
class ThreadValueBox {}
