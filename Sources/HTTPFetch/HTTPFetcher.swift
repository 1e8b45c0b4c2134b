import CCurl

/// Small HTTPS GETs through libcurl, for fetching public keys: https only (the certificate and
/// host name verified, TLS 1.2 or later), bounded in time and size, no redirects.
public enum HTTPFetcher {
    /// Why a fetch failed.
    public struct Failure: Error, Equatable, CustomStringConvertible {
        /// What went wrong (libcurl's message or the HTTP status).
        public let description: String
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
        guard let handle = curl_easy_init() else { return .failure(Failure(description: "libcurl could not start")) }
        defer { curl_easy_cleanup(handle) }
        let sink = Sink(limit: maxBytes)
        let context = Unmanaged.passUnretained(sink).toOpaque()
        var ok = upsign_curl_setopt_string(handle, CURLOPT_URL, url) == CURLE_OK
        ok = ok && upsign_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK
        ok = ok && upsign_curl_setopt_string(handle, CURLOPT_REDIR_PROTOCOLS_STR, "https") == CURLE_OK
        ok = ok && upsign_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0) == CURLE_OK
        ok = ok && upsign_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1) == CURLE_OK
        ok = ok && upsign_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2) == CURLE_OK
        ok = ok && upsign_curl_setopt_long(handle, CURLOPT_SSLVERSION, Int(CURL_SSLVERSION_TLSv1_2)) == CURLE_OK
        if let caFile {
            ok = ok && upsign_curl_setopt_string(handle, CURLOPT_CAINFO, caFile) == CURLE_OK
            // Only the bundle: no system certificate directory beside it.
            ok = ok && upsign_curl_setopt_string(handle, CURLOPT_CAPATH, nil) == CURLE_OK
        }
        ok = ok && upsign_curl_setopt_long(handle, CURLOPT_TIMEOUT, timeoutSeconds) == CURLE_OK
        ok = ok && upsign_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT, min(timeoutSeconds, 3)) == CURLE_OK
        ok = ok && upsign_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1) == CURLE_OK
        ok = ok && upsign_curl_setopt_long(handle, CURLOPT_MAXFILESIZE, maxBytes) == CURLE_OK
        ok = ok && upsign_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context) == CURLE_OK
        ok = ok && upsign_curl_setopt_write_function(handle, { data, size, count, context in
            let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
            let n = size * count
            if sink.bytes.count + n > sink.limit { sink.overflowed = true; return 0 }
            data.map { sink.bytes.append(contentsOf: UnsafeRawBufferPointer(start: $0, count: n)) }
            return n
        }) == CURLE_OK
        guard ok else { return .failure(Failure(description: "libcurl refused an option")) }
        let code = curl_easy_perform(handle)
        if sink.overflowed { return .failure(Failure(description: "larger than \(maxBytes) bytes")) }
        guard code == CURLE_OK else {
            return .failure(Failure(description: String(cString: curl_easy_strerror(code))))
        }
        var status = 0
        _ = upsign_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        guard (200..<300).contains(status) else { return .failure(Failure(description: "HTTP status \(status)")) }
        return .success(sink.bytes)
    }

    private final class Sink {
        var bytes: [UInt8] = []
        var overflowed = false
        let limit: Int
        init(limit: Int) { self.limit = limit }
    }
}
