import Crypto
import Synchronization

/// The public keys OSS signs callbacks with: a pinned key from the configuration, or keys fetched
/// from allow-listed URLs and cached per URL (OSS rotates them rarely; a fetch per callback would
/// make OSS's 5 s callback budget depend on a second server).
public final class PublicKeyStore: Sendable {
    /// Fetches the bytes at a URL (bounded in time and size), or says why not.
    public typealias Fetch = @Sendable (String) -> Result<[UInt8], FetchFailure>

    /// Why a key could not be had.
    public struct FetchFailure: Error, Sendable, Equatable, CustomStringConvertible {
        /// A sentence for the log.
        public let description: String
        /// Creates a failure.
        public init(description: String) { self.description = description }
    }

    private let pinned: PublicKey?
    private let fetch: Fetch
    private let cache = Mutex<[String: PublicKey]>([:])

    /// A store using `pinned` when given, else fetching with `fetch`.
    public init(pinned: PublicKey? = nil, fetch: @escaping Fetch = { _ in .failure(FetchFailure(description: "no key fetcher")) }) {
        self.pinned = pinned
        self.fetch = fetch
    }

    /// True when a pinned key is used and URLs are never fetched.
    public var isPinned: Bool { pinned != nil }

    /// The key for `url` (the pinned key when there is one).
    public func key(for url: String?) -> Result<PublicKey, FetchFailure> {
        if let pinned { return .success(pinned) }
        guard let url else { return .failure(FetchFailure(description: "no public key URL")) }
        if let hit = cache.withLock({ $0[url] }) { return .success(hit) }
        let pem: [UInt8]
        switch fetch(url) {
        case .success(let bytes): pem = bytes
        case .failure(let e): return .failure(e)
        }
        let key: PublicKey
        do {
            key = try PublicKey(pem: pem)
        } catch {
            return .failure(FetchFailure(description: "\(url) did not serve a PEM public key"))
        }
        cache.withLock { cache in
            if cache.count >= 16 { cache.removeAll() }
            cache[url] = key
        }
        return .success(key)
    }
}
