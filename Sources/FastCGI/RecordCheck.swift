/// A check of the FastCGI records that open a request, made on bytes peeked from the socket
/// before libfcgi reads them. libfcgi trusts the name and value lengths of PARAMS records (their
/// sum can overflow, and its allocator then asserts, killing the process); this check lets
/// through only requests whose PARAMS stream is complete and well formed (FastCGI 1.0, §3.3-3.4,
/// §5.1-5.2).
public enum RecordCheck {
    /// The verdict on the bytes seen so far.
    public enum Verdict: Equatable, Sendable {
        /// The BEGIN_REQUEST record and a complete, well-formed PARAMS stream are there.
        case complete
        /// More bytes are needed to decide.
        case incomplete
        /// The records break the protocol or the limits; the connection must be dropped.
        case invalid(String)
    }

    /// The most PARAMS bytes one request may carry.
    public static let maxParamsBytes = 128 * 1024

    /// Inspects `bytes`, the start of what is queued on a connection for its next request.
    public static func inspect(_ bytes: UnsafeRawBufferPointer) -> Verdict {
        var i = 0
        var begun = false
        // The PARAMS contents: usually one record, checked in place; several are joined.
        var firstParams: UnsafeRawBufferPointer?
        var joined: [UInt8]?
        var paramsBytes = 0
        while true {
            guard bytes.count - i >= 8 else { return .incomplete }
            let version = bytes[i]
            let type = bytes[i + 1]
            let requestId = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            let contentLength = Int(bytes[i + 4]) << 8 | Int(bytes[i + 5])
            let paddingLength = Int(bytes[i + 6])
            guard version == 1 else { return .invalid("FastCGI version \(version)") }
            guard bytes.count - i - 8 >= contentLength + paddingLength else { return .incomplete }
            let content = UnsafeRawBufferPointer(rebasing: bytes[(i + 8)..<(i + 8 + contentLength)])
            switch type {
            case 1:  // FCGI_BEGIN_REQUEST
                guard !begun else { return .invalid("a second BEGIN_REQUEST (multiplexing)") }
                guard requestId != 0, contentLength == 8 else { return .invalid("a malformed BEGIN_REQUEST") }
                begun = true
            case 4:  // FCGI_PARAMS
                guard begun, requestId != 0 else { return .invalid("PARAMS before BEGIN_REQUEST") }
                if contentLength == 0 {
                    let problem: String?
                    if let joined {
                        problem = joined.withUnsafeBytes { pairsProblem($0) }
                    } else {
                        problem = firstParams.flatMap { pairsProblem($0) }
                    }
                    if let problem { return .invalid(problem) }
                    return .complete
                }
                paramsBytes += contentLength
                guard paramsBytes <= maxParamsBytes else { return .invalid("more than \(maxParamsBytes) bytes of params") }
                if let first = firstParams {
                    if joined == nil { joined = Array(first) }
                    joined?.append(contentsOf: content)
                } else {
                    firstParams = content
                }
            case 9:  // FCGI_GET_VALUES: answered by libfcgi, parsed like params
                guard requestId == 0, pairsProblem(content) == nil else { return .invalid("a malformed GET_VALUES") }
            default:
                return .invalid("record type \(type) before the params ended")
            }
            i += 8 + contentLength + paddingLength
        }
    }

    /// Why `bytes` is not a sequence of name-value pairs (§3.4), or nil when it is.
    static func pairsProblem(_ bytes: UnsafeRawBufferPointer) -> String? {
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
            i += nameLength + valueLength
        }
        return nil
    }
}
