import Synchronization

/// A value that is read on every request and replaced now and then (a reloaded configuration).
/// Readers never wait on each other: each thread keeps its own copy and takes the lock only when
/// the value has been replaced since it last looked (one atomic load per read otherwise).
/// A reader keeps the value it got for as long as it uses it: replacing the value does not change
/// what a request in flight sees.
public final class Reloadable<Value: Sendable>: Sendable {
    private let stored: Mutex<(value: Value, version: UInt64)>
    private let version = Atomic<UInt64>(0)
    private let copies = PerThread<(value: Value, version: UInt64)?> { nil }

    /// Starts with `value`.
    public init(_ value: Value) {
        stored = Mutex((value, 0))
    }

    /// The current value.
    public var current: Value {
        let latest = version.load(ordering: .acquiring)
        return copies.withValue { copy in
            if let copy, copy.version == latest { return copy.value }
            let fresh = stored.withLock { $0 }
            copy = fresh
            return fresh.value
        }
    }

    /// Calls `body` with the current value, without copying it out of this thread's copy (a
    /// request's whole run). `body` must not read this `Reloadable` again.
    public func withCurrent<R>(_ body: (Value) throws -> R) rethrows -> R {
        let latest = version.load(ordering: .acquiring)
        return try copies.withValue { copy in
            if copy == nil || copy!.version != latest { copy = stored.withLock { $0 } }
            return try body(copy!.value)
        }
    }

    /// Makes `value` the current value for every read that starts from now on.
    public func replace(with value: Value) {
        stored.withLock { s in
            s = (value, s.version + 1)
            version.store(s.version, ordering: .releasing)
        }
    }
}
