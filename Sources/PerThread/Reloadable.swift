import Synchronization

/// A value that is read on every request and replaced now and then (a reloaded configuration).
/// Readers never wait on each other: each thread keeps a reference to the value it last saw and
/// takes the lock only when the value has been replaced since (one atomic load per read
/// otherwise). The value lives in one shared box, so a read copies nothing. A reader keeps the
/// value it got for as long as it uses it: replacing the value does not change what a request in
/// flight sees.
public final class Reloadable<Value: Sendable>: Sendable {
    /// One version of the value; never changed after it is made.
    private final class Box: Sendable {
        let value: Value
        let version: UInt64
        init(_ value: Value, version: UInt64) {
            self.value = value
            self.version = version
        }
    }

    private let stored: Mutex<Box>
    private let version = Atomic<UInt64>(0)
    private let seen = PerThread<Box?> { nil }

    /// Starts with `value`.
    public init(_ value: Value) {
        stored = Mutex(Box(value, version: 0))
    }

    /// The current value.
    public var current: Value { withCurrent { $0 } }

    /// Calls `body` with the current value, without copying it (a request's whole run). `body`
    /// must not read this `Reloadable` again.
    public func withCurrent<R>(_ body: (Value) throws -> R) rethrows -> R {
        let latest = version.load(ordering: .acquiring)
        let box = seen.withValue { box -> Box in
            if let box, box.version == latest { return box }
            let fresh = stored.withLock { $0 }
            box = fresh
            return fresh
        }
        return try body(box.value)
    }

    /// Makes `value` the current value for every read that starts from now on.
    public func replace(with value: Value) {
        stored.withLock { box in
            box = Box(value, version: box.version + 1)
            version.store(box.version, ordering: .releasing)
        }
    }
}
