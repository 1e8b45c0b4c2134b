import Synchronization

/// The owner of every per-thread cache that holds key material: HMAC's keyed contexts (the
/// secret itself) and the derived V4 signing keys. Such a cache stores the epoch it was filled
/// in and empties itself when it finds a newer one; `forgetAll()`, called once when credentials
/// change, so reaches every cache on every thread without each having to be named.
public enum KeyMaterialCaches {
    private static let epoch = Atomic<UInt64>(0)

    /// Makes every thread's key-material caches drop what they hold on their next use (a
    /// rotated-out secret is then no longer kept in memory by them).
    public static func forgetAll() {
        epoch.add(1, ordering: .relaxed)
    }

    /// The current epoch: a cache filled in an older one must be emptied before it is read.
    public static var current: UInt64 { epoch.load(ordering: .relaxed) }
}
