import CGI
import Foundation
import Logging
import Testing

@testable import Upsign

/// What a test's application was sent, in order.
final class Posts<Element>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Element] = []
    func withLock<R>(_ body: (inout [Element]) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&items)
    }
}

/// `[callback] forward`: each verified upload is posted once to the application, whose JSON
/// answer is the callback's; failures are 502/504 and remembered as nothing.
struct UploadRelayTests {
    let target = try! ForwardTarget.parse("http://127.0.0.1:8000/uploads").get()

    /// A relay whose application answers `answer` and counts the posts it got.
    func relay(
        _ answer: @escaping @Sendable () -> Result<UploadRelay.Answer, UploadRelay.Unanswered>,
        remembering: Int = 100, bytes: Int = 1 << 20
    ) -> (UploadRelay, Posts<(body: [UInt8], headers: [String])>) {
        let posts = Posts<(body: [UInt8], headers: [String])>()
        let relay = UploadRelay(
            target: target, timeout: .seconds(1),
            post: { body, headers in
                posts.withLock { $0.append((body, headers)) }
                return answer()
            }, remembering: remembering, rememberingBytes: bytes)
        return (relay, posts)
    }

    static let ok: @Sendable () -> Result<UploadRelay.Answer, UploadRelay.Unanswered> = {
        .success(.init(status: 200, body: Array(#"{"stored":true}"#.utf8)))
    }

    @Test func anUploadIsPostedOnceAndItsResendGetsTheSameAnswer() throws {
        let (relay, posts) = relay(Self.ok)
        let first = try relay.deliver(id: "id1", body: Array("{}".utf8)).get()
        #expect(first.answer == Array(#"{"stored":true}"#.utf8) && !first.repeated)
        let again = try relay.deliver(id: "id1", body: Array("{}".utf8)).get()
        #expect(again.answer == first.answer && again.repeated)
        #expect(posts.withLock { $0.count } == 1)
        let headers = posts.withLock { $0[0].headers }
        #expect(headers.contains("Content-Type: application/json") && headers.contains("Upsign-Upload-Id: id1"))
    }

    @Test(arguments: [
        (UploadRelay.Answer(status: 500, body: Array("{}".utf8)), UploadRelay.Failure.refused(status: 500)),
        (UploadRelay.Answer(status: 302, body: []), .refused(status: 302)),
        (UploadRelay.Answer(status: 200, body: Array("ok".utf8)), .invalidAnswer("")),
        (UploadRelay.Answer(status: 200, body: []), .invalidAnswer("")),
        (UploadRelay.Answer(status: 200, body: Array(#"{"a":1}x"#.utf8)), .invalidAnswer("")),
    ])
    func anAnswerThatIsNotA2xxJSONFailsAndIsNotRemembered(_ answer: UploadRelay.Answer, _ expected: UploadRelay.Failure) {
        let (relay, posts) = relay({ .success(answer) })
        // The failure's kind; its reason (the JSON parser's words) is not part of the check.
        func kind(_ f: UploadRelay.Failure) -> UploadRelay.Failure {
            if case .invalidAnswer = f { return .invalidAnswer("") }
            return f
        }
        for _ in 0..<2 {
            #expect(relay.deliver(id: "x", body: []).map(\.answer).mapError(kind) == .failure(expected))
        }
        // Nothing remembered: the resend was posted again.
        #expect(posts.withLock { $0.count } == 2)
        #expect(relay.remembered == 0)
    }

    @Test func noAnswerIsUnreachableOrTimedOut() {
        let (down, _) = relay({ .failure(.init(description: "Couldn't connect to server", timedOut: false)) })
        #expect(down.deliver(id: "x", body: []).map(\.answer) == .failure(.unreachable("Couldn't connect to server")))
        let (slow, _) = relay({ .failure(.init(description: "Timeout was reached", timedOut: true)) })
        #expect(slow.deliver(id: "x", body: []).map(\.answer) == .failure(.timedOut))
    }

    @Test func theOldestAnswersAreForgottenPastTheCountOrTheBytes() throws {
        let (byCount, posts) = relay(Self.ok, remembering: 3)
        for id in ["1", "2", "3", "4"] { _ = try byCount.deliver(id: id, body: []).get() }
        #expect(try byCount.deliver(id: "2", body: []).get().repeated)
        #expect(try !byCount.deliver(id: "1", body: []).get().repeated)
        #expect(posts.withLock { $0.count } == 5)
        #expect(byCount.remembered == 3)
        // 15 bytes an answer, 40 bytes remembered: two answers.
        let (byBytes, _) = relay(Self.ok, bytes: 40)
        for id in (0..<1000).map(String.init) { _ = try byBytes.deliver(id: id, body: []).get() }
        #expect(byBytes.remembered == 2)
        #expect(try byBytes.deliver(id: "999", body: []).get().repeated)
        #expect(try !byBytes.deliver(id: "997", body: []).get().repeated)
    }

    @Test func theIdIsTheUploadAndItsPolicyNotItsTime() {
        let a = Array(#"{"bucket":"b","key":"k","size":1,"mimeType":"","etag":"E","user":"u","time":"2026-01-02T03:04:05.000Z"}"#.utf8)
        let later = Array(#"{"bucket":"b","key":"k","size":1,"mimeType":"","etag":"E","user":"u","time":"2026-01-02T03:09:05.000Z"}"#.utf8)
        let id = UploadRelay.uploadID(record: a, token: "1.5.e..00")
        #expect(id.count == 32 && id.allSatisfy(\.isHexDigit))
        #expect(UploadRelay.uploadID(record: later, token: "1.5.e..00") == id)
        #expect(UploadRelay.uploadID(record: a, token: "1.6.e..00") != id)
        #expect(UploadRelay.uploadID(record: a, token: nil) != id)
        #expect(
            String(decoding: UploadRelay.body(record: a, id: "ID"), as: UTF8.self)
                == #"{"id":"ID","bucket":"b","key":"k","size":1,"mimeType":"","etag":"E","user":"u","time":"2026-01-02T03:04:05.000Z"}"#)
    }

    @Test(
        arguments: [
            ("http://127.0.0.1:8000/uploads", "http://127.0.0.1:8000/uploads", nil),
            ("https://app.internal/upsign/uploads?v=1", "https://app.internal/upsign/uploads?v=1", nil),
            ("unix:/run/app/app.sock:/uploads", "http://localhost/uploads", "/run/app/app.sock"),
            ("http://[::1]:8000/u", "http://[::1]:8000/u", nil), ("http://app:65535/u", "http://app:65535/u", nil),
        ] as [(String, String, String?)])
    func forwardTargetsAreURLsOrUnixSockets(_ text: String, _ url: String, _ socket: String?) throws {
        let t = try ForwardTarget.parse(text).get()
        #expect(t.url == url && t.unixSocket == socket && t.description == text)
        #expect(t.host == (socket == nil ? ["127.0.0.1", "app.internal", "[::1]", "app"].first { url.contains("//\($0)") } : nil))
    }

    @Test(arguments: [
        "", "ftp://h/x", "http://", "http://h", "http:///x", "http://user@h/x", "http://h/a b", "http://h/x#f", "http://h:99999/x", "http://h:0/x",
        "http://h:/x", "http://h:8a/x", "http://h:1:2/x",
        "http://[::1/x", "http://[::1]x/x",
        "unix:/run/app.sock", "unix:run/app.sock:/x", "unix:/run/app.sock:x", "unix:/\(String(repeating: "s", count: 120)):/x",
    ])
    func otherForwardValuesAreRefused(_ text: String) {
        #expect(throws: ConfigurationError.self) { try ForwardTarget.parse(text).get() }
    }

    @Test func forwardExcludesRecordsAndResponseAndBoundsItsTimeout() throws {
        let base = "[profiles.a]\nbucket = \"abc\"\nregion = \"cn-hangzhou\"\n[callback]\n"
        let c = try Configuration.parse(toml: base + "forward = \"unix:/run/app.sock:/u\"\nforward_timeout = 1.5\n")
        #expect(c.callback.forward?.unixSocket == "/run/app.sock" && c.callback.forwardTimeout == .milliseconds(1500))
        #expect(try Configuration.parse(toml: base + "forward = \"http://127.0.0.1/u\"\n").callback.forwardTimeout == .seconds(3))
        for (extra, path) in [
            ("records = \"/var/lib/upsign/u.jsonl\"\n", "callback.forward"), ("response = '{}'\n", "callback.response"),
            ("forward_timeout = 5\n", "callback.forward_timeout"), ("forward_timeout = 0.05\n", "callback.forward_timeout"),
            ("forward_timeout = \"3\"\n", "callback.forward_timeout"),
        ] {
            do {
                _ = try Configuration.parse(toml: base + "forward = \"http://127.0.0.1/u\"\n" + extra)
                Issue.record("parsed with \(extra)")
            } catch {
                #expect(error.problems.map(\.path) == [path], "\(extra)")
            }
        }
    }

    @Test func checkConfigSaysWhatItCannotCheck() throws {
        var c = try Configuration.parse(
            toml: "[profiles.a]\nbucket = \"abc\"\nregion = \"cn-hangzhou\"\n[callback]\nforward = \"unix:/nonexistent/app.sock:/u\"\n")
        #expect(c.callbackFileNotes(effectiveUserID: 1000).contains { $0.hasPrefix("callback.forward: /nonexistent/app.sock does not exist yet") })
        c.callback.forward = try ForwardTarget.parse("http://10.0.0.5:8000/u").get()
        #expect(c.callbackFileNotes(effectiveUserID: 1000).contains { $0.contains("plain HTTP to another host") })
        for loopback in ["http://127.0.0.1:8000/u", "http://localhost/u", "http://[::1]:80/u", "https://10.0.0.5/u"] {
            c.callback.forward = try ForwardTarget.parse(loopback).get()
            #expect(!c.callbackFileNotes(effectiveUserID: 1000).contains { $0.hasPrefix("callback.forward") }, "\(loopback)")
        }
    }
}

/// Through the application: a verified callback is forwarded, its answer is the application's,
/// and a delivery failure is a JSON error naming no URL.
struct CallbackForwardTests {
    func app(_ answer: @escaping @Sendable () -> Result<UploadRelay.Answer, UploadRelay.Unanswered>) throws
        -> (CallbackVerificationTests.Setup, Posts<[UInt8]>)
    {
        let s = try CallbackVerificationTests().setup(keyURL: CallbackVerificationTests.publicKey)
        let posts = Posts<[UInt8]>()
        let relay = UploadRelay(target: try ForwardTarget.parse("http://127.0.0.1:9/secret-path").get(), timeout: .seconds(1)) { body, _ in
            posts.withLock { $0.append(body) }
            return answer()
        }
        let app = Application(
            configuration: s.app.configuration, credentials: s.app.credentials, clock: s.app.clock, uuid: s.app.uuid,
            logger: s.app.logger, publicKeys: s.app.publicKeys, records: nil, relay: relay)
        return (CallbackVerificationTests.Setup(app: app, records: s.records, body: s.body, signature: s.signature), posts)
    }

    @Test func aVerifiedCallbackIsForwardedAndAnsweredByTheApplication() throws {
        let (s, posts) = try app({ .success(.init(status: 201, body: Array(#" {"saved": [1, {"x": null}]} "#.utf8))) })
        let r = s.app.respond(to: CallbackVerificationTests().request(s))
        #expect(r.status == 200 && r.bodyText == #" {"saved": [1, {"x": null}]} "#)
        let again = s.app.respond(to: CallbackVerificationTests().request(s))
        #expect(again.status == 200 && again.body == r.body)
        let bodies = posts.withLock { $0 }
        #expect(bodies.count == 1)
        let sent = try #require(try JSONSerialization.jsonObject(with: Data(bodies[0])) as? [String: Any])
        #expect(Set(sent.keys) == ["id", "bucket", "key", "size", "mimeType", "etag", "user", "time"])
        #expect(sent["key"] as? String == "a/b c.jpg" && sent["user"] as? String == "alice" && sent["size"] as? Int == 123)
        #expect(!FileManager.default.fileExists(atPath: s.records))
    }

    @Test(arguments: [
        (Result<UploadRelay.Answer, UploadRelay.Unanswered>.failure(.init(description: "Couldn't connect", timedOut: false)), 502, "forward_failed"),
        (.failure(.init(description: "Timeout was reached", timedOut: true)), 504, "forward_timeout"),
        (.success(.init(status: 503, body: Array("{}".utf8))), 502, "forward_failed"),
        (.success(.init(status: 200, body: Array("<html>".utf8))), 502, "forward_failed"),
    ])
    func aFailedDeliveryIsAClearErrorNamingNoURL(_ answer: Result<UploadRelay.Answer, UploadRelay.Unanswered>, _ status: Int, _ code: String) throws {
        let (s, posts) = try app({ answer })
        for attempt in 1...2 {
            let r = s.app.respond(to: CallbackVerificationTests().request(s))
            #expect(r.status == status && r.bodyText.contains(#""code":"\#(code)""#))
            #expect(!r.bodyText.contains("secret-path") && !r.bodyText.contains("127.0.0.1"))
            #expect(posts.withLock { $0.count } == attempt)
        }
    }

    @Test func anUnsignedCallbackNeverReachesTheApplication() throws {
        let (s, posts) = try app(UploadRelayTests.ok)
        let r = s.app.respond(to: CallbackVerificationTests().request(s, signature: "AAAA"))
        #expect(r.status == 403)
        #expect(posts.withLock { $0.count } == 0)
    }
}
