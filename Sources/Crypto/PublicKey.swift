import COpenSSL

/// A public key read from PEM, for verifying signatures (OSS signs upload callbacks with RSA).
public final class PublicKey: @unchecked Sendable {
    // An EVP_PKEY is immutable once read; verifying with it from several threads at once is
    // safe in OpenSSL 3, each verification using its own digest context.
    private let key: OpaquePointer

    /// Why a key could not be read.
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        /// What was wrong.
        public let description: String
    }

    /// Reads a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), as OSS serves its callback keys.
    public init(pem: some ContiguousBytes) throws(ParseError) {
        let parsed: OpaquePointer? = pem.withUnsafeBytes { raw -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        }
        ERR_clear_error()
        guard let parsed else { throw ParseError(description: "not a PEM public key") }
        key = parsed
    }

    deinit { EVP_PKEY_free(key) }

    /// The digest a signature was made over.
    public enum DigestAlgorithm: Sendable {
        /// MD5 (OSS upload callbacks).
        case md5
        /// SHA-1.
        case sha1
        /// SHA-256.
        case sha256

        var evp: OpaquePointer? {
            switch self {
            case .md5: EVP_md5()
            case .sha1: EVP_sha1()
            case .sha256: EVP_sha256()
            }
        }
    }

    /// True when `signature` is a valid PKCS#1 v1.5 signature of `message` under this key.
    public func verify(signature: some ContiguousBytes, message: some ContiguousBytes, digest: DigestAlgorithm) -> Bool {
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, digest.evp, nil, key) == 1 else {
            ERR_clear_error()
            return false
        }
        let ok = message.withUnsafeBytes { m in
            signature.withUnsafeBytes { s in
                EVP_DigestVerify(
                    context, s.baseAddress?.assumingMemoryBound(to: UInt8.self), s.count,
                    m.baseAddress?.assumingMemoryBound(to: UInt8.self), m.count)
            }
        }
        ERR_clear_error()
        return ok == 1
    }
}
