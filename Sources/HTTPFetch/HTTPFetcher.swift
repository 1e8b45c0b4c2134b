import CCurl

/// Small HTTP exchanges through libcurl, bounded in time and size, never following a redirect:
/// HTTPS GETs for fetching public keys (the certificate and host name verified, TLS 1.2 or
/// later), and POSTs to the application that callbacks are forwarded to.
public enum HTTPFetcher {
    /// Why a fetch failed.
    public struct Failure: Error, Equatable, CustomStringConvertible {
        /// What went wrong (libcurl's message or the HTTP status).
        public let description: String
        /// True when the time ran out (as opposed to a refused connection or a bad answer).
        public var timedOut = false
    }

    /// An answer to a POST: any status, and the body.
    public struct Answer: Equatable, Sendable {
        /// The HTTP status.
        public let status: Int
        /// The body, at most the `maxBytes` asked for.
        public let body: [UInt8]
    }

    /// Initialises libcurl once; call before any thread is started.
    public static func initialise() {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    }

    /// GETs the https `url`, failing on any other scheme, on a certificate that does not verify
    /// for its host, on a non-2xx status, on more than `maxBytes` of body, or after
    /// `timeoutSeconds` in all. With `caFile` (a PEM bundle) only its certificates are trusted;
    /// without it, the system's.
    public static func get(
        _ url: String, caFile: String? = nil, timeoutSeconds: Int = 5, maxBytes: Int = 64 * 1024
    ) -> Result<[UInt8], Failure> {
        let answer = perform(url, protocols: "https", caFile: caFile, timeoutMilliseconds: timeoutSeconds * 1000, maxBytes: maxBytes) { handle in
            upsign_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT, min(timeoutSeconds, 3)) == CURLE_OK
                && upsign_curl_setopt_long(handle, CURLOPT_MAXFILESIZE, maxBytes) == CURLE_OK
        }
        return answer.flatMap { a -> Result<[UInt8], Failure> in
            (200..<300).contains(a.status) ? .success(a.body) : .failure(Failure(description: "HTTP status \(a.status)"))
        }
    }

    /// POSTs `body` to the http(s) `url` with `headers` (`Name: value` lines), through the unix
    /// socket at `unixSocket` when given (the URL then names only the host header and path), and
    /// returns whatever status answers. Fails when nothing answers, on more than `maxBytes` of
    /// answer, or after `timeoutMilliseconds` in all (`Failure.timedOut`). https verifies the
    /// peer as `get` does, trusting `caFile` when given.
    public static func post(
        _ url: String, unixSocket: String? = nil, body: [UInt8], headers: [String], caFile: String? = nil,
        timeoutMilliseconds: Int, maxBytes: Int
    ) -> Result<Answer, Failure> {
        var list: UnsafeMutablePointer<curl_slist>?
        // No `Expect: 100-continue` round trip before the body.
        for h in headers + ["Expect:"] { list = curl_slist_append(list, h) }
        defer { curl_slist_free_all(list) }
        return perform(url, protocols: "http,https", caFile: caFile, timeoutMilliseconds: timeoutMilliseconds, maxBytes: maxBytes) { handle in
            var ok = unixSocket.map { upsign_curl_setopt_string(handle, CURLOPT_UNIX_SOCKET_PATH, $0) == CURLE_OK } ?? true
            ok = ok && upsign_curl_setopt_long(handle, CURLOPT_POST, 1) == CURLE_OK
            ok = ok && upsign_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, body.count) == CURLE_OK
            // COPYPOSTFIELDS copies the bytes (POSTFIELDSIZE first, so any bytes, NULs included).
            ok =
                ok
                && body.withUnsafeBytes { bytes in
                    upsign_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress)) == CURLE_OK
                }
            return ok && upsign_curl_setopt_pointer(handle, CURLOPT_HTTPHEADER, list) == CURLE_OK
        }
    }

    /// One exchange with the options both verbs share (the allowed `protocols`, no redirects,
    /// the peer verified over TLS 1.2 or later, an overall timeout, no signals, the answer
    /// collected up to `maxBytes`), after `configure` set the verb's own.
    private static func perform(
        _ url: String, protocols: String, caFile: String?, timeoutMilliseconds: Int, maxBytes: Int,
        configure: (UnsafeMutableRawPointer) -> Bool
    ) -> Result<Answer, Failure> {
        guard let handle = curl_easy_init() else { return .failure(Failure(description: "libcurl could not start")) }
        defer { curl_easy_cleanup(handle) }
        let sink = Sink(limit: maxBytes)
        let context = Unmanaged.passUnretained(sink).toOpaque()
        var ok = upsign_curl_setopt_string(handle, CURLOPT_URL, url) == CURLE_OK
        ok = ok && upsign_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, protocols) == CURLE_OK
        ok = ok && upsign_curl_setopt_string(handle, CURLOPT_REDIR_PROTOCOLS_STR, protocols) == CURLE_OK
        ok = ok && upsign_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0) == CURLE_OK
        ok = ok && upsign_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1) == CURLE_OK
        ok = ok && upsign_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2) == CURLE_OK
        ok = ok && upsign_curl_setopt_long(handle, CURLOPT_SSLVERSION, Int(CURL_SSLVERSION_TLSv1_2)) == CURLE_OK
        if let caFile {
            ok = ok && upsign_curl_setopt_string(handle, CURLOPT_CAINFO, caFile) == CURLE_OK
            // Only the bundle: no system certificate directory beside it.
            ok = ok && upsign_curl_setopt_string(handle, CURLOPT_CAPATH, nil) == CURLE_OK
        }
        ok = ok && upsign_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, max(1, timeoutMilliseconds)) == CURLE_OK
        ok = ok && upsign_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1) == CURLE_OK
        ok = ok && upsign_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context) == CURLE_OK
        ok = ok && upsign_curl_setopt_write_function(handle, Self.collect) == CURLE_OK
        ok = ok && configure(handle)
        guard ok else { return .failure(Failure(description: "libcurl refused an option")) }
        let code = curl_easy_perform(handle)
        if sink.overflowed { return .failure(Failure(description: "larger than \(maxBytes) bytes")) }
        guard code == CURLE_OK else {
            return .failure(Failure(description: String(cString: curl_easy_strerror(code)), timedOut: code == CURLE_OPERATION_TIMEDOUT))
        }
        var status = 0
        _ = upsign_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return .success(Answer(status: status, body: sink.bytes))
    }

    /// libcurl's write callback: appends to the `Sink` given as its context, up to its limit.
    private static let collect: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
        data, size, count, context in
        let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
        let n = size * count
        if sink.bytes.count + n > sink.limit {
            sink.overflowed = true
            return 0
        }
        data.map { sink.bytes.append(contentsOf: UnsafeRawBufferPointer(start: $0, count: n)) }
        return n
    }

    private final class Sink {
        var bytes: [UInt8] = []
        var overflowed = false
        let limit: Int
        init(limit: Int) { self.limit = limit }
    }
}
