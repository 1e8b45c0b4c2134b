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
                    if i == 4 || i == 6 || i == 8 || i == 10 { out[o] = UInt8(ascii: "-"); o += 1 }
                    out[o] = Hex.digit(byte >> 4)
                    out[o + 1] = Hex.digit(byte & 0x0F)
                    o += 2
                }
                return o
            }
        }
    }
}

extension UnsafeRawBufferPointer: ContiguousBytes {
    /// Calls `body` with the buffer itself.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { try body(self) }
}

/// A buffer of DRBG output; each thread has its own (fork-unsafe by design: upsign never forks
/// after start-up).
struct RandomPool {
    private static let size = 1024
    private var buffer = [UInt8](repeating: 0, count: RandomPool.size)
    private var offset = RandomPool.size

    /// The calling thread's pool.
    static let perThread = PerThread { RandomPool() }

    typealias Sixteen = (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)

    /// The next 16 bytes; used bytes are wiped from the pool.
    mutating func take16() throws(SecureRandom.Failure) -> Sixteen {
        if offset + 16 > RandomPool.size {
            let ok = buffer.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(RandomPool.size)) }
            guard ok == 1 else { throw SecureRandom.Failure() }
            offset = 0
        }
        var out: Sixteen = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let start = offset
        buffer.withUnsafeMutableBytes { pool in
            withUnsafeMutableBytes(of: &out) { dest in
                dest.copyMemory(from: UnsafeRawBufferPointer(rebasing: pool[start..<start + 16]))
            }
            memset(pool.baseAddress! + start, 0, 16)
        }
        offset += 16
        return out
    }
}
