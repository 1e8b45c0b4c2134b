import Crypto
import Glibc

/// The public keys OSS signs callbacks with: a pinned key from the configuration, or keys fetched
/// over https from allow-listed URLs and kept for a while per URL (OSS rotates them rarely; a
/// fetch per callback would make OSS's 5 s callback budget depend on a second server).
///
/// Callers run on the blocking pool, so a fetch holds a pool thread until it ends. The store
/// bounds what unauthenticated callers can make it do: one fetch per URL at a time (others asking
/// for that URL wait for it and share its result), at most `Limits.maxFetches` fetches at once
/// across all URLs and `Limits.maxWaiters` callers waiting for them (past either, a caller fails
/// at once instead of queueing), a failure remembered for `Limits.failureLifetime`, and at most
/// `Limits.capacity` URLs remembered.
public final class PublicKeyStore: @unchecked Sendable {
    /// Fetches the bytes at an https URL (bounded in time and size), or says why not. The store
    /// waits for it while holding no lock, but callers of the same URL wait for it: it must end.
    public typealias Fetch = @Sendable (String) -> Result<[UInt8], FetchFailure>
    /// A monotonic clock: the time since some fixed moment, never going back.
    public typealias Clock = @Sendable () -> Duration

    /// Why a key could not be had.
    public struct FetchFailure: Error, Sendable, Equatable, CustomStringConvertible {
        /// A sentence for the log.
        public let description: String
        /// Creates a failure.
        public init(description: String) { self.description = description }
    }

    /// How long results are kept, and how much fetching callers may cause.
    public struct Limits: Sendable, Equatable {
        /// How long a fetched key is used before its URL is fetched again (default 1 hour). OSS
        /// names a new key with a new URL, so this only bounds how long a key replaced or
        /// withdrawn at the same URL stays trusted; an hour costs one fetch per URL per hour.
        /// While the key is fetched again, other callers keep using the one they had; when that
        /// fetch fails, its failure replaces the key like any other failure.
        public var keyLifetime: Duration
        /// How long a failed fetch is answered from memory (default 10 s): a failing URL is
        /// fetched at most once per window, yet a key server's short outage ends soon after it does.
        public var failureLifetime: Duration
        /// Fetches running at once across all URLs (default 4): each may hold a pool thread for the
        /// fetch timeout, so keep it well under the blocking pool's size.
        public var maxFetches: Int
        /// Callers waiting at once for a fetch another caller started (default 16); past it they
        /// fail at once. Waiting happens only for a URL with no key yet.
        public var maxWaiters: Int
        /// URLs remembered, keys and failures together (default 64); failures and expired
        /// entries make room first.
        public var capacity: Int

        /// Limits with the defaults above, each replaceable.
        public init(
            keyLifetime: Duration = .seconds(3600), failureLifetime: Duration = .seconds(10), maxFetches: Int = 4,
            maxWaiters: Int = 16, capacity: Int = 64
        ) {
            self.keyLifetime = keyLifetime
            self.failureLifetime = failureLifetime
            self.maxFetches = max(1, maxFetches)
            self.maxWaiters = max(0, maxWaiters)
            self.capacity = max(1, capacity)
        }
    }

    /// What is known about one URL.
    private enum Entry {
        case key(PublicKey, until: Duration)
        case failed(FetchFailure, until: Duration)

        var until: Duration {
            switch self {
            case .key(_, let until), .failed(_, let until): until
            }
        }
    }

    private let pinned: PublicKey?
    private let fetch: Fetch
    private let clock: Clock
    /// The limits in force.
    public let limits: Limits
    // pthread primitives at fixed addresses, guarding everything below them.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let fetched = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var entries: [String: Entry] = [:]
    private var fetching: Set<String> = []
    private var waiting = 0

    /// A store using `pinned` when given, else fetching with `fetch` within `limits`, timing
    /// entries by `clock`.
    public init(
        pinned: PublicKey? = nil, fetch: @escaping Fetch = { _ in .failure(FetchFailure(description: "no key fetcher")) },
        limits: Limits = Limits(), clock: @escaping Clock = PublicKeyStore.monotonicClock
    ) {
        self.pinned = pinned
        self.limits = limits
        self.clock = clock
        self.fetch = fetch
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(fetched, nil)
    }

    deinit {
        pthread_cond_destroy(fetched)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        fetched.deallocate()
    }

    /// The default clock: CLOCK_MONOTONIC.
    public static let monotonicClock: Clock = {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return .seconds(now.tv_sec) + .nanoseconds(now.tv_nsec)
    }

    /// True when a pinned key is used and URLs are never fetched.
    public var isPinned: Bool { pinned != nil }

    /// Fetches running now (for tests).
    var fetchesRunning: Int { locked { fetching.count } }
    /// Callers waiting now for a fetch another caller started.
    var callersWaiting: Int { locked { waiting } }
    /// URLs remembered now, keys and failures.
    var remembered: Int { locked { entries.count } }

    /// The URL a key URL is fetched from: an `http://` URL becomes `https://` with the same host,
    /// port and path (OSS names its key `http://gosspublic.alicdn.com/…`, and a key fetched in
    /// the clear could be substituted on the way); an `https://` URL stays; anything else is nil.
    public static func fetchURL(for url: String) -> String? {
        if url.hasPrefix("https://") { return url }
        if url.hasPrefix("http://") { return "https://" + url.dropFirst(7) }
        return nil
    }

    /// The key for `url` (the pinned key when there is one), fetched over https when no fresh
    /// key or failure is remembered for it.
    public func key(for url: String?) -> Result<PublicKey, FetchFailure> {
        if let pinned { return .success(pinned) }
        guard let url else { return .failure(FetchFailure(description: "no public key URL")) }
        guard let target = Self.fetchURL(for: url) else {
            return .failure(FetchFailure(description: "\(url) is not an http(s) URL"))
        }
        switch claim(target) {
        case .known(let result): return result
        case .fetch: break
        }
        let result = Self.parse(fetch(target), url: target)
        settle(target, result)
        return result
    }

    /// What `claim` decided.
    private enum Claim {
        case known(Result<PublicKey, FetchFailure>)
        case fetch
    }

    /// A remembered answer for `target`, or the right (and duty) to fetch it: waits while another
    /// caller fetches a URL with no key yet.
    private func claim(_ target: String) -> Claim {
        locked {
            while true {
                let now = clock()
                let entry = entries[target]
                if let entry, now < entry.until {
                    switch entry {
                    case .key(let k, _): return .known(.success(k))
                    case .failed(let e, _): return .known(.failure(e))
                    }
                }
                if fetching.contains(target) {
                    // Being fetched again: the key that just expired serves until the fetch ends.
                    if case .key(let k, _)? = entry { return .known(.success(k)) }
                    guard waiting < limits.maxWaiters else {
                        return .known(
                            .failure(FetchFailure(description: "\(waiting) callbacks already wait for key fetches: not waiting for \(target)")))
                    }
                    waiting += 1
                    pthread_cond_wait(fetched, mutex)
                    waiting -= 1
                    continue
                }
                guard fetching.count < limits.maxFetches else {
                    return .known(.failure(FetchFailure(description: "\(fetching.count) key fetches already running: not fetching \(target)")))
                }
                fetching.insert(target)
                return .fetch
            }
        }
    }

    /// Records the outcome of fetching `target` and wakes the callers waiting for it.
    private func settle(_ target: String, _ result: Result<PublicKey, FetchFailure>) {
        locked {
            fetching.remove(target)
            let now = clock()
            let entry: Entry
            switch result {
            case .success(let k): entry = .key(k, until: now + limits.keyLifetime)
            case .failure(let e): entry = .failed(e, until: now + limits.failureLifetime)
            }
            if entries[target] == nil { makeRoom(now: now) }
            entries[target] = entry
            pthread_cond_broadcast(fetched)
        }
    }

    /// Frees a place when the store is full: expired entries go, else the failure that expires
    /// soonest, else the key that does.
    private func makeRoom(now: Duration) {
        guard entries.count >= limits.capacity else { return }
        entries = entries.filter { now < $0.value.until }
        guard entries.count >= limits.capacity else { return }
        let failures = entries.filter { if case .failed = $0.value { true } else { false } }
        let candidates = failures.isEmpty ? entries : failures
        if let soonest = candidates.min(by: { $0.value.until < $1.value.until })?.key { entries[soonest] = nil }
    }

    /// A fetch's bytes as a key, or why not.
    private static func parse(_ fetched: Result<[UInt8], FetchFailure>, url: String) -> Result<PublicKey, FetchFailure> {
        switch fetched {
        case .failure(let e): return .failure(e)
        case .success(let pem):
            do {
                return .success(try PublicKey(pem: pem))
            } catch {
                return .failure(FetchFailure(description: "\(url) did not serve a PEM public key"))
            }
        }
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }
}
