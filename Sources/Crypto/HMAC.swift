import COpenSSL

/// Keyed-hash message authentication codes computed by OpenSSL's libcrypto.
public enum HMAC {
    /// The digest an HMAC is built on.
    public enum Algorithm: Sendable {
        /// SHA-1 (20-byte MACs): OSS V1, OBS, COS, Qiniu, S3 SigV2.
        case sha1
        /// SHA-256 (32-byte MACs): OSS V4, S3 SigV4, GCS V4.
        case sha256

        /// The MAC length in bytes.
        public var byteCount: Int {
            switch self {
            case .sha1: 20
            case .sha256: 32
            }
        }

        var evp: OpaquePointer? {
            switch self {
            case .sha1: EVP_sha1()
            case .sha256: EVP_sha256()
            }
        }
    }

    /// Returns HMAC(`key`, `message`) with the given digest.
    public static func authenticationCode(
        _ algorithm: Algorithm,
        key: some ContiguousBytes,
        message: some ContiguousBytes
    ) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: algorithm.byteCount)
        var length: UInt32 = 0
        key.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                out.withUnsafeMutableBufferPointer { o in
                    // HMAC() only fails on allocation failure or an unknown digest; neither is input-driven.
                    _ = COpenSSL.HMAC(
                        algorithm.evp, k.baseAddress, Int32(k.count),
                        m.baseAddress?.assumingMemoryBound(to: UInt8.self), m.count,
                        o.baseAddress, &length)
                }
            }
        }
        return out
    }

    /// Returns HMAC-SHA1(`key`, `message`).
    public static func sha1(key: some ContiguousBytes, message: some ContiguousBytes) -> [UInt8] {
        authenticationCode(.sha1, key: key, message: message)
    }

    /// Returns HMAC-SHA256(`key`, `message`).
    public static func sha256(key: some ContiguousBytes, message: some ContiguousBytes) -> [UInt8] {
        authenticationCode(.sha256, key: key, message: message)
    }
}
