import Glibc
import Synchronization

/// A value of which every thread has its own copy, made on first use and released when the
/// thread exits (POSIX thread-specific data).
///
/// For state that is read on every request and must not be shared behind a lock: with dozens of
/// worker threads on a few cores, even a short critical section is where they queue.
public final class PerThread<Value>: @unchecked Sendable {
    private let key: pthread_key_t
    private let make: @Sendable () -> Value
    /// Every thread's box, so that `deinit` can free the boxes of threads that live on (a
    /// replaced configuration's caches would otherwise stay behind in every worker thread).
    private let boxes = BoxRegistry()

    /// Creates the storage; `make` builds a thread's value the first time that thread asks.
    public init(_ make: @escaping @Sendable () -> Value) {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            guard let pointer else { return }
            // The thread exits: its box leaves the registry and goes.
            let box = Unmanaged<ThreadValueBox>.fromOpaque(pointer)
            box.takeUnretainedValue().registry.remove(pointer)
            box.release()
        }
        self.key = key
        self.make = make
    }

    deinit {
        // No thread is inside `withValue` (each caller holds a reference), and once the key is
        // deleted no thread-exit destructor runs for it: the boxes left are this instance's to free.
        pthread_key_delete(key)
        for pointer in boxes.removeAll() { Unmanaged<ThreadValueBox>.fromOpaque(pointer).release() }
    }

    private final class Box: ThreadValueBox {
        var value: Value
        init(_ value: Value, registry: BoxRegistry) {
            self.value = value
            super.init(registry: registry)
        }
    }

    /// Calls `body` with the calling thread's value, which it may change.
    public func withValue<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        let box: Box
        if let existing = pthread_getspecific(key) {
            box = Unmanaged<Box>.fromOpaque(existing).takeUnretainedValue()
        } else {
            box = Box(make(), registry: boxes)
            let pointer = Unmanaged.passRetained(box).toOpaque()
            boxes.insert(pointer)
            pthread_setspecific(key, pointer)
        }
        return try body(&box.value)
    }
}
