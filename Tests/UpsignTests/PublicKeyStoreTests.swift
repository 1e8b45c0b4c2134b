import CGI
import Crypto
import Foundation
import Logging
import PostPolicy
import Synchronization
import Testing

@testable import Upsign

/// PublicKeyStore: keys fetched over https only, kept for a lifetime, failures remembered briefly,
/// one fetch per URL at a time and a bounded number of fetches and waiters overall. Time is a
/// fake clock; concurrency is observed through the store's own counters, never through sleeps.
struct PublicKeyStoreTests {
    static let pem: [UInt8] = {
        let url = Bundle.module.url(forResource: "callback-test-public", withExtension: "pem", subdirectory: "Fixtures")
        return url.flatMap { try? Data(contentsOf: $0) }.map { Array($0) } ?? []
    }()

    /// A clock the test moves by hand.
    final class FakeClock: Sendable {
        private let now = Mutex<Duration>(.seconds(1000))
        var read: PublicKeyStore.Clock { { [self] in now.withLock { $0 } } }
        func advance(_ d: Duration) { now.withLock { $0 += d } }
    }

    /// A fetcher that records the URLs it is asked for and answers from `answer`; while held
    /// (`gated`, or after `hold()`), each fetch blocks until `release()`.
    final class Fetcher: Sendable {
        private let state = Mutex<(urls: [String], open: Bool)>(([], true))
        private let answer: @Sendable (String) -> Result<[UInt8], PublicKeyStore.FetchFailure>

        init(
            gated: Bool = false,
            answer: @escaping @Sendable (String) -> Result<[UInt8], PublicKeyStore.FetchFailure> = { _ in .success(PublicKeyStoreTests.pem) }
        ) {
            self.answer = answer
            if gated { hold() }
        }

        var fetch: PublicKeyStore.Fetch {
            { [self] url in
                state.withLock { $0.urls.append(url) }
                while !state.withLock({ $0.open }) { usleep(1000) }
                return answer(url)
            }
        }
        var urls: [String] { state.withLock { $0.urls } }
        func hold() { state.withLock { $0.open = false } }
        func release() { state.withLock { $0.open = true } }
    }

    static let failing: @Sendable (String) -> Result<[UInt8], PublicKeyStore.FetchFailure> = { url in
        .failure(.init(description: "\(url): connection refused"))
    }

    /// Runs `body` on a thread of its own; `wait()` returns its result.
    final class Background<T: Sendable>: Sendable {
        private let result = Mutex<T?>(nil)
        private let done = DispatchSemaphore(value: 0)
        init(_ body: @escaping @Sendable () -> T) {
            Thread { [self] in
                let r = body()
                result.withLock { $0 = r }
                done.signal()
            }.start()
        }
        func wait() -> T? {
            done.wait()
            return result.withLock { $0 }
        }
    }

    /// Spins (up to 10 s) until `condition` holds.
    static func eventually(_ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while !condition() {
            if Date() > deadline { return false }
            usleep(1000)
        }
        return true
    }

    // MARK: https only

    @Test(arguments: [
        ("http://gosspublic.alicdn.com/callback_pub_key_v1.pem", "https://gosspublic.alicdn.com/callback_pub_key_v1.pem"),
        ("http://127.0.0.1:8443/keys/k.pem", "https://127.0.0.1:8443/keys/k.pem"),
        ("https://gosspublic.alicdn.com/k.pem", "https://gosspublic.alicdn.com/k.pem"),
    ])
    func anHTTPKeyURLIsFetchedAsHTTPSWithTheSameHostPortAndPath(_ given: String, _ fetched: String) {
        let fetcher = Fetcher()
        let store = PublicKeyStore(fetch: fetcher.fetch)
        #expect((try? store.key(for: given).get()) != nil)
        #expect(fetcher.urls == [fetched])
    }

    @Test func theHTTPAndHTTPSSpellingsOfAURLShareOneFetch() {
        let fetcher = Fetcher()
        let store = PublicKeyStore(fetch: fetcher.fetch)
        _ = store.key(for: "http://gosspublic.alicdn.com/k.pem")
        _ = store.key(for: "https://gosspublic.alicdn.com/k.pem")
        #expect(fetcher.urls == ["https://gosspublic.alicdn.com/k.pem"])
    }

    @Test(arguments: ["ftp://gosspublic.alicdn.com/k.pem", "file:///etc/passwd", "gosspublic.alicdn.com/k.pem"])
    func aURLOfAnotherSchemeIsNeverFetched(_ url: String) {
        let fetcher = Fetcher()
        let store = PublicKeyStore(fetch: fetcher.fetch)
        #expect(PublicKeyStore.fetchURL(for: url) == nil)
        #expect(throws: PublicKeyStore.FetchFailure.self) { try store.key(for: url).get() }
        #expect(fetcher.urls.isEmpty)
    }

    @Test func theDefaultAllowListIsHTTPSYetAdmitsTheHTTPURLOSSSends() {
        let settings = CallbackSettings()
        #expect(settings.allowedKeyURLPrefixes == ["https://gosspublic.alicdn.com/"])
        #expect(settings.publicKeyURLPrefixes.contains { "http://gosspublic.alicdn.com/callback_pub_key_v1.pem".hasPrefix($0) })
        #expect(!settings.publicKeyURLPrefixes.contains { "http://gosspublic.alicdn.com.evil.example/k.pem".hasPrefix($0) })
    }

    @Test func anHTTPKeyURLFromOSSPassesTheDefaultAllowListAndIsFetchedOverHTTPS() throws {
        let fetcher = Fetcher()
        let configuration = try Configuration.parse(
            toml: """
                [profiles.a]
                bucket = "examplebucket"
                region = "cn-hangzhou"
                """)
        let app = Application(
            configuration: configuration, credentials: CredentialStore(fixed: [:]),
            clock: { Timestamp(iso8601: "2026-01-02T03:04:05Z")! }, uuid: { "u" }, logger: Logger(label: "t"),
            publicKeys: PublicKeyStore(fetch: fetcher.fetch))
        func verify(_ keyURL: String) -> Result<[UInt8], APIError> {
            app.verifyCallback(
                CGIRequest(
                    params: [
                        "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/upload/callback", "REQUEST_URI": "/upload/callback",
                        "CONTENT_TYPE": "application/json", "HTTP_AUTHORIZATION": Base64.encode(Array(repeating: 1, count: 64)),
                        "HTTP_X_OSS_PUB_KEY_URL": Base64.encode(Array(keyURL.utf8)),
                    ],
                    body: .bytes(Array(#"{"object":"a.jpg"}"#.utf8))))
        }
        // The signature is junk: what matters is that the key was allowed and fetched over https.
        #expect(verify("http://gosspublic.alicdn.com/callback_pub_key_v1.pem") == .failure(.callbackSignatureInvalid))
        #expect(fetcher.urls == ["https://gosspublic.alicdn.com/callback_pub_key_v1.pem"])
        #expect(verify("http://evil.example/callback_pub_key_v1.pem") == .failure(.keyURLNotAllowed))
        #expect(fetcher.urls.count == 1)
    }

    @Test func caFileIsAnAbsolutePathAndUnsetByDefault() throws {
        let profile = "[profiles.a]\nbucket = \"examplebucket\"\nregion = \"cn-hangzhou\"\n"
        #expect(try Configuration.parse(toml: profile).callback.caFile == nil)
        let set = try Configuration.parse(toml: profile + "[callback]\nca_file = \"/etc/upsign/oss-ca.pem\"\n")
        #expect(set.callback.caFile == "/etc/upsign/oss-ca.pem")
        #expect(throws: ConfigurationError.self) { try Configuration.parse(toml: profile + "[callback]\nca_file = \"oss-ca.pem\"\n") }
    }

    // MARK: lifetimes

    @Test func aKeyIsUsedForItsLifetimeThenFetchedAgain() {
        let clock = FakeClock()
        let fetcher = Fetcher()
        let store = PublicKeyStore(fetch: fetcher.fetch, limits: .init(keyLifetime: .seconds(3600)), clock: clock.read)
        let url = "https://gosspublic.alicdn.com/k.pem"
        _ = store.key(for: url)
        clock.advance(.seconds(3599))
        _ = store.key(for: url)
        #expect(fetcher.urls.count == 1)
        clock.advance(.seconds(1))
        #expect((try? store.key(for: url).get()) != nil)
        #expect(fetcher.urls.count == 2)
    }

    @Test func aFailureIsRememberedForItsWindowThenRetried() {
        let clock = FakeClock()
        let works = Mutex(false)
        let fetcher = Fetcher { url in works.withLock { $0 } ? .success(PublicKeyStoreTests.pem) : PublicKeyStoreTests.failing(url) }
        let store = PublicKeyStore(fetch: fetcher.fetch, limits: .init(failureLifetime: .seconds(10)), clock: clock.read)
        let url = "https://gosspublic.alicdn.com/k.pem"
        #expect(throws: PublicKeyStore.FetchFailure.self) { try store.key(for: url).get() }
        works.withLock { $0 = true }
        clock.advance(.seconds(9))
        #expect(throws: PublicKeyStore.FetchFailure.self) { try store.key(for: url).get() }
        #expect(fetcher.urls.count == 1)
        clock.advance(.seconds(1))
        #expect((try? store.key(for: url).get()) != nil)
        #expect(fetcher.urls.count == 2)
    }

    @Test func aServedNonKeyIsAFailureRememberedLikeAnyOther() {
        let fetcher = Fetcher { _ in .success(Array("not a key".utf8)) }
        let store = PublicKeyStore(fetch: fetcher.fetch)
        #expect(throws: PublicKeyStore.FetchFailure.self) { try store.key(for: "https://gosspublic.alicdn.com/k.pem").get() }
        #expect(throws: PublicKeyStore.FetchFailure.self) { try store.key(for: "https://gosspublic.alicdn.com/k.pem").get() }
        #expect(fetcher.urls.count == 1)
    }

    @Test func anExpiredKeyKeepsServingOtherCallersWhileItIsFetchedAgain() {
        let clock = FakeClock()
        let fetcher = Fetcher()
        let store = PublicKeyStore(fetch: fetcher.fetch, limits: .init(keyLifetime: .seconds(60)), clock: clock.read)
        let url = "https://gosspublic.alicdn.com/k.pem"
        _ = store.key(for: url)
        fetcher.hold()
        clock.advance(.seconds(61))
        let refetch = Background { store.key(for: url) }
        #expect(Self.eventually { store.fetchesRunning == 1 })
        // The refetch is held, yet another caller is answered at once with the key it replaces.
        #expect((try? store.key(for: url).get()) != nil)
        #expect(store.callersWaiting == 0)
        fetcher.release()
        #expect((try? refetch.wait()?.get()) != nil)
        #expect(fetcher.urls.count == 2)
    }

    // MARK: single flight and bounds

    @Test func concurrentCallersOfOneURLShareOneFetch() {
        let fetcher = Fetcher(gated: true)
        let store = PublicKeyStore(fetch: fetcher.fetch)
        let url = "https://gosspublic.alicdn.com/k.pem"
        let callers = (0..<8).map { _ in Background { store.key(for: url) } }
        #expect(Self.eventually { store.fetchesRunning == 1 && store.callersWaiting == 7 })
        fetcher.release()
        for c in callers { #expect((try? c.wait()?.get()) != nil) }
        #expect(fetcher.urls == [url])
    }

    @Test func callersOfAFailingURLShareOneFailure() {
        let fetcher = Fetcher(gated: true, answer: Self.failing)
        let store = PublicKeyStore(fetch: fetcher.fetch)
        let url = "https://gosspublic.alicdn.com/k.pem"
        let callers = (0..<5).map { _ in Background { store.key(for: url) } }
        #expect(Self.eventually { store.callersWaiting == 4 })
        fetcher.release()
        for c in callers {
            guard case .failure(let e)? = c.wait() else {
                Issue.record("a caller got a key")
                continue
            }
            #expect(e.description.contains("connection refused"))
        }
        #expect(fetcher.urls == [url])
    }

    @Test func aCallerPastTheFetchBoundFailsAtOnceAndIsNotRemembered() {
        let fetcher = Fetcher(gated: true)
        let store = PublicKeyStore(fetch: fetcher.fetch, limits: .init(maxFetches: 2))
        let held = ["https://gosspublic.alicdn.com/a.pem", "https://gosspublic.alicdn.com/b.pem"].map { url in
            Background { store.key(for: url) }
        }
        #expect(Self.eventually { store.fetchesRunning == 2 })
        guard case .failure(let e) = store.key(for: "https://gosspublic.alicdn.com/c.pem") else {
            Issue.record("a third fetch was allowed")
            return
        }
        #expect(e.description.contains("key fetches already running"))
        #expect(fetcher.urls.count == 2)
        fetcher.release()
        for h in held { #expect((try? h.wait()?.get()) != nil) }
        // Refused for want of room, not for a fault of the URL: fetched on the next call.
        #expect((try? store.key(for: "https://gosspublic.alicdn.com/c.pem").get()) != nil)
        #expect(fetcher.urls.count == 3)
    }

    @Test func aCallerPastTheWaiterBoundFailsAtOnce() {
        let fetcher = Fetcher(gated: true)
        let store = PublicKeyStore(fetch: fetcher.fetch, limits: .init(maxWaiters: 1))
        let url = "https://gosspublic.alicdn.com/k.pem"
        let fetching = Background { store.key(for: url) }
        #expect(Self.eventually { store.fetchesRunning == 1 })
        let waiting = Background { store.key(for: url) }
        #expect(Self.eventually { store.callersWaiting == 1 })
        guard case .failure(let e) = store.key(for: url) else {
            Issue.record("a second waiter was admitted")
            return
        }
        #expect(e.description.contains("wait for key fetches"))
        fetcher.release()
        #expect((try? fetching.wait()?.get()) != nil)
        #expect((try? waiting.wait()?.get()) != nil)
        #expect(fetcher.urls == [url])
    }

    @Test func theStoreRemembersAtMostItsCapacityAndDropsFailuresBeforeKeys() {
        let fetcher = Fetcher { url in url.contains("/bad-") ? PublicKeyStoreTests.failing(url) : .success(PublicKeyStoreTests.pem) }
        let store = PublicKeyStore(fetch: fetcher.fetch, limits: .init(capacity: 4))
        let good = "https://gosspublic.alicdn.com/good.pem"
        _ = store.key(for: good)
        for i in 0..<20 { _ = store.key(for: "https://gosspublic.alicdn.com/bad-\(i).pem") }
        #expect(store.remembered <= 4)
        _ = store.key(for: good)
        #expect(fetcher.urls.filter { $0 == good }.count == 1)
    }

    // MARK: pinned

    @Test func aPinnedKeyNeverFetches() throws {
        let fetcher = Fetcher()
        let pinned = try PublicKey(pem: Self.pem)
        let store = PublicKeyStore(pinned: pinned, fetch: fetcher.fetch)
        #expect(store.isPinned)
        for url in ["http://gosspublic.alicdn.com/k.pem", "https://evil.example/k.pem", nil] {
            #expect((try? store.key(for: url).get()) != nil)
        }
        #expect(fetcher.urls.isEmpty)
    }
}
