import COpenSSL
import Glibc
import PerThread

/// Cryptographically secure random bytes from OpenSSL's DRBG.
public enum SecureRandom {
    /// The DRBG could not produce bytes (it is unseeded or failed).
    public struct Failure: Error, Equatable {}

    /// Returns `count` random bytes straight from the DRBG.
    public static func bytes(_ count: Int) throws(Failure) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        guard ok == 1 else { throw Failure() }
        return out
    }

    /// Returns a random (version 4, RFC 9562 §5.4) UUID in lowercase 8-4-4-4-12 form.
    ///
    /// The 16 bytes come from a per-thread pool that is refilled from the DRBG 1 KiB at a time:
    /// each `RAND_bytes` call takes the DRBG's lock and checks for a fork (a `getpid` system call),
    /// which on a request path is a cost worth paying once per 64 UUIDs rather than every time.
    public static func uuidString() throws(Failure) -> String {
        var b = try RandomPool.perThread.withValue { pool throws(Failure) in try pool.take16() }
        b.6 = (b.6 & 0x0F) | 0x40
        b.8 = (b.8 & 0x3F) | 0x80
        return withUnsafeBytes(of: &b) { raw in
            // Straight into the string's storage: no hex string or array in between.
            String(unsafeUninitializedCapacity: 36) { out in
                var o = 0
                for (i, byte) in raw.enumerated() {
                    if i == 4 || i == 6 || i == 8 || i == 10 {
                        out[o] = UInt8(ascii: "-")
                        o += 1
                    }
                    out[o] = Hex.digit(byte >> 4)
                    out[o + 1] = Hex.digit(byte & 0x0F)
                    o += 2
                }
                return o
            }
        }
    }
}
