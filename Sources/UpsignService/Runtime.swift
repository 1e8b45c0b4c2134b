import Crypto
import Glibc
import PostPolicy

/// The real clock and randomness the application is given outside tests.
public enum Runtime {
    /// The wall clock, in whole seconds.
    public static let clock: @Sendable () -> Timestamp = {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Timestamp(secondsSince1970: Int64(now.tv_sec))
    }

    /// A monotonic clock in nanoseconds, for durations.
    public static let monotonicNanoseconds: @Sendable () -> UInt64 = {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }

    /// A random v4 UUID from OpenSSL's DRBG, or nil when it fails.
    public static let uuid: @Sendable () -> String? = { try? SecureRandom.uuidString() }
}
