import CGI

/// A check of a request's FastCGI records, made on bytes peeked from the socket before libfcgi
/// reads them. libfcgi trusts what it parses: the name and value lengths of PARAMS and
/// GET_VALUES records (their sum can overflow, and its allocator then asserts, killing the
/// process), and the names of a GET_VALUES (its answer is built in a 64-byte stack buffer that a
/// repeated name overruns). So libfcgi is let near a request only once every record it will
/// parse has been checked here: BEGIN_REQUEST, the whole PARAMS stream and the STDIN stream up to
/// its end, or past the body limit (libfcgi never reads further; FastCGI 1.0, §3.3-3.4, §5.1-5.3).
/// Management records before a request are answered by the server itself (`management`); inside
/// a request they are refused.
public enum RecordCheck {
    /// The verdict on the bytes seen so far.
    public enum Verdict: Equatable, Sendable {
        /// BEGIN_REQUEST, a well-formed PARAMS stream and the STDIN stream (to its end, or past the
        /// body limit) are there, in the first `length` bytes; the STDIN stream starts at `start`.
        /// `declaredLength` is the params' `CONTENT_LENGTH` (0 when absent; nil when it is not a
        /// number).
        case complete(length: Int, start: Int, declaredLength: Int?)
        /// More bytes are needed to decide: nothing changes until at least `needed` bytes are there
        /// (the end of the record being received), so a server need not look again before then.
        case incomplete(needed: Int)
        /// As `incomplete`, but BEGIN_REQUEST and the whole PARAMS stream are there and sound, in
        /// the first `start` bytes: only body bytes are missing. `declaredLength` as in `complete`,
        /// so that a body over the limit can be refused before it arrives.
        case awaitingBody(needed: Int, start: Int, declaredLength: Int?)
        /// The first record is a management record (request id 0) before any request: the server
        /// consumes its `length` bytes and writes `reply` (GET_VALUES_RESULT or UNKNOWN_TYPE),
        /// then looks again.
        case management(length: Int, reply: [UInt8])
        /// The records break the protocol or the limits; the connection must be dropped.
        case invalid(String)
    }

    /// The most PARAMS bytes one request may carry.
    public static let maxParamsBytes = 128 * 1024

    /// The variables a GET_VALUES may ask about, and upsign's answers: no multiplexing; one request
    /// per connection at a time.
    static func managementValues(maxConnections: Int) -> [(String, String)] {
        [("FCGI_MAX_CONNS", String(maxConnections)), ("FCGI_MAX_REQS", String(maxConnections)), ("FCGI_MPXS_CONNS", "0")]
    }

    /// Inspects `bytes`, the start of what is queued on a connection for its next request.
    /// `bodyLimit`: the most STDIN bytes the server will ask libfcgi for (its `max_body` + 1);
    /// `maxConnections` goes into GET_VALUES answers.
    public static func inspect(_ bytes: UnsafeRawBufferPointer, bodyLimit: Int = .max, maxConnections: Int = 1) -> Verdict {
        var i = 0
        var requestId = -1
        var paramsEnded = false
        // The PARAMS contents: usually one record, checked in place; several are joined.
        var firstParams: UnsafeRawBufferPointer?
        var joined: [UInt8]?
        var paramsBytes = 0
        var stdinBytes = 0
        var declaredLength: Int? = 0
        // Where the STDIN stream starts (the end of the empty PARAMS record).
        var start = 0
        func waiting(for needed: Int) -> Verdict {
            paramsEnded ? .awaitingBody(needed: needed, start: start, declaredLength: declaredLength) : .incomplete(needed: needed)
        }
        while true {
            guard bytes.count - i >= 8 else { return waiting(for: i + 8) }
            let version = bytes[i]
            let type = bytes[i + 1]
            let id = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            let contentLength = Int(bytes[i + 4]) << 8 | Int(bytes[i + 5])
            let paddingLength = Int(bytes[i + 6])
            guard version == 1 else { return .invalid("FastCGI version \(version)") }
            guard bytes.count - i - 8 >= contentLength + paddingLength else { return waiting(for: i + 8 + contentLength + paddingLength) }
            let content = UnsafeRawBufferPointer(rebasing: bytes[(i + 8)..<(i + 8 + contentLength)])
            let recordLength = 8 + contentLength + paddingLength

            if id == 0 {
                // A management record (§4). Before a request: answered by the server.
                if requestId < 0 {
                    guard i == 0 else { return .invalid("a management record after the first record of the look") }
                    if type == 9 {  // FCGI_GET_VALUES
                        guard let names = pairNames(content) else { return .invalid("a malformed GET_VALUES") }
                        return .management(length: recordLength, reply: valuesResult(names, maxConnections: maxConnections))
                    }
                    return .management(length: recordLength, reply: unknownType(type))
                }
                // Inside a request libfcgi would answer it, but misreads one with content and leaks
                // 48 bytes for each of any type but GET_VALUES (found by fuzzing): a peer could grow
                // the worker without bound. No web server sends them; the connection is dropped.
                return .invalid("a management record inside a request")
            }
            switch type {
            case 1:  // FCGI_BEGIN_REQUEST
                guard requestId < 0 else { return .invalid("a second BEGIN_REQUEST (multiplexing)") }
                // libfcgi reads the 8 bytes of a BEGIN body and skips no padding.
                guard contentLength == 8, paddingLength == 0 else { return .invalid("a malformed BEGIN_REQUEST") }
                requestId = id
            case 4:  // FCGI_PARAMS
                guard requestId >= 0 else { return .invalid("PARAMS before BEGIN_REQUEST") }
                guard id == requestId else { return .invalid("PARAMS for another request") }
                guard !paramsEnded else { return .invalid("PARAMS after the params ended") }
                if contentLength == 0 {
                    let checked: Result<Int?, Refusal>
                    if let joined {
                        checked = joined.withUnsafeBytes { declaredContentLength($0) }
                    } else if let firstParams {
                        checked = declaredContentLength(firstParams)
                    } else {
                        checked = .success(0)
                    }
                    switch checked {
                    case .success(let length): declaredLength = length
                    case .failure(let refusal): return .invalid(refusal.reason)
                    }
                    paramsEnded = true
                    start = i + recordLength
                } else {
                    paramsBytes += contentLength
                    guard paramsBytes <= maxParamsBytes else { return .invalid("more than \(maxParamsBytes) bytes of params") }
                    if let first = firstParams {
                        if joined == nil { joined = Array(first) }
                        joined?.append(contentsOf: content)
                    } else {
                        firstParams = content
                    }
                }
            case 5:  // FCGI_STDIN
                guard paramsEnded, id == requestId else { return .invalid("STDIN before the params ended") }
                if contentLength == 0 { return .complete(length: i + recordLength, start: start, declaredLength: declaredLength) }
                stdinBytes += contentLength
                // libfcgi is never asked for more: what follows is never parsed.
                if stdinBytes > bodyLimit { return .complete(length: i + recordLength, start: start, declaredLength: declaredLength) }
            default:
                return .invalid("record type \(type) in a request")
            }
            i += recordLength
        }
    }

    /// Why a stream was refused.
    struct Refusal: Error {
        let reason: String
    }

    /// The `CONTENT_LENGTH` that the name-value pairs in `bytes` declare (0 when absent, nil when
    /// not a number, by `CGIRequest.Body.declaredLength`), or why they are malformed (§3.4).
    static func declaredContentLength(_ bytes: UnsafeRawBufferPointer) -> Result<Int?, Refusal> {
        var value: String?
        let problem = forEachPair(bytes) { name, v in
            if name.count == 14 && name.elementsEqual("CONTENT_LENGTH".utf8) { value = String(decoding: v, as: UTF8.self) }
        }
        if let problem { return .failure(Refusal(reason: problem)) }
        return .success(CGIRequest.Body.declaredLength(value))
    }

    /// The names of the name-value pairs in `bytes`, or nil when they are malformed.
    static func pairNames(_ bytes: UnsafeRawBufferPointer) -> [[UInt8]]? {
        var names: [[UInt8]] = []
        let problem = forEachPair(bytes) { name, _ in names.append(Array(name)) }
        return problem == nil ? names : nil
    }

    /// Calls `body` with each pair's name and value; returns why `bytes` is malformed, or nil.
    private static func forEachPair(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) -> String? {
        var i = 0
        func length() -> Int? {
            guard i < bytes.count else { return nil }
            if bytes[i] < 0x80 {
                i += 1
                return Int(bytes[i - 1])
            }
            guard bytes.count - i >= 4 else { return nil }
            let n = Int(bytes[i] & 0x7F) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            i += 4
            return n
        }
        while i < bytes.count {
            guard let nameLength = length(), let valueLength = length() else { return "a truncated name-value length" }
            // Both lengths must fit in what was actually sent: no sum can overflow past that.
            guard nameLength <= bytes.count - i, valueLength <= bytes.count - i - nameLength else {
                return "a name-value pair longer than the params"
            }
            body(
                UnsafeRawBufferPointer(rebasing: bytes[i..<(i + nameLength)]),
                UnsafeRawBufferPointer(rebasing: bytes[(i + nameLength)..<(i + nameLength + valueLength)]))
            i += nameLength + valueLength
        }
        return nil
    }

    /// FCGI_GET_VALUES_RESULT for `names`: each variable upsign knows, once, however often asked.
    static func valuesResult(_ names: [[UInt8]], maxConnections: Int) -> [UInt8] {
        var content: [UInt8] = []
        for (name, value) in managementValues(maxConnections: maxConnections) where names.contains(Array(name.utf8)) {
            content += [UInt8(name.utf8.count), UInt8(value.utf8.count)] + Array(name.utf8) + Array(value.utf8)
        }
        return header(type: 10, contentLength: content.count) + content
    }

    /// FCGI_UNKNOWN_TYPE for a management record of `type`.
    static func unknownType(_ type: UInt8) -> [UInt8] {
        header(type: 11, contentLength: 8) + [type, 0, 0, 0, 0, 0, 0, 0]
    }

    private static func header(type: UInt8, contentLength: Int) -> [UInt8] {
        [1, type, 0, 0, UInt8(contentLength >> 8), UInt8(contentLength & 0xFF), 0, 0]
    }
}
