// fuzz-fastcgi-records: arbitrary bytes on a FastCGI connection -> RecordCheck.inspect, the
// check the server's event loops make on the bytes they peek before libfcgi reads them
// (RequestArrival; management records before the request answered and consumed as they are
// there) -> when it passes, libfcgi itself through the server's own LibFCGIBridge (reading from a
// socketpair holding the bytes; the body unread when the server answers without it:
// .awaitingBody), Application.respond(to:) and the answer written back through libfcgi.
//
// Input: the raw bytes, as a web server would send them (no framing).
//
// Oracles:
// - RecordCheck is consistent with the way the server peeks: a byte string it does not refuse
//   has no prefix it refuses (the loop inspects growing prefixes as bytes arrive); a management
//   verdict consumes a whole record and answers one well-formed record; a verdict that waits
//   names a byte count beyond what it saw (else the loop would wait for bytes it has), and a
//   complete one a length within it.
// - RecordCheck's .complete means libfcgi can read that request's params from the bytes that were
//   checked: FCGX_Accept_r returns the request (unless the role is unknown to libfcgi) and its
//   environment is FCGI_ROLE plus exactly the name-value pairs of the checked PARAMS stream.
//   Otherwise libfcgi reads bytes nobody checked (the overflow RecordCheck exists to stop), or
//   blocks for params that never come.
// - libfcgi, the copies and the application raise no sanitizer report; the answer is JSON.
import CFastCGI
import CGI
import FastCGI
import FuzzSupport
import Glibc
import Upsign

struct Harness {
    let request: UnsafeMutablePointer<FCGX_Request>
    let app: Application
}

nonisolated(unsafe) var harness: Harness?

/// UPSIGN_FUZZ_DEBUG=1: print the verdict, the model and libfcgi's environment per input, and
/// check no oracle but the sanitizers (to look at what a finding does).
let debug = getenv("UPSIGN_FUZZ_DEBUG") != nil

func setUp() -> Harness {
    if let harness { return harness }
    guard FCGX_Init() == 0 else {
        FuzzSink.say("fuzz-fastcgi-records: FCGX_Init failed\n")
        exit(2)
    }
    let h = Harness(request: LibFCGIBridge.makeRequest(), app: Fixture.application())
    harness = h
    return h
}

/// What libfcgi should make of `bytes` once RecordCheck passed them: the BEGIN_REQUEST's role and
/// the name-value pairs of its PARAMS stream, or why the stream is not what RecordCheck checked.
enum Model {
    case request(role: Int, pairs: [[UInt8]])
    case mismatch(String)
}

func model(_ b: UnsafeRawBufferPointer) -> Model {
    var i = 0
    var id = -1
    var role = 0
    var params: [UInt8] = []
    while b.count - i >= 8 {
        let type = b[i + 1]
        let rid = Int(b[i + 2]) << 8 | Int(b[i + 3])
        let length = Int(b[i + 4]) << 8 | Int(b[i + 5])
        let padding = Int(b[i + 6])
        guard b.count - i - 8 >= length + padding else { break }
        let content = UnsafeRawBufferPointer(rebasing: b[(i + 8)..<(i + 8 + length)])
        if type == 1, id < 0 {
            id = rid
            role = Int(content[0]) << 8 | Int(content[1])
            // libfcgi does not skip a BEGIN_REQUEST's padding (SetReaderType zeroes it): it reads
            // the padding as records, which RecordCheck would have skipped unchecked.
            if padding > 0 { return .mismatch("a BEGIN_REQUEST with \(padding) bytes of padding, which libfcgi reads as records") }
        } else if type == 4, rid != 0 {
            // libfcgi skips records of another request.
            if rid != id { return .mismatch("PARAMS of request \(rid) after BEGIN_REQUEST \(id), which libfcgi skips") }
            if length == 0 { return .request(role: role, pairs: pairs(params)) }
            params.append(contentsOf: content)
        }
        i += 8 + length + padding
    }
    return .mismatch("no end of PARAMS where RecordCheck saw one")
}

/// `NAME=VALUE` as libfcgi's environment holds it (a C string: cut at the first NUL).
func pairs(_ p: [UInt8]) -> [[UInt8]] {
    var out: [[UInt8]] = []
    var i = 0
    func length() -> Int {
        if p[i] < 0x80 {
            i += 1
            return Int(p[i - 1])
        }
        let n = Int(p[i] & 0x7F) << 24 | Int(p[i + 1]) << 16 | Int(p[i + 2]) << 8 | Int(p[i + 3])
        i += 4
        return n
    }
    while i < p.count {
        let n = length()
        let v = length()
        var entry = Array(p[i..<(i + n)])
        entry.append(UInt8(ascii: "="))
        entry.append(contentsOf: p[(i + n)..<(i + n + v)])
        out.append(Array(entry.prefix(while: { $0 != 0 })))
        i += n + v
    }
    return out
}

func verdictName(_ v: RecordCheck.Verdict) -> String {
    switch v {
    case .complete: "complete"
    case .incomplete: "incomplete"
    case .awaitingBody: "awaitingBody"
    case .management(let length, _): "management(\(length))"
    case .invalid(let why): "invalid(\(why))"
    }
}

/// The most STDIN bytes the server asks libfcgi for (max_body + 1).
let bodyLimit = Fixture.configuration.server.maxBody + 1
/// The server passes its max_connections; any small number does here.
let maxConnections = 4

func inspect(_ bytes: UnsafeRawBufferPointer) -> RecordCheck.Verdict {
    RecordCheck.inspect(bytes, bodyLimit: bodyLimit, maxConnections: maxConnections)
}

/// A management reply must be one well-formed record for request 0: GET_VALUES_RESULT (10) with
/// well-formed pairs, each name once, or UNKNOWN_TYPE (11) with an 8-byte body.
func checkManagementReply(_ reply: [UInt8]) {
    guard reply.count >= 8, reply[0] == 1, reply[2] == 0, reply[3] == 0, reply[6] == 0,
        Int(reply[4]) << 8 | Int(reply[5]) == reply.count - 8
    else { Oracle.fail("a malformed management reply \(reply.prefix(16))") }
    switch reply[1] {
    case 10:
        var names: [[UInt8]] = []
        var i = 8
        while i < reply.count {
            guard reply.count - i >= 2, reply[i] < 0x80, reply[i + 1] < 0x80 else {
                Oracle.fail("a GET_VALUES_RESULT with long or truncated lengths")
            }
            let n = Int(reply[i])
            let v = Int(reply[i + 1])
            guard reply.count - i - 2 >= n + v else { Oracle.fail("a GET_VALUES_RESULT pair past its record") }
            let name = Array(reply[(i + 2)..<(i + 2 + n)])
            guard !names.contains(name) else { Oracle.fail("a GET_VALUES_RESULT naming a variable twice") }
            names.append(name)
            i += 2 + n + v
        }
    case 11:
        guard reply.count == 16 else { Oracle.fail("an UNKNOWN_TYPE reply of \(reply.count) bytes") }
    default:
        Oracle.fail("a management reply of type \(reply[1])")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let h = setUp()
    let all = UnsafeRawBufferPointer(start: data, count: size)

    // The server's look at a connection: management records before a request are taken off the
    // socket and answered, then the request is inspected until it is complete.
    var offset = 0
    var verdict = inspect(all)
    while case .management(let length, let reply) = verdict {
        guard length >= 8, length <= size - offset else { Oracle.fail("a management record of \(length) bytes at \(offset) of \(size)") }
        checkManagementReply(reply)
        offset += length
        verdict = inspect(UnsafeRawBufferPointer(rebasing: all[offset...]))
    }
    let bytes = UnsafeRawBufferPointer(rebasing: all[offset...])
    switch verdict {
    case .incomplete(let needed):
        if needed <= bytes.count { Oracle.fail("\(verdictName(verdict)) waits for \(needed) bytes with \(bytes.count) there") }
    case .awaitingBody(let needed, let start, _):
        if needed <= bytes.count || start < 24 || start > bytes.count {
            Oracle.fail("\(verdictName(verdict)) waits for \(needed) bytes, params end at \(start), with \(bytes.count) there")
        }
    case .complete(let length, let start, _):
        if length <= 0 || length > bytes.count || start < 24 || start > length {
            Oracle.fail("complete at \(length) of \(bytes.count) bytes, params ending at \(start)")
        }
    default: break
    }

    // Prefixes (the loop inspects growing prefixes as bytes arrive): at every record boundary and
    // a few cuts inside records, none may be refused when the whole is not.
    if !isInvalid(verdict) {
        let n = bytes.count
        var cuts: [Int] = [n / 2, n / 3, n - 1]
        var i = 0
        while n - i >= 8 {
            cuts.append(i)
            i += 8 + (Int(bytes[i + 4]) << 8 | Int(bytes[i + 5])) + Int(bytes[i + 6])
        }
        for cut in cuts where cut >= 0 && cut < n {
            if case .invalid(let why) = inspect(UnsafeRawBufferPointer(rebasing: bytes[..<cut])) {
                Oracle.fail("RecordCheck refuses the \(cut)-byte prefix (\(why)) of a \(n)-byte request it judges \(verdictName(verdict))")
            }
        }
    }
    // The server reads a request whole from the socket (.complete within max_body), or, when its
    // CONTENT_LENGTH is over max_body or not a number or its body cannot all be queued for
    // checking, takes its start (BEGIN_REQUEST and the params) off the socket and lets libfcgi
    // read that from memory, answering without the body.
    let maxBody = Fixture.configuration.server.maxBody
    let start: Int?
    switch verdict {
    case .complete(_, let s, let declared): start = declared.map { $0 <= maxBody } == true ? nil : s
    case .awaitingBody(_, let s, _): start = s
    default: return 0
    }

    let expected = model(bytes)
    if debug { FuzzSink.say("verdict \(verdictName(verdict)) after \(offset) management bytes; model \(expected)\n") }
    switch expected {
    case .request: break
    case .mismatch(let gap):
        if !debug { Oracle.fail("RecordCheck passed a request libfcgi reads differently: \(gap)") }
    }
    guard bytes.count <= 160 * 1024 else { return 0 }  // more than a socket buffer holds without a reader

    var fds: [Int32] = [-1, -1]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { return 0 }
    var size32 = Int32(256 * 1024)
    setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &size32, socklen_t(MemoryLayout<Int32>.size))
    var written = 0
    while written < bytes.count {
        let n = write(fds[1], bytes.baseAddress! + written, bytes.count - written)
        if n <= 0 { break }
        written += n
    }
    shutdown(fds[1], Int32(SHUT_WR))  // libfcgi reads EOF after the bytes instead of blocking

    let request = h.request
    let reading: LibFCGIBridge.Reading?
    if let start {
        reading = LibFCGIBridge.read(
            start: UnsafeRawBufferPointer(rebasing: bytes[..<start]), requestId: UInt16(bytes[2]) << 8 | UInt16(bytes[3]),
            answeringOn: fds[0], into: request)
        if reading == nil { close(fds[0]) }
    } else {
        reading = LibFCGIBridge.read(fds[0], into: request, maxBody: maxBody)
    }
    if debug {
        FuzzSink.say(
            "read: \(reading != nil); environment:\n"
                + environment(request.pointee.envp).map { "  " + String(decoding: $0, as: UTF8.self).debugDescription + "\n" }.joined())
    }
    if let reading {
        if case .request(let role, let pairs) = expected {
            let env = environment(request.pointee.envp)
            let roleName = role == 1 ? "RESPONDER" : role == 2 ? "AUTHORIZER" : "FILTER"
            if env != [Array("FCGI_ROLE=\(roleName)".utf8)] + pairs, !debug {
                Oracle.fail("libfcgi's environment (\(env.count) entries) is not FCGI_ROLE plus the \(pairs.count) checked pairs")
            }
        }
        let response = h.app.respond(to: reading.request)
        Oracle.check(response)
        if LibFCGIBridge.answer(request, with: response.serialized(includeBody: reading.request.method != "HEAD")) {
            close(fds[0])  // the server closes or keeps it; here the socket pair goes
        }
    } else if case .request(let role, _) = expected, (1...3).contains(role), !debug {
        Oracle.fail("libfcgi refused a request RecordCheck passed")
    }
    close(fds[1])
    return 0
}

func isInvalid(_ v: RecordCheck.Verdict) -> Bool {
    if case .invalid = v { return true }
    return false
}

/// libfcgi's environment entries as bytes.
func environment(_ envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> [[UInt8]] {
    var out: [[UInt8]] = []
    guard var cursor = envp else { return out }
    while let entry = cursor.pointee {
        out.append(Array(UnsafeRawBufferPointer(start: entry, count: strlen(entry))))
        cursor += 1
    }
    return out
}
