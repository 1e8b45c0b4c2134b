import Crypto
import Glibc
import PostPolicy

/// The real clock and randomness the application is given outside tests.
enum Runtime {
    /// The wall clock, in whole seconds.
    static let clock: @Sendable () -> Timestamp = {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Timestamp(secondsSince1970: Int64(now.tv_sec))
    }

    /// A random v4 UUID from OpenSSL's DRBG, or nil when it fails.
    static let uuid: @Sendable () -> String? = { try? SecureRandom.uuidString() }
}
