/// The non-generic base of the per-thread boxes, so the thread-exit destructor (a C function) can
/// release any of them.
class ThreadValueBox {
    /// The registry of the `PerThread` this box belongs to.
    let registry: BoxRegistry
    init(registry: BoxRegistry) { self.registry = registry }
}
