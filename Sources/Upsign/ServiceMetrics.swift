import PerThread
import PostPolicy
import Prometheus
import Synchronization

/// What the worker reports at `{base_path}/metrics`, in the Prometheus text format.
///
/// One instance lives for the whole process (a SIGHUP reload keeps it, so counters carry on).
/// The request path shares nothing with other threads: each thread counts into its own tally
/// (behind a lock only a scrape ever contends for), and a scrape adds the tallies up. A shared
/// histogram (swift-prometheus's takes a lock per observation) or shared atomic counters would
/// have every request write the same cache lines, where dozens of threads on a few cores queue:
/// it shows in the throughput and the tail latency through nginx (`Benchmarks/stack.sh`).
/// Counters go out through swift-prometheus's registry; the histogram, which that
/// registry can only fill one observation at a time, is written here in the same text format.
/// Gauges (threads, credentials, memory) are read when scraped, from the `sampler` the server
/// installs.
public final class ServiceMetrics: Sendable {
    /// The route a request took; a label value.
    public enum Route: String, Sendable {
        case policy, healthz, callback, metrics
        /// Any path upsign does not serve (answered 404).
        case unknown
    }

    /// What the server knows that the application does not: its threads, its connections and
    /// the process.
    public struct ServerSample: Sendable {
        /// Threads that answer requests, in all.
        public var threads: Int
        /// Requests being answered right now.
        public var busy: Int
        /// FastCGI connections open.
        public var connectionsOpen: Int
        /// Kept-alive connections idle between requests.
        public var connectionsIdle: Int
        /// Resident memory in bytes, if known.
        public var residentBytes: Int?
        /// Open file descriptors, if known.
        public var openFileDescriptors: Int?

        /// Creates a sample.
        public init(
            threads: Int, busy: Int, connectionsOpen: Int = 0, connectionsIdle: Int = 0, residentBytes: Int? = nil,
            openFileDescriptors: Int? = nil
        ) {
            self.threads = threads
            self.busy = busy
            self.connectionsOpen = connectionsOpen
            self.connectionsIdle = connectionsIdle
            self.residentBytes = residentBytes
            self.openFileDescriptors = openFileDescriptors
        }
    }

    private struct RequestKey: Hashable {
        var route: Route
        var profile: String
        var status: Int
    }

    /// Per profile: how many observations fell in each bucket (not cumulative), their sum and count.
    private struct SigningCounts {
        var buckets = [UInt64](repeating: 0, count: ServiceMetrics.signingBuckets.count)
        var sum = 0.0
        var count: UInt64 = 0

        /// Counts one observation in `bucket` (nil: above the last bound).
        mutating func add(_ bucket: Int?, _ seconds: Double) {
            if let bucket { buckets[bucket] += 1 }
            sum += seconds
            count += 1
        }

        func merged(_ other: Self) -> Self {
            var m = self
            for i in m.buckets.indices { m.buckets[i] += other.buckets[i] }
            m.sum += other.sum
            m.count += other.count
            return m
        }
    }

    /// One thread's counts since the start.
    private struct Counts {
        var requests: [RequestKey: UInt64] = [:]
        var callbacks: [String: UInt64] = [:]
        var signing: [String: SigningCounts] = [:]
    }

    /// One thread's tally: written by its thread, read by scrapes.
    private final class Tally: Sendable {
        let counts = Mutex(Counts())
    }

    /// Every tally ever made (a thread that exits leaves its counts behind, as counters must).
    private final class Tallies: Sendable {
        let all = Mutex<[Tally]>([])
    }

    /// What the counters last exported to the registry, to add only the difference.
    private struct Exported {
        var requests: [RequestKey: (Counter, UInt64)] = [:]
        var callbacks: [String: (Counter, UInt64)] = [:]
    }

    private let registry = PrometheusCollectorRegistry()
    private let tallies = Tallies()
    private let tally: PerThread<Tally>
    private let exported = Mutex(Exported())
    private let sampler = Mutex<(@Sendable () -> ServerSample)?>(nil)
    private let credentialGauges = Mutex<[String: Gauge]>([:])
    private let threads: (busy: Gauge, waiting: Gauge)
    private let connections: (open: Gauge, idle: Gauge)
    private let inFlight: Gauge
    private let residentMemory: Gauge
    private let openFiles: Gauge

    /// Upper bounds of the signing-latency buckets, in seconds: signing takes microseconds, so
    /// the buckets start at 5 µs; a request that waits for a lock or the CPU shows up above 1 ms.
    public static let signingBuckets: [Double] = [
        0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1,
    ]

    private static var requests: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "upsign", metricName: "requests", unitName: "total",
            helpText: "Requests answered, by route, profile (empty when none was resolved) and HTTP status.")
    }
    private static var signing: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "upsign", metricName: "signing_duration", unitName: "seconds",
            helpText: "Time to read a policy request and sign its answer, by profile.")
    }
    private static var callbacks: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "upsign", metricName: "callback_verifications", unitName: "total",
            helpText: "Storage callbacks checked, by outcome (verified, or the error code answered).")
    }
    private static var reloads: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "upsign", metricName: "config_reloads", unitName: "total",
            helpText: "Configuration reloads on SIGHUP, by result (applied or refused).")
    }
    private static var credentialsLoaded: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "upsign", metricName: "credentials_loaded", unitName: "",
            helpText: "1 when the credentials source has usable credentials, 0 when it never loaded.")
    }
    private static var credentialsGeneration: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "upsign", metricName: "credentials_generation", unitName: "",
            helpText: "The generation of the credentials in use; every successful reload makes a new one.")
    }
    private static var credentialsAge: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "upsign", metricName: "credentials_age", unitName: "seconds",
            helpText: "Seconds since the credentials in use were loaded.")
    }
    private static var credentialsExpiry: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "upsign", metricName: "credentials_expiry", unitName: "seconds",
            helpText: "Seconds until temporary credentials expire (negative once expired); absent for long-term keys.")
    }

    /// Creates the metrics; `version` goes into `upsign_build_info`, `startTime` into
    /// `process_start_time_seconds`.
    public init(version: String, startTime: Timestamp) {
        let tallies = self.tallies
        tally = PerThread {
            let t = Tally()
            tallies.all.withLock { $0.append(t) }
            return t
        }
        let workers = MetricNameDescriptor(
            namespace: "upsign", metricName: "worker_threads", unitName: "",
            helpText: "Threads that answer requests (event loops and blocking-pool threads) by state: busy answering, or waiting.")
        threads = (
            registry.makeGauge(descriptor: workers, labels: [("state", "busy")]),
            registry.makeGauge(descriptor: workers, labels: [("state", "waiting")])
        )
        connections = (
            registry.makeGauge(
                descriptor: MetricNameDescriptor(
                    namespace: "upsign", metricName: "connections_open", unitName: "",
                    helpText: "FastCGI connections open (each costs an epoll entry, not a thread).")),
            registry.makeGauge(
                descriptor: MetricNameDescriptor(
                    namespace: "upsign", metricName: "connections_idle", unitName: "",
                    helpText: "Kept-alive FastCGI connections idle between requests."))
        )
        inFlight = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "upsign", metricName: "requests_in_flight", unitName: "",
                helpText: "Requests being answered right now, this scrape included."))
        residentMemory = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "process", metricName: "resident_memory", unitName: "bytes", helpText: "Resident memory size in bytes."))
        openFiles = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "process", metricName: "open_fds", unitName: "", helpText: "Number of open file descriptors."))
        registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "process", metricName: "start_time", unitName: "seconds",
                helpText: "Start time of the process since the Unix epoch, in seconds."
            )
        ).set(to: Double(startTime.secondsSince1970))
        registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "upsign", metricName: "build", unitName: "info", helpText: "Always 1; the labels say which upsign this is."),
            labels: [("version", version)]
        ).set(to: 1.0)
        // Zero series exist from the start, so a rate() over the first reload or callback works.
        for result in ["applied", "refused"] { _ = registry.makeCounter(descriptor: Self.reloads, labels: [("result", result)]) }
        _ = registry.makeCounter(descriptor: Self.callbacks, labels: [("outcome", "verified")])
    }

    /// Installs what `render` asks the server for each scrape.
    public func setSampler(_ sample: @escaping @Sendable () -> ServerSample) {
        sampler.withLock { $0 = sample }
    }

    /// Counts one answered request.
    public func requestAnswered(route: Route, profile: String?, status: Int) {
        let key = RequestKey(route: route, profile: profile ?? "", status: status)
        tally.withValue { t in t.counts.withLock { $0.requests[key, default: 0] += 1 } }
    }

    /// Records how long a policy request for `profile` took.
    public func policySigned(profile: String, seconds: Double) {
        let bucket = Self.signingBuckets.firstIndex { seconds <= $0 }
        tally.withValue { t in
            t.counts.withLock { c in
                c.signing[profile, default: SigningCounts()].add(bucket, seconds)
            }
        }
    }

    /// Counts one callback check; `outcome` is `verified` or the error code answered.
    public func callbackChecked(outcome: String) {
        tally.withValue { t in t.counts.withLock { $0.callbacks[outcome, default: 0] += 1 } }
    }

    /// Counts one SIGHUP reload.
    public func configurationReloaded(applied: Bool) {
        registry.makeCounter(descriptor: Self.reloads, labels: [("result", applied ? "applied" : "refused")]).increment()
    }

    /// The exposition text, with the gauges read now: the server's sample, and per credentials
    /// source whether it loaded, its generation, age and time left.
    public func render(credentials: CredentialStore, now: Timestamp) -> [UInt8] {
        if let sample = sampler.withLock({ $0 })?() {
            threads.busy.set(to: Double(sample.busy))
            threads.waiting.set(to: Double(max(0, sample.threads - sample.busy)))
            connections.open.set(to: Double(sample.connectionsOpen))
            connections.idle.set(to: Double(sample.connectionsIdle))
            inFlight.set(to: Double(sample.busy))
            if let rss = sample.residentBytes { residentMemory.set(to: Double(rss)) }
            if let fds = sample.openFileDescriptors { openFiles.set(to: Double(fds)) }
        }
        var gauges: [(MetricNameDescriptor, String, Double)] = []
        for c in credentials.loaded {
            let source = c.source.description
            gauges.append((Self.credentialsLoaded, source, 1))
            gauges.append((Self.credentialsGeneration, source, Double(c.generation)))
            gauges.append((Self.credentialsAge, source, Double(now.secondsSince1970 - c.loadedAt.secondsSince1970)))
            if let e = c.expiration { gauges.append((Self.credentialsExpiry, source, Double(e.secondsSince1970 - now.secondsSince1970))) }
        }
        for f in credentials.failures { gauges.append((Self.credentialsLoaded, f.source.description, 0)) }
        credentialGauges.withLock { shown in
            // A source a reload dropped (or whose temporary credentials became long-term) leaves.
            var next: [String: Gauge] = [:]
            for (descriptor, source, value) in gauges {
                let g = registry.makeGauge(descriptor: descriptor, labels: [("source", source)])
                g.set(to: value)
                next[descriptor.name + "\u{0}" + source] = g
            }
            for (key, g) in shown where next[key] == nil { registry.unregisterGauge(g) }
            shown = next
        }
        let histogram = exportCounts()
        return registry.emitToBuffer() + histogram
    }

    /// Adds up every thread's tally: the counters go to the registry (by their growth since the
    /// last scrape); the histogram is returned as exposition text.
    private func exportCounts() -> [UInt8] {
        var total = Counts()
        for t in tallies.all.withLock({ $0 }) {
            let c = t.counts.withLock { $0 }
            total.requests.merge(c.requests, uniquingKeysWith: +)
            total.callbacks.merge(c.callbacks, uniquingKeysWith: +)
            total.signing.merge(c.signing) { $0.merged($1) }
        }
        exported.withLock { e in
            for (key, n) in total.requests {
                let (counter, last) =
                    e.requests[key] ?? (
                        registry.makeCounter(
                            descriptor: Self.requests,
                            labels: [("route", key.route.rawValue), ("profile", key.profile), ("status", String(key.status))]), 0
                    )
                if n > last { counter.increment(by: Int64(n - last)) }
                e.requests[key] = (counter, max(n, last))
            }
            for (outcome, n) in total.callbacks {
                let (counter, last) = e.callbacks[outcome] ?? (registry.makeCounter(descriptor: Self.callbacks, labels: [("outcome", outcome)]), 0)
                if n > last { counter.increment(by: Int64(n - last)) }
                e.callbacks[outcome] = (counter, max(n, last))
            }
        }
        var text: [UInt8] = []
        guard !total.signing.isEmpty else { return text }
        let name = Self.signing.name
        text.append(contentsOf: "# HELP \(name) \(Self.signing.helpText ?? "")\n# TYPE \(name) histogram\n".utf8)
        for (profile, h) in total.signing.sorted(by: { $0.key < $1.key }) {
            let label = "profile=\"\(Self.escapedLabel(profile))\""
            var cumulative: UInt64 = 0
            for (bound, n) in zip(Self.signingBuckets, h.buckets) {
                cumulative += n
                text.append(contentsOf: "\(name)_bucket{\(label),le=\"\(bound)\"} \(cumulative)\n".utf8)
            }
            text.append(contentsOf: "\(name)_bucket{\(label),le=\"+Inf\"} \(h.count)\n".utf8)
            text.append(contentsOf: "\(name)_sum{\(label)} \(h.sum)\n".utf8)
            text.append(contentsOf: "\(name)_count{\(label)} \(h.count)\n".utf8)
        }
        return text
    }

    /// A label value in the text format: backslash, double quote and newline escaped.
    static func escapedLabel(_ value: String) -> String {
        var out = ""
        for ch in value {
            switch ch {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(ch)
            }
        }
        return out
    }
}
