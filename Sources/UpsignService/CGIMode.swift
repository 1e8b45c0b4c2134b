import CGI
import Glibc
import Logging
import SystemCalls
import Upsign

/// Plain CGI: one request from the environment and stdin, one response on stdout, then exit.
/// For hosts that run CGI programs but not FastCGI ones.
public enum CGIMode {
    /// True when the web server started us as a CGI program (RFC 3875 meta-variables present).
    public static func applies(_ environment: [String: String]) -> Bool {
        environment["GATEWAY_INTERFACE"] != nil && environment["REQUEST_METHOD"] != nil
    }

    /// Answers the request the meta-variables in `environment` and the body on `input` make, on
    /// `output`, and returns; the caller exits 0. `input` and `output` are the process's stdin
    /// and stdout outside tests.
    public static func answer(
        configuration: Configuration, logger: Logger, environment: [String: String] = ProcessEnvironment.current(),
        input: Int32 = 0, output: Int32 = 1
    ) throws(ServiceError) {
        let credentials = CredentialStore(profiles: configuration.profiles.values, environment: environment, clock: Runtime.clock)
        let application = try LiveApplication.make(configuration, credentials: credentials, metrics: nil, logger: logger, environment: environment)
        let body = readBody(environment["CONTENT_LENGTH"], limit: configuration.server.maxBody, from: input)
        let request = CGIRequest(params: CGIParams(environment), body: body)
        let response = application.respond(to: request)
        let bytes = response.serialized(includeBody: request.method != "HEAD")
        guard FD.writeAll(output, bytes) else { throw .outputFailed }
        // A body we did not read must still be read: exiting with it unread resets the
        // connection (Apache mod_cgid's stdin and stdout are one socket) and the answer is lost.
        if case .tooLarge(let declared) = body { drain(min(declared, 1 << 30), from: input) }
    }

    /// Reads and discards up to `count` bytes of `input`.
    static func drain(_ count: Int, from input: Int32) {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        _ = chunk.withUnsafeMutableBytes { FD.skip(input, count, scratch: $0) }
    }

    /// Reads `CONTENT_LENGTH` bytes of `input`, up to `limit`.
    static func readBody(_ contentLength: String?, limit: Int, from input: Int32) -> CGIRequest.Body {
        guard let declared = CGIRequest.Body.declaredLength(contentLength) else { return .invalidLength }
        if declared == 0 { return .bytes([]) }
        if declared > limit { return .tooLarge(declared: declared) }
        var body = [UInt8](repeating: 0, count: declared)
        let whole = body.withUnsafeMutableBytes { FD.read(input, exactly: declared, into: $0) }
        return whole ? .bytes(body) : .truncated
    }
}
