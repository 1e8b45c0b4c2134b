import ASCIIText
import Crypto
import Glibc
import PerThread
import PostPolicy
import Synchronization

/// The credentials of every profile, loaded at start-up from the environment or files, and
/// reloaded when a file changes (`reloadChangedFiles`, polled by `serve`) or on demand
/// (`reloadAll`, SIGHUP).
///
/// Each source is one immutable `Snapshot` swapped whole under a lock, so a request signs with
/// exactly one generation of credentials. A file that cannot be read or parsed (half-written by
/// an agent, say) keeps the previous snapshot; a source that never loaded answers 503.
public final class CredentialStore: Sendable {
    /// Why credentials could not be loaded. Never includes a secret.
    public struct LoadError: Error, Sendable, Equatable, CustomStringConvertible {
        /// A sentence naming the problem.
        public let description: String
    }

    /// One generation of a source's credentials.
    public struct Snapshot: Sendable, Equatable {
        /// The key pair and token.
        public let credentials: Credentials
        /// Unique across the store; a new one for every successful (re)load.
        public let generation: UInt64
        /// When temporary credentials stop working, if known.
        public let expiration: Timestamp?
        /// When this generation was loaded.
        public var loadedAt = Timestamp(secondsSince1970: 0)
    }

    /// What a reload did to one source, for the log.
    public enum ReloadEvent: Sendable, Equatable {
        /// New credentials are in use.
        case loaded(source: CredentialsSource, generation: UInt64, expiration: Timestamp?)
        /// The source could not be read; the previous credentials (if any) stay in use.
        case failed(source: CredentialsSource, error: LoadError, keptGeneration: UInt64?)
    }

    /// A file's identity and modification stamp: a change in any of them means "read again".
    struct FileStamp: Equatable {
        var device: UInt64, inode: UInt64, size: Int64, mtimeSeconds: Int, mtimeNanoseconds: Int, ctimeNanoseconds: Int
    }

    private struct Entry {
        var snapshot: Snapshot?
        var lastError: LoadError?
        var stamp: FileStamp?
    }

    private struct State {
        var entries: [CredentialsSource: Entry] = [:]
        var nextGeneration: UInt64 = 1
    }

    private let state: Mutex<State>
    /// Bumped under the lock whenever an entry changes; readers compare it with their copy.
    private let version = Atomic<UInt64>(0)
    /// Each thread's copy of the entries and the version it was taken at: the request path reads
    /// it without the lock, which it takes only after a reload.
    private let readerCopies = PerThread<(version: UInt64, results: [CredentialsSource: Result<Snapshot, LoadError>])?> { nil }
    private let environment: [String: String]
    private let clock: @Sendable () -> Timestamp

    /// Loads each distinct source named by `profiles`; `clock` tells when loaded credentials have
    /// already expired.
    public init(
        profiles: some Sequence<Profile>, environment: [String: String],
        clock: @escaping @Sendable () -> Timestamp = { Timestamp(secondsSince1970: 0) }
    ) {
        self.environment = environment
        self.clock = clock
        state = Mutex(State())
        var sources: [CredentialsSource] = []
        for p in profiles where !sources.contains(p.credentials) { sources.append(p.credentials) }
        for s in sources { _ = reload(s, force: true) }
    }

    /// A store holding fixed credentials for every source (tests, `sign --now` reproductions).
    public init(fixed: [CredentialsSource: Credentials]) {
        environment = [:]
        clock = { Timestamp(secondsSince1970: 0) }
        var s = State()
        for (source, c) in fixed {
            s.entries[source] = Entry(snapshot: Snapshot(credentials: c, generation: s.nextGeneration, expiration: nil))
            s.nextGeneration += 1
        }
        state = Mutex(s)
    }

    /// The current credentials of `source`, or why there are none.
    public func snapshot(for source: CredentialsSource) -> Result<Snapshot, LoadError> {
        // The version is read before the entries: a copy tagged with an older version than its
        // contents is only refreshed once more, never served stale.
        let current = version.load(ordering: .acquiring)
        let results = readerCopies.withValue { copy in
            if let copy, copy.version == current { return copy.results }
            let fresh = state.withLock { s in
                s.entries.mapValues { entry -> Result<Snapshot, LoadError> in
                    if let snapshot = entry.snapshot { return .success(snapshot) }
                    return .failure(entry.lastError ?? LoadError(description: "not loaded"))
                }
            }
            copy = (current, fresh)
            return fresh
        }
        return results[source] ?? .failure(LoadError(description: "credentials \(source) were not loaded"))
    }

    /// Every source's current generation, for the start-up log, health and metrics.
    public var loaded: [(source: CredentialsSource, generation: UInt64, expiration: Timestamp?, loadedAt: Timestamp)] {
        state.withLock { s in
            s.entries.compactMap { source, entry in
                entry.snapshot.map { (source, $0.generation, $0.expiration, $0.loadedAt) }
            }
        }.sorted { $0.source.description < $1.source.description }
    }

    /// Sources with no usable credentials, with their reasons.
    public var failures: [(source: CredentialsSource, error: LoadError)] {
        state.withLock { s in
            s.entries.compactMap { source, entry in
                entry.snapshot == nil ? (source, entry.lastError ?? LoadError(description: "not loaded")) : nil
            }
        }.sorted { $0.source.description < $1.source.description }
    }

    /// Reads again every file source whose stamp changed since it was last read.
    public func reloadChangedFiles() -> [ReloadEvent] {
        sources.compactMap { source in
            guard case .file = source else { return nil }
            return reload(source, force: false)
        }
    }

    /// Reads every source again (environment sources cannot change in a running process, so only
    /// files are read).
    public func reloadAll() -> [ReloadEvent] {
        sources.compactMap { source in
            guard case .file = source else { return nil }
            return reload(source, force: true)
        }
    }

    /// The sources this store loads, in a fixed order.
    public var sources: [CredentialsSource] {
        state.withLock { Array($0.entries.keys) }.sorted { $0.description < $1.description }
    }

    /// Loads `source` and swaps it in when it loaded; nil when nothing changed.
    private func reload(_ source: CredentialsSource, force: Bool) -> ReloadEvent? {
        let stamp: FileStamp?
        if case .file(let path) = source {
            stamp = Self.resolve(path, environment: environment).flatMap(Self.stamp)
            let unchanged = state.withLock { $0.entries[source]?.stamp == stamp && $0.entries[source] != nil }
            if unchanged && !force { return nil }
        } else {
            stamp = nil
        }
        let result = Self.load(source, environment: environment)
        let now = clock()
        return state.withLock { s -> ReloadEvent in
            var entry = s.entries[source] ?? Entry()
            entry.stamp = stamp
            switch result {
            case .success(let contents)
            where contents.expiration.map({ $0 <= now }) ?? false
                && entry.snapshot.map({ $0.expiration.map { $0 > now } ?? true }) ?? false:
                // Stale credentials must not replace ones that still work.
                let error = LoadError(description: "the new credentials expired at \(contents.expiration?.iso8601Milliseconds ?? "?") already")
                entry.lastError = error
                s.entries[source] = entry
                version.add(1, ordering: .releasing)
                return .failed(source: source, error: error, keptGeneration: entry.snapshot?.generation)
            case .success(let contents):
                // The signing threads' kept HMAC contexts and derived keys may hold the secret
                // being replaced.
                KeyMaterialCaches.forgetAll()
                let snapshot = Snapshot(
                    credentials: contents.credentials, generation: s.nextGeneration, expiration: contents.expiration, loadedAt: now)
                s.nextGeneration += 1
                entry.snapshot = snapshot
                entry.lastError = nil
                s.entries[source] = entry
                version.add(1, ordering: .releasing)
                return .loaded(source: source, generation: snapshot.generation, expiration: snapshot.expiration)
            case .failure(let error):
                entry.lastError = error
                s.entries[source] = entry
                version.add(1, ordering: .releasing)
                return .failed(source: source, error: error, keptGeneration: entry.snapshot?.generation)
            }
        }
    }

    static func stamp(_ path: String) -> FileStamp? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileStamp(
            device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size),
            mtimeSeconds: st.st_mtim.tv_sec, mtimeNanoseconds: st.st_mtim.tv_nsec, ctimeNanoseconds: st.st_ctim.tv_nsec)
    }

    /// Loads one source.
    public static func load(_ source: CredentialsSource, environment: [String: String]) -> Result<CredentialsFile.Contents, LoadError> {
        switch source {
        case .environment:
            return fromEnvironment(environment).map { CredentialsFile.Contents(credentials: $0, expiration: nil) }
        case .environmentNamed(let id, let secret, let token):
            func value(_ name: String) -> String? {
                guard let v = environment[name], !v.isEmpty else { return nil }
                return v
            }
            guard let i = value(id), let s = value(secret) else {
                return .failure(LoadError(description: "no credentials in the environment: set \(id) and \(secret)"))
            }
            return validated(Credentials(accessKeyId: i, secret: Secret(s), securityToken: token.flatMap(value)), source: "environment (\(id))")
                .map { CredentialsFile.Contents(credentials: $0, expiration: nil) }
        case .file(let path):
            guard let resolved = resolve(path, environment: environment) else {
                return .failure(
                    LoadError(description: "\(path): CREDENTIALS_DIRECTORY is not set (systemd sets it for a service with LoadCredential=)"))
            }
            return fromFile(resolved)
        }
    }

    /// The prefix of a credentials path inside systemd's credentials directory.
    public static let credentialsDirectoryPrefix = "$CREDENTIALS_DIRECTORY/"

    /// `path` with a leading `$CREDENTIALS_DIRECTORY/` replaced by that variable's value (nil
    /// when it is unset); other paths as they are.
    static func resolve(_ path: String, environment: [String: String]) -> String? {
        guard path.hasPrefix(credentialsDirectoryPrefix) else { return path }
        guard let dir = environment["CREDENTIALS_DIRECTORY"], dir.hasPrefix("/") else { return nil }
        return dir + "/" + path.dropFirst(credentialsDirectoryPrefix.count)
    }

    /// OSS's variables (`Store.aliyunOSS.environment`): the first pair present wins, the token
    /// read with it (`OSS_*`, then the Alibaba Cloud tool's `ALIBABA_CLOUD_*`).
    static func fromEnvironment(_ env: [String: String]) -> Result<Credentials, LoadError> {
        func value(_ name: String) -> String? {
            guard let v = env[name], !v.isEmpty else { return nil }
            return v
        }
        let names = Store.aliyunOSS.environment
        for v in names {
            if let i = value(v.accessKeyId), let s = value(v.secret) {
                return validated(
                    Credentials(accessKeyId: i, secret: Secret(s), securityToken: v.token.flatMap(value)), source: "environment (\(v.accessKeyId))")
            }
        }
        let pairs = names.map { "\($0.accessKeyId) and \($0.secret)" }
        return .failure(
            LoadError(description: "no credentials in the environment: set \(pairs[0])" + pairs.dropFirst().map { " (or \($0))" }.joined()))
    }

    /// A credentials file (`CredentialsFile`), readable by its owner only.
    static func fromFile(_ path: String) -> Result<CredentialsFile.Contents, LoadError> {
        let mode: mode_t
        do {
            mode = try FileText.mode(path)
        } catch {
            return .failure(LoadError(description: "credentials file \(path): \(error)"))
        }
        if mode & 0o077 != 0 {
            return .failure(
                LoadError(
                    description: "credentials file \(path) is accessible by group or others (mode \(String(mode & 0o777, radix: 8))); chmod 600 it"))
        }
        let text: String
        do {
            text = try FileText.read(path, limit: 64 * 1024)
        } catch {
            return .failure(LoadError(description: "credentials file \(path): \(error)"))
        }
        switch CredentialsFile.parse(text) {
        case .failure(let e):
            return .failure(LoadError(description: "credentials file \(path): \(e.description)"))
        case .success(let contents):
            return validated(contents.credentials, source: "credentials file \(path)").map {
                CredentialsFile.Contents(credentials: $0, expiration: contents.expiration)
            }
        }
    }

    /// Refuses values that would break a form or a policy (control characters, over-long values).
    static func validated(_ c: Credentials, source: String) -> Result<Credentials, LoadError> {
        func printable(_ s: String, max: Int) -> Bool {
            s.utf8.count <= max && s.utf8.allSatisfy(ASCII.isVisible)
        }
        guard printable(c.accessKeyId, max: 256) else {
            return .failure(LoadError(description: "\(source): the access key id has spaces, control or non-ASCII characters"))
        }
        guard c.secret.withBytes({ $0.count <= 1024 }) else {
            return .failure(LoadError(description: "\(source): the secret is implausibly long"))
        }
        if let t = c.securityToken, !printable(t, max: 8192) {
            return .failure(LoadError(description: "\(source): the security token has spaces, control or non-ASCII characters"))
        }
        return .success(c)
    }
}
