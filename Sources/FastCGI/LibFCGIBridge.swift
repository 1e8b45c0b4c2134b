import CFastCGI
import CGI
import Glibc
import SystemCalls

/// libfcgi's part of each request: it reads the request's records from the connection (once
/// `RequestArrival` has seen them all queued and sound) and writes the answer's records.
///
/// Three libfcgi habits are kept away from the event loops:
/// - it closes a connection with a lingering read (`shutdown`, then reads for up to 2 s per poll)
///   when a request ends without `FCGI_KEEP_CONN` or a stream fails: every request is marked
///   `detached`, which makes any close it does a plain `close(2)`, and keep-alive is decided here;
/// - its `FCGX_Accept_r` accepts on the listening socket when the connection fails: the request
///   has none (`listen_sock = -1`), so it returns instead;
/// - a request lives at a fixed heap address (its streams point back into it).
public enum LibFCGIBridge {
    // Public for the fuzz target, which drives libfcgi through these as the server does.

    /// A request record for libfcgi, at a fixed address; free it with `release`.
    public static func makeRequest() -> UnsafeMutablePointer<FCGX_Request> {
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        FCGX_InitRequest(request, -1, 0)
        return request
    }

    /// Frees a request made by `makeRequest` (whose connection is no longer in it).
    public static func release(_ request: UnsafeMutablePointer<FCGX_Request>) {
        FCGX_Free(request, 0)
        request.deallocate()
    }

    /// What reading a request gave.
    public struct Reading: Sendable {
        /// The request, params and body copied out of libfcgi.
        public let request: CGIRequest
        /// The front end set `FCGI_KEEP_CONN`: the connection carries more requests.
        public let peerKeepsConnection: Bool
        /// The body is still on the connection, to be dropped once the request is answered.
        public var bodyLeftUnread = false
    }

    /// Lets libfcgi read the whole request queued on `fd` into `request`; nil when libfcgi
    /// refused it (it has then closed `fd`).
    public static func read(_ fd: Int32, into request: UnsafeMutablePointer<FCGX_Request>, maxBody: Int) -> Reading? {
        guard accept(fd, into: request) else { return nil }
        let peerKeeps = request.pointee.keepConnection != 0
        let params = copyParams(request.pointee.envp)
        let body = readBody(request, contentLength: params["CONTENT_LENGTH"], maxBody: maxBody)
        return Reading(request: CGIRequest(params: params, body: body), peerKeepsConnection: peerKeeps)
    }

    /// Lets libfcgi read a request's start (BEGIN_REQUEST and the PARAMS stream, taken off the
    /// connection by the caller) from memory, with its body answered unread: `.tooLarge` by its
    /// `CONTENT_LENGTH`, or `.invalidLength` when that is not a number. (The loop comes here when
    /// `CONTENT_LENGTH` is over `maxBody` or not a number, or when a body within it cannot all be
    /// queued for checking.) The answer
    /// then goes to `fd`. libfcgi reads sockets 8 KiB at a time, so reading the start from the
    /// socket would take body records with it that `UnreadBody` must see. Nil when libfcgi
    /// refused the start or no memory file could be made; `fd` is left open either way.
    public static func read(
        start: UnsafeRawBufferPointer, requestId: UInt16, answeringOn fd: Int32, into request: UnsafeMutablePointer<FCGX_Request>
    ) -> Reading? {
        let memory = upsign_memfd()
        guard memory >= 0 else { return nil }
        // The start, then an empty STDIN record: libfcgi sees a whole request with no body.
        let end: [UInt8] = [1, 5, UInt8(requestId >> 8), UInt8(requestId & 0xFF), 0, 0, 0, 0]
        guard FD.writeAll(memory, start), end.withUnsafeBytes({ FD.writeAll(memory, $0) }), lseek(memory, 0, SEEK_SET) == 0 else {
            Glibc.close(memory)
            return nil
        }
        guard accept(memory, into: request) else { return nil }  // libfcgi closed the memory file
        Glibc.close(memory)
        request.pointee.ipcFd = fd
        let peerKeeps = request.pointee.keepConnection != 0
        let params = copyParams(request.pointee.envp)
        let body = CGIRequest.Body.declaredLength(params["CONTENT_LENGTH"]).map { CGIRequest.Body.tooLarge(declared: $0) } ?? .invalidLength
        return Reading(request: CGIRequest(params: params, body: body), peerKeepsConnection: peerKeeps, bodyLeftUnread: true)
    }

    /// `FCGX_Accept_r` on `fd`, which holds a whole request start: false when libfcgi refused it
    /// (and closed `fd`).
    private static func accept(_ fd: Int32, into request: UnsafeMutablePointer<FCGX_Request>) -> Bool {
        request.pointee.ipcFd = fd
        request.pointee.listen_sock = -1
        request.pointee.detached = 1
        // FCGX_Accept_r first finishes the previous request, closing its connection unless kept.
        request.pointee.keepConnection = 1
        return FCGX_Accept_r(request) >= 0
    }

    /// Writes `response` as the request's STDOUT records and its END_REQUEST, and frees what
    /// libfcgi held for the request. True when the connection is still open (it is then out of
    /// `request` and the caller's again); false when a write failed and libfcgi closed it.
    public static func answer(_ request: UnsafeMutablePointer<FCGX_Request>, with response: [UInt8]) -> Bool {
        response.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) {
                _ = FCGX_PutStr($0.baseAddress, Int32($0.count), request.pointee.out)
            }
        }
        // Kept open whatever the peer asked: closing is the caller's (plainly, or lingering).
        request.pointee.keepConnection = 1
        request.pointee.detached = 1
        FCGX_Finish_r(request)
        guard request.pointee.ipcFd >= 0 else { return false }
        request.pointee.ipcFd = -1
        return true
    }

    /// Copies `NAME=VALUE` params out of libfcgi's storage (freed by `FCGX_Finish_r`).
    public static func copyParams(_ envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CGIParams {
        var params = CGIParams()
        guard let envp else { return params }
        var count = 0
        var bytes = 0
        var cursor = envp
        while let entry = cursor.pointee {
            count += 1
            bytes += strlen(entry)
            cursor += 1
        }
        params.reserve(entries: count, bytes: bytes)
        cursor = envp
        while let entry = cursor.pointee {
            let length = strlen(entry)
            entry.withMemoryRebound(to: UInt8.self, capacity: length) {
                params.appendRaw(UnsafeBufferPointer(start: $0, count: length))
            }
            cursor += 1
        }
        return params
    }

    /// Reads the body: all of it up to `maxBody`, then on to the end of the FastCGI stdin stream so
    /// that a kept-alive connection is left at the next request's first record. A
    /// `CONTENT_LENGTH` over `maxBody` or not a number reads nothing.
    public static func readBody(_ request: UnsafeMutablePointer<FCGX_Request>, contentLength: String?, maxBody: Int) -> CGIRequest.Body {
        guard let declared = CGIRequest.Body.declaredLength(contentLength) else { return .invalidLength }
        if declared > maxBody { return .tooLarge(declared: declared) }
        var body = [UInt8](repeating: 0, count: declared)
        var filled = 0
        while filled < declared {
            let got = body.withUnsafeMutableBufferPointer { b in
                b.baseAddress!.advanced(by: filled).withMemoryRebound(to: CChar.self, capacity: declared - filled) {
                    FCGX_GetStr($0, Int32(declared - filled), request.pointee.in)
                }
            }
            if got <= 0 { return .truncated }
            filled += Int(got)
        }
        // Consume the end-of-stream record; more bytes than announced means a confused peer.
        var extra: CChar = 0
        if FCGX_GetStr(&extra, 1, request.pointee.in) != 0 { return .invalidLength }
        return .bytes(body)
    }
}
