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

    /// A thread's keys, and the one it used last (nearly every request asks for that one again).
    struct Keys {
        var all: [Key: [UInt8]] = [:]
        var last: (id: Key, key: [UInt8])?
    }

    private let keys = PerThread<Keys> { Keys() }
    private let capacity: Int

    /// Creates an empty cache holding at most `capacity` keys (old days fall out when full).
    public init(capacity: Int = 64) { self.capacity = capacity }

    /// The `scheme` signing key for `credentials` on `date` (`YYYYMMDD`) in `region`, derived on a
    /// miss. `generation` identifies the secret: a rotated secret must come with a new generation.
    public func key(_ scheme: DerivedKeyScheme, credentials: Credentials, generation: UInt64, date: String, region: String) -> [UInt8] {
        let id = Key(algorithm: scheme.algorithm, accessKeyId: credentials.accessKeyId, generation: generation, date: date, region: region)
        if let hit = keys.withValue({ cache -> [UInt8]? in
            if let last = cache.last, last.id == id { return last.key }
            guard let key = cache.all[id] else { return nil }
            cache.last = (id, key)
            return key
        }) {
            return hit
        }
        let derived = scheme.signingKey(secret: credentials.secret, date: date, region: region)
        keys.withValue { cache in
            if cache.all.count >= capacity { cache.all.removeAll(keepingCapacity: true) }
            cache.all[id] = derived
            cache.last = (id, derived)
        }
        return derived
    }
}
