import Crypto
import JSONText
import Synchronization

/// Posts each verified upload to the application (`[callback] forward`) and passes its JSON
/// answer back to OSS, which relays it to the uploader: the application keeps its records in
/// its own database, and any number of upsign hosts can verify callbacks for it.
///
/// Exactly once: the application's answer to an upload is remembered (the last
/// `rememberedUploads`, within `rememberedBytes`), so a resent callback of an upload already
/// delivered gets the same answer and the application is not asked again. A failed delivery is
/// not remembered: its resend is delivered. Each upload carries an id, the same in every resend,
/// so that the application can answer a resend that reaches another host or a restarted upsign
/// as it answered the first.
public final class UploadRelay: Sendable {
    /// What the application answered: any status and its body.
    public struct Answer: Sendable, Equatable {
        /// The HTTP status.
        public let status: Int
        /// The body.
        public let body: [UInt8]
        /// An answer.
        public init(status: Int, body: [UInt8]) {
            self.status = status
            self.body = body
        }
    }

    /// Why no answer came.
    public struct Unanswered: Error, Sendable, Equatable {
        /// What happened, for the log.
        public let description: String
        /// True when the time ran out; false when the application could not be reached or
        /// answered more than `maxAnswerBytes`.
        public let timedOut: Bool
        /// Creates one.
        public init(description: String, timedOut: Bool) {
            self.description = description
            self.timedOut = timedOut
        }
    }

    /// Sends one POST (`body`, with `headers` as `Name: value` lines) to the application within
    /// the relay's timeout, reading at most `maxAnswerBytes` of answer.
    public typealias Post = @Sendable (_ body: [UInt8], _ headers: [String]) -> Result<Answer, Unanswered>

    /// Why a delivery failed.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// Nothing answered (connection refused, no such socket, a TLS failure), with the reason.
        case unreachable(String)
        /// No whole answer within the timeout.
        case timedOut
        /// The application answered a status other than 2xx.
        case refused(status: Int)
        /// A 2xx whose body is not one JSON text, or is larger than `maxAnswerBytes`.
        case invalidAnswer(String)

        public var description: String {
            switch self {
            case .unreachable(let why): "the application could not be reached: \(why)"
            case .timedOut: "the application did not answer in time"
            case .refused(let status): "the application answered HTTP \(status)"
            case .invalidAnswer(let why): "the application's answer is not usable: \(why)"
            }
        }
    }

    /// The largest answer passed on: OSS relays at most about 1 MB to the uploader.
    public static let maxAnswerBytes = 1 << 20
    /// How many delivered uploads are remembered, as `RecordLog.rememberedUploads`.
    public static let rememberedUploads = RecordLog.rememberedUploads
    /// How many answer bytes are remembered at most (the oldest go first).
    public static let rememberedBytes = 32 << 20

    /// Where uploads go.
    public let target: ForwardTarget
    /// How long one delivery may take.
    public let timeout: Duration
    private let post: Post
    private let limits: (count: Int, bytes: Int)
    private let state = Mutex(State())

    private struct State {
        var answers: [String: [UInt8]] = [:]
        /// Ids in delivery order, oldest first from `head`.
        var order: [String] = []
        var head = 0
        var bytes = 0
    }

    /// A relay posting to `target` with `post` (which must end within `timeout`), remembering at
    /// most `remembering` answers and `rememberingBytes` bytes of them.
    public init(
        target: ForwardTarget, timeout: Duration, post: @escaping Post,
        remembering: Int = rememberedUploads, rememberingBytes: Int = rememberedBytes
    ) {
        self.target = target
        self.timeout = timeout
        self.post = post
        limits = (max(1, remembering), max(0, rememberingBytes))
    }

    /// The id of an upload: 32 hex digits of SHA-256 over the record without its time and over
    /// the binding token that the upload's policy carried (so two uploads of the same bytes to
    /// the same key under two policies are two deliveries, and a resend is the same one).
    public static func uploadID(record: [UInt8], token: String?) -> String {
        var input = Array(RecordLog.upload(of: record))
        input.append(0x0A)
        input.append(contentsOf: (token ?? "").utf8)
        return Hex.encode(Array(Digest.sha256(input).prefix(16)))
    }

    /// The body posted for `record` (a records-file line): the same object with `id` first.
    public static func body(record: [UInt8], id: String) -> [UInt8] {
        var out = Array(#"{"id":""#.utf8)
        out.append(contentsOf: id.utf8)
        out.append(contentsOf: #"","#.utf8)
        out.append(contentsOf: record.dropFirst())
        return out
    }

    /// Delivers the upload `id` (the JSON `body`) unless it was delivered before, and returns
    /// the application's answer and whether it is a remembered one.
    public func deliver(id: String, body: [UInt8]) -> Result<(answer: [UInt8], repeated: Bool), Failure> {
        if let kept = state.withLock({ $0.answers[id] }) { return .success((kept, true)) }
        let headers = [
            "Content-Type: application/json", "Accept: application/json", "Upsign-Upload-Id: \(id)",
            "User-Agent: upsign/\(BuildInfo.version)",
        ]
        let answer: Answer
        switch post(body, headers) {
        case .failure(let e): return .failure(e.timedOut ? .timedOut : .unreachable(e.description))
        case .success(let a): answer = a
        }
        guard (200..<300).contains(answer.status) else { return .failure(.refused(status: answer.status)) }
        guard answer.body.count <= Self.maxAnswerBytes else {
            return .failure(.invalidAnswer("larger than \(Self.maxAnswerBytes) bytes"))
        }
        if let problem = JSONValidation.problem(in: answer.body) {
            return .failure(.invalidAnswer("not JSON (\(problem))"))
        }
        remember(id, answer.body)
        return .success((answer.body, false))
    }

    /// Answers remembered now (for tests).
    var remembered: Int { state.withLock { $0.answers.count } }

    private func remember(_ id: String, _ answer: [UInt8]) {
        state.withLock { s in
            guard s.answers.updateValue(answer, forKey: id) == nil else { return }
            s.order.append(id)
            s.bytes += answer.count
            while s.order.count - s.head > limits.count || (s.bytes > limits.bytes && s.order.count - s.head > 1) {
                let oldest = s.order[s.head]
                s.head += 1
                if let gone = s.answers.removeValue(forKey: oldest) { s.bytes -= gone.count }
            }
            // Drop the forgotten part of `order` once it is half of it.
            if s.head > 1024 && s.head * 2 > s.order.count {
                s.order.removeFirst(s.head)
                s.head = 0
            }
        }
    }
}
