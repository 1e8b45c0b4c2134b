import COpenSSL
import PerThread

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
