import Synchronization

/// The boxes of one `PerThread`, as the addresses of retained boxes.
final class BoxRegistry: Sendable {
    private let addresses = Mutex<Set<UInt>>([])

    func insert(_ pointer: UnsafeMutableRawPointer) { _ = addresses.withLock { $0.insert(UInt(bitPattern: pointer)) } }
    func remove(_ pointer: UnsafeMutableRawPointer) { _ = addresses.withLock { $0.remove(UInt(bitPattern: pointer)) } }
    func removeAll() -> [UnsafeMutableRawPointer] {
        addresses.withLock { a in
            defer { a = [] }
            return a.compactMap { UnsafeMutableRawPointer(bitPattern: $0) }
        }
    }
}
