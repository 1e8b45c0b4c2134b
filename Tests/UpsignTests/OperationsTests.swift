import CGI
import Foundation
import Logging
import PostPolicy
import Synchronization
import Testing

@testable import Upsign

/// Health, metrics and the per-request log line.
struct OperationsTests {
    static let toml = """
        [server]
        default_profile = "avatar"

        [profiles.avatar]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        key = "avatars/{user}/{uuid}{ext}"
        extensions = ["jpg"]
        format = "java"

        [profiles.sts]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        key = "sts/{uuid}{ext}"
        credentials = "CREDENTIALS_FILE"
        """
    static let now = Timestamp(iso8601: "2026-01-02T12:00:00Z")!
    static let environment = ["OSS_ACCESS_KEY_ID": "LTAItest", "OSS_ACCESS_KEY_SECRET": "ops-test-secret"]

    /// Log entries kept by `CapturingLogHandler`.
    final class Captured: Sendable {
        let entries = Mutex<[(level: Logger.Level, message: String, metadata: Logger.Metadata)]>([])
    }

    struct CapturingLogHandler: LogHandler {
        let captured: Captured
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            captured.entries.withLock { $0.append((event.level, event.message.description, event.metadata ?? [:])) }
        }
    }

    /// An application whose `sts` profile reads a credentials file expiring at `expiration`
    /// (nil: no file at all), with metrics and a captured log.
    func app(
        expiration: String?, metricsOn: Bool = true, captured: Captured = Captured(), metrics: ServiceMetrics? = nil
    ) throws -> (Application, ServiceMetrics, Captured) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("upsign-ops-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("c.json").path
        if let expiration {
            try #"{"AccessKeyId":"STS.x","AccessKeySecret":"ops-sts-secret","SecurityToken":"t","Expiration":"\#(expiration)"}"#
                .write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        }
        var configuration = try Configuration.parse(toml: Self.toml.replacingOccurrences(of: "CREDENTIALS_FILE", with: path))
        configuration.server.metrics = metricsOn
        let credentials = CredentialStore(profiles: configuration.profiles.values, environment: Self.environment, clock: { Self.now })
        try? FileManager.default.removeItem(at: dir)
        let m = metrics ?? ServiceMetrics(version: "9.9.9", startTime: Self.now)
        let clock = Ticker()
        let app = Application(
            configuration: configuration, credentials: credentials, clock: { Self.now }, uuid: { "0f8fad5b-d9cb-469f-a165-70867728950e" },
            logger: Logger(label: "test", factory: { _ in CapturingLogHandler(captured: captured) }),
            metrics: m, monotonicNanoseconds: { clock.next() })
        return (app, m, captured)
    }

    /// A monotonic clock that advances 30 µs per reading.
    final class Ticker: Sendable {
        private let value = Atomic<UInt64>(1_000_000)
        func next() -> UInt64 { value.add(30_000, ordering: .relaxed).newValue }
    }

    func request(_ path: String, query: String = "", method: String = "GET", extra: [String: String] = [:]) -> CGIRequest {
        var params = ["REQUEST_METHOD": method, "DOCUMENT_URI": path, "QUERY_STRING": query]
        params.merge(extra) { $1 }
        return CGIRequest(params: params, body: .bytes([]))
    }

    // MARK: healthz

    @Test func healthzIsOKWhenEverySourceHasUnexpiredCredentials() throws {
        let (app, _, _) = try app(expiration: "2026-01-02T13:00:00Z")
        let r = app.respond(to: request("/upload/healthz"))
        #expect(r.status == 200)
        #expect(r.bodyText == #"{"status":"ok","credentials":{"sources":2,"unavailable":0,"expired":0,"expires_in":3600}}"#)
    }

    @Test func healthzIsUnavailableWhileASourceHasNoCredentials() throws {
        let (app, _, _) = try app(expiration: nil)
        let r = app.respond(to: request("/upload/healthz"))
        #expect(r.status == 503)
        #expect(r.header("Content-Type") == "application/json")
        #expect(r.bodyText == #"{"status":"unavailable","credentials":{"sources":2,"unavailable":1,"expired":0}}"#)
    }

    @Test func healthzIsUnavailableOnceTemporaryCredentialsExpire() throws {
        // Loaded while still valid (the store refuses stale files at load), then the clock passes them.
        let (app, _, _) = try app(expiration: "2026-01-02T12:00:30Z")
        let later = Application(
            configuration: app.configuration, credentials: app.credentials, clock: { Timestamp(iso8601: "2026-01-02T12:01:00Z")! },
            uuid: app.uuid, logger: app.logger)
        let r = later.respond(to: request("/upload/healthz"))
        #expect(r.status == 503)
        #expect(r.bodyText == #"{"status":"unavailable","credentials":{"sources":2,"unavailable":0,"expired":1,"expires_in":-30}}"#)
    }

    @Test func healthzNamesNoSourceAndNoKey() throws {
        let (app, _, _) = try app(expiration: "2026-01-02T13:00:00Z")
        let text = app.respond(to: request("/upload/healthz")).bodyText
        for secret in ["LTAItest", "STS.x", "ops-test-secret", "ops-sts-secret", "c.json", "env"] {
            #expect(!text.contains(secret))
        }
    }

    // MARK: metrics

    func metricsText(_ app: Application) -> String {
        let r = app.respond(to: request("/upload/metrics"))
        #expect(r.status == 200)
        #expect(r.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        return r.bodyText
    }

    @Test func metricsCountRequestsByRouteProfileAndStatus() throws {
        let (app, _, _) = try app(expiration: "2026-01-02T13:00:00Z")
        for _ in 0..<3 { _ = app.respond(to: request("/upload/policy", query: "filename=a.jpg", extra: ["UPSIGN_USER": "alice"])) }
        _ = app.respond(to: request("/upload/policy", query: "filename=a.exe", extra: ["UPSIGN_USER": "alice"]))
        _ = app.respond(to: request("/upload/policy", query: "profile=nope"))
        _ = app.respond(to: request("/nowhere"))
        _ = app.respond(to: request("/upload/healthz", method: "DELETE"))
        let text = metricsText(app)
        let lines = Set(text.split(separator: "\n").map(String.init))
        #expect(lines.contains(#"upsign_requests_total{route="policy",profile="avatar",status="200"} 3"#))
        #expect(lines.contains(#"upsign_requests_total{route="policy",profile="avatar",status="400"} 1"#))
        // An unknown profile is not a label value: clients must not be able to mint series.
        #expect(lines.contains(#"upsign_requests_total{route="policy",profile="",status="404"} 1"#))
        #expect(!text.contains("nope"))
        #expect(lines.contains(#"upsign_requests_total{route="unknown",profile="",status="404"} 1"#))
        #expect(lines.contains(#"upsign_requests_total{route="healthz",profile="",status="405"} 1"#))
        #expect(lines.contains("# TYPE upsign_requests_total counter"))
    }

    @Test func metricsHaveASigningHistogramForSignedPolicies() throws {
        let (app, _, _) = try app(expiration: "2026-01-02T13:00:00Z")
        for _ in 0..<2 { _ = app.respond(to: request("/upload/policy", query: "filename=a.jpg", extra: ["UPSIGN_USER": "alice"])) }
        _ = app.respond(to: request("/upload/policy", query: "filename=a.exe", extra: ["UPSIGN_USER": "alice"]))
        let lines = Set(metricsText(app).split(separator: "\n").map(String.init))
        // The ticker advances 30 µs a reading, so each request took 30 µs: above 25 µs, within 50.
        #expect(lines.contains(#"upsign_signing_duration_seconds_bucket{profile="avatar",le="2.5e-05"} 0"#))
        #expect(lines.contains(#"upsign_signing_duration_seconds_bucket{profile="avatar",le="5e-05"} 2"#))
        #expect(lines.contains(#"upsign_signing_duration_seconds_count{profile="avatar"} 2"#))
        #expect(lines.contains("# TYPE upsign_signing_duration_seconds histogram"))
    }

    @Test func metricsReportCredentialsPerSource() throws {
        let (app, _, _) = try app(expiration: "2026-01-02T13:00:00Z")
        let lines = Set(metricsText(app).split(separator: "\n").map(String.init))
        #expect(lines.contains(#"upsign_credentials_loaded{source="env"} 1.0"#))
        #expect(lines.contains { $0.hasPrefix("upsign_credentials_expiry_seconds{source=\"/") && $0.hasSuffix("c.json\"} 3600.0") })
        #expect(lines.contains(#"upsign_credentials_age_seconds{source="env"} 0.0"#))
        #expect(lines.contains { $0.hasPrefix("upsign_credentials_generation{source=\"env\"} ") })
        #expect(lines.contains(#"upsign_build_info{version="9.9.9"} 1.0"#))
    }

    @Test func metricsReportTheServersThreads() throws {
        let (app, metrics, _) = try app(expiration: "2026-01-02T13:00:00Z")
        metrics.setSampler {
            .init(threads: 8, busy: 2, connectionsOpen: 40, connectionsIdle: 37, residentBytes: 12_345_678, openFileDescriptors: 11)
        }
        let lines = Set(metricsText(app).split(separator: "\n").map(String.init))
        #expect(lines.contains(#"upsign_worker_threads{state="busy"} 2.0"#))
        #expect(lines.contains(#"upsign_worker_threads{state="waiting"} 6.0"#))
        #expect(lines.contains("upsign_connections_open 40.0"))
        #expect(lines.contains("upsign_connections_idle 37.0"))
        #expect(lines.contains("upsign_requests_in_flight 2.0"))
        #expect(lines.contains("process_resident_memory_bytes 12345678.0"))
        #expect(lines.contains("process_open_fds 11.0"))
    }

    @Test func metricsCountCallbacksByOutcome() throws {
        let (app, _, _) = try app(expiration: "2026-01-02T13:00:00Z")
        _ = app.respond(to: request("/upload/callback", method: "POST"))
        let lines = Set(metricsText(app).split(separator: "\n").map(String.init))
        #expect(lines.contains(#"upsign_callback_verifications_total{outcome="verified"} 0"#))
        #expect(lines.contains(#"upsign_callback_verifications_total{outcome="callback_unsigned"} 1"#))
    }

    @Test func metricsSurviveAReloadAndCountReloads() throws {
        let (first, metrics, _) = try app(expiration: "2026-01-02T13:00:00Z")
        _ = first.respond(to: request("/upload/policy", query: "filename=a.jpg", extra: ["UPSIGN_USER": "alice"]))
        let (second, _, _) = try app(expiration: "2026-01-02T13:00:00Z", metrics: metrics)
        metrics.configurationReloaded(applied: true)
        _ = second.respond(to: request("/upload/policy", query: "filename=a.jpg", extra: ["UPSIGN_USER": "alice"]))
        let lines = Set(metricsText(second).split(separator: "\n").map(String.init))
        #expect(lines.contains(#"upsign_requests_total{route="policy",profile="avatar",status="200"} 2"#))
        #expect(lines.contains(#"upsign_config_reloads_total{result="applied"} 1"#))
        #expect(lines.contains(#"upsign_config_reloads_total{result="refused"} 0"#))
    }

    @Test func metricsCanBeTurnedOff() throws {
        let (app, _, _) = try app(expiration: "2026-01-02T13:00:00Z", metricsOn: false)
        #expect(app.respond(to: request("/upload/metrics")).status == 404)
    }

    @Test func metricsAnswerOnlyGetAndHead() throws {
        let (app, _, _) = try app(expiration: "2026-01-02T13:00:00Z")
        let r = app.respond(to: request("/upload/metrics", method: "POST"))
        #expect(r.status == 405)
        #expect(r.header("Allow") == "GET, HEAD")
    }

    // MARK: the request log line

    @Test func eachRequestLogsOneLineWithItsIdRouteProfileStatusDurationAndUser() throws {
        let (app, _, captured) = try app(expiration: "2026-01-02T13:00:00Z")
        _ = app.respond(to: request("/upload/policy", query: "filename=a.jpg", extra: ["UPSIGN_USER": "alice", "REQUEST_ID": "0123abcd"]))
        let entries = captured.entries.withLock { $0 }
        #expect(entries.count == 1)
        let e = try #require(entries.first)
        #expect(e.level == .info)
        #expect(e.message == "request")
        #expect(e.metadata["request.id"]?.description == "0123abcd")
        #expect(e.metadata["route"]?.description == "policy")
        #expect(e.metadata["profile"]?.description == "avatar")
        #expect(e.metadata["status"]?.description == "200")
        #expect(e.metadata["duration_us"]?.description == "30")
        #expect(e.metadata["user"]?.description == "alice")
        #expect(e.metadata["error"] == nil)
    }

    @Test func errorsLogTheirCodeAndServerErrorsLogAtErrorLevel() throws {
        let (app, _, captured) = try app(expiration: nil)
        _ = app.respond(to: request("/upload/policy", query: "filename=a.exe", extra: ["UPSIGN_USER": "alice"]))
        _ = app.respond(to: request("/upload/policy", query: "profile=sts&filename=a.jpg"))
        let entries = captured.entries.withLock { $0 }.filter { $0.message == "request" }
        #expect(entries.map(\.level) == [.info, .error])
        #expect(entries.map { $0.metadata["error"]?.description } == ["extension_not_allowed", "credentials_unavailable"])
        #expect(entries.map { $0.metadata["status"]?.description } == ["400", "503"])
    }

    @Test func theLogLineCarriesNoQueryNoPolicyAndNoSecret() throws {
        let (app, _, captured) = try app(expiration: "2026-01-02T13:00:00Z")
        let r = app.respond(to: request("/upload/policy", query: "filename=secretname.jpg", extra: ["UPSIGN_USER": "alice"]))
        let text = captured.entries.withLock { $0 }.map { "\($0.message) \($0.metadata)" }.joined(separator: "\n")
        #expect(r.status == 200)
        for needle in ["secretname", "ops-test-secret", "LTAItest", "policy\":", "signature"] {
            #expect(!text.contains(needle), "log mentions \(needle)")
        }
    }
}
