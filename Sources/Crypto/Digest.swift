import COpenSSL

/// One-shot message digests computed by OpenSSL's libcrypto.
public enum Digest {
    /// Returns SHA-1(`message`) (20 bytes).
    public static func sha1(_ message: some ContiguousBytes) -> [UInt8] {
        compute(message, EVP_sha1(), 20)
    }

    /// Returns SHA-256(`message`) (32 bytes).
    public static func sha256(_ message: some ContiguousBytes) -> [UInt8] {
        compute(message, EVP_sha256(), 32)
    }

    private static func compute(_ message: some ContiguousBytes, _ md: OpaquePointer?, _ size: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        var length: UInt32 = 0
        message.withUnsafeBytes { m in
            out.withUnsafeMutableBufferPointer { o in
                _ = EVP_Digest(m.baseAddress, m.count, o.baseAddress, &length, md, nil)
            }
        }
        return out
    }
}
