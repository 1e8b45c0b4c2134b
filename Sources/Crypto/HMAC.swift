import COpenSSL
import PerThread
import Synchronization

/// Keyed-hash message authentication codes computed by OpenSSL's libcrypto.
public enum HMAC {
    /// The digest an HMAC is built on.
    public enum Algorithm: Sendable, Hashable {
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

    /// Returns HMAC(`key`, `message`) for a key that signs again and again (a credential's secret,
    /// a day's V4 signing key). Each thread keeps an OpenSSL context already keyed with it, so a MAC
    /// costs the message's blocks only: no digest lookup, no key schedule (about 3.5 times the
    /// one-shot rate on a policy-sized message). Same result as `authenticationCode`.
    public static func authenticationCode(_ algorithm: Algorithm, reusedKey key: [UInt8], message: some ContiguousBytes) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: algorithm.byteCount) { out, count in
            count = authenticationCode(algorithm, reusedKey: key, message: message, into: UnsafeMutableRawBufferPointer(out))
        }
    }

    /// HMAC(`key`, `message`) through a kept keyed context, as text made by `encoded` (`Hex.encode`
    /// for the V4 signatures, `Base64.encode` for V1): the MAC stays on the stack, and the text is
    /// the one allocation.
    public static func authenticationCode(
        _ algorithm: Algorithm, reusedKey key: [UInt8], message: some ContiguousBytes,
        encoded: (UnsafeRawBufferPointer) -> String
    ) -> String {
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 8) { mac in
            let length = authenticationCode(algorithm, reusedKey: key, message: message, into: mac)
            return encoded(UnsafeRawBufferPointer(rebasing: mac[..<length]))
        }
    }

    /// MACs `message` into `out` (at least `algorithm.byteCount` bytes); returns the length.
    private static func authenticationCode(
        _ algorithm: Algorithm, reusedKey key: [UInt8], message: some ContiguousBytes, into out: UnsafeMutableRawBufferPointer
    ) -> Int {
        var length: UInt32 = 0
        keyedContexts.withValue { contexts in
            let ctx = contexts.context(algorithm, key: key)
            message.withUnsafeBytes { m in
                // Resets to the keyed state (a NULL key reuses the one set), then MACs the message.
                _ = HMAC_Init_ex(ctx, nil, 0, nil, nil)
                _ = HMAC_Update(ctx, m.baseAddress?.assumingMemoryBound(to: UInt8.self), m.count)
                _ = HMAC_Final(ctx, out.baseAddress?.assumingMemoryBound(to: UInt8.self), &length)
            }
        }
        return Int(length)
    }

    /// Returns HMAC-SHA1(`key`, `message`) through a kept keyed context.
    public static func sha1(reusedKey key: [UInt8], message: some ContiguousBytes) -> [UInt8] {
        authenticationCode(.sha1, reusedKey: key, message: message)
    }

    /// Returns HMAC-SHA256(`key`, `message`) through a kept keyed context.
    public static func sha256(reusedKey key: [UInt8], message: some ContiguousBytes) -> [UInt8] {
        authenticationCode(.sha256, reusedKey: key, message: message)
    }

    private static let keyedContexts = PerThread<KeyedContexts> { KeyedContexts() }
}

extension HMAC {
    /// One thread's keyed HMAC contexts, at most `capacity` (all are dropped when a new key would
    /// exceed it: keys change rarely, with a rotation or a new day), and all of them when
    /// `KeyMaterialCaches.forgetAll()` is called.
    private final class KeyedContexts {
        struct Entry: Hashable {
            let algorithm: HMAC.Algorithm
            let key: [UInt8]

            func hash(into hasher: inout Hasher) {
                hasher.combine(algorithm)
                key.withUnsafeBytes { hasher.combine(bytes: $0) }
            }
        }

        private var contexts: [Entry: OpaquePointer] = [:]
        /// The context used last: nearly every request of a thread signs under the same key.
        private var last: (entry: Entry, context: OpaquePointer)?
        private let capacity = 32

        private var epoch: UInt64 = 0

        func context(_ algorithm: HMAC.Algorithm, key: [UInt8]) -> OpaquePointer {
            let current = KeyMaterialCaches.current
            if current != epoch {
                removeAll()
                epoch = current
            }
            if let last, last.entry.algorithm == algorithm, last.entry.key == key { return last.context }
            let entry = Entry(algorithm: algorithm, key: key)
            if let ctx = contexts[entry] {
                last = (entry, ctx)
                return ctx
            }
            if contexts.count >= capacity { removeAll() }
            // Allocation failure is the only way these fail; nothing here is input-driven.
            let ctx = HMAC_CTX_new()!
            key.withUnsafeBufferPointer { k in
                _ = HMAC_Init_ex(ctx, k.baseAddress, Int32(k.count), algorithm.evp, nil)
            }
            contexts[entry] = ctx
            last = (entry, ctx)
            return ctx
        }

        private func removeAll() {
            last = nil
            for ctx in contexts.values { HMAC_CTX_free(ctx) }
            contexts.removeAll()
        }

        deinit { removeAll() }
    }
}
