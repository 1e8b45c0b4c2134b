import Crypto
import PerThread

/// Derived V4 signing keys (OSS V4, S3 SigV4, GCS V4), cached per (scheme, access key id, secret
/// generation, day, region), as aws-sdk-go-v2's key deriver does: four HMACs are saved on every
/// request but the first of a day. Safe to share between threads: each thread keeps its own small
/// cache, so no request waits on a lock (a thread derives a key once per day, region, scheme and
/// credentials generation).
public final class SigningKeyCache: Sendable {
    struct Key: Hashable {
        let algorithm: String
        let accessKeyId: String
        let generation: UInt64
        let date: String
        let region: String
    }

    /// What is kept per key: the signing key and the credential scope it signs for.
    public struct Derived: Sendable {
        /// The signing key.
        public let key: [UInt8]
        /// `AKID/YYYYMMDD/REGION/SERVICE/TERMINATOR`, rendered once per key rather than per form.
        public let credential: String
        /// The policy's algorithm and credential conditions as JSON array elements
        /// (`{"x-amz-algorithm":"…"},{"x-amz-credential":"…"}`), rendered once per key.
        public let leadingConditions: [UInt8]
    }

    /// A thread's keys, and the one it used last (nearly every request asks for that one again).
    struct Keys {
        var all: [Key: Derived] = [:]
        var last: (id: Key, derived: Derived)?
        /// The `KeyMaterialCaches` epoch the keys were derived in.
        var epoch = KeyMaterialCaches.current

        /// Empties the keys when credentials changed since they were derived.
        mutating func dropIfStale() {
            let current = KeyMaterialCaches.current
            guard current != epoch else { return }
            all.removeAll()
            last = nil
            epoch = current
        }
    }

    private let keys = PerThread<Keys> { Keys() }
    private let capacity: Int

    /// Creates an empty cache holding at most `capacity` keys (old days fall out when full).
    public init(capacity: Int = 64) { self.capacity = capacity }

    /// The `scheme` signing key for `credentials` on `date` (`YYYYMMDD`) in `region`, derived on a
    /// miss. `generation` identifies the secret: a rotated secret must come with a new generation.
    public func key(_ scheme: DerivedKeyScheme, credentials: Credentials, generation: UInt64, date: String, region: String) -> [UInt8] {
        derived(scheme, credentials: credentials, generation: generation, date: date, region: region).key
    }

    /// The signing key and the credential scope, derived and rendered on a miss.
    public func derived(_ scheme: DerivedKeyScheme, credentials: Credentials, generation: UInt64, date: String, region: String) -> Derived {
        let id = Key(algorithm: scheme.algorithm, accessKeyId: credentials.accessKeyId, generation: generation, date: date, region: region)
        if let hit = keys.withValue({ cache -> Derived? in
            cache.dropIfStale()
            if let last = cache.last, last.id == id { return last.derived }
            guard let derived = cache.all[id] else { return nil }
            cache.last = (id, derived)
            return derived
        }) {
            return hit
        }
        let derived = scheme.derive(credentials: credentials, date: date, region: region)
        keys.withValue { cache in
            if cache.all.count >= capacity { cache.all.removeAll(keepingCapacity: true) }
            cache.all[id] = derived
            cache.last = (id, derived)
        }
        return derived
    }
}
