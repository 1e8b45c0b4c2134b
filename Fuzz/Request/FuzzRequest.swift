// fuzz-request: an arbitrary gateway request -> Application.respond(to:), over the fixture
// configuration (Fuzz/Support/Fixture.swift: every store, answer shape, pinned fields, callbacks,
// tenants), a fixed clock and UUID. Covers the query string, form and JSON body parsing
// (PolicyParameters, FormURLEncoding, FlatJSONObject), routing, identity, profile choice and
// every signer, end to end.
//
// Input: fields separated by NUL (Fuzz/Support/FuzzInput.swift):
//   0  extra params, one NAME=VALUE per line, appended last (a repeated name's last value wins,
//      as with nginx): REQUEST_METHOD, DOCUMENT_URI, UPSIGN_USER, UPSIGN_APP, CONTENT_LENGTH, ...
//   1  QUERY_STRING
//   2  CONTENT_TYPE (omitted when empty)
//   3  the body (the rest of the input, any bytes)
// Before the extra params: REQUEST_METHOD (POST with a body, else GET), DOCUMENT_URI=/upload/policy,
// UPSIGN_USER=alice, CONTENT_LENGTH=<body size>. The body is handed over as the FastCGI loop
// would (FuzzInput.body: too large, truncated or longer than CONTENT_LENGTH).
//
// Oracle (Fuzz/Support/Oracle.swift): every answer is JSON with an error object or a signed form
// whose policy/callback/token decode to JSON objects; no header can split the header block.
import CGI
import FuzzSupport
import Upsign

nonisolated(unsafe) private var application: Application?

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let app: Application
    if let application {
        app = application
    } else {
        app = Fixture.application()
        application = app
    }

    let fields = FuzzInput.fields(data, size, count: 4)
    let body = fields[3]
    var params = CGIParams()
    params.reserve(entries: 24, bytes: size + 256)
    func add(_ name: String, _ value: [UInt8]) {
        var entry = Array(name.utf8)
        entry.append(UInt8(ascii: "="))
        entry.append(contentsOf: value.prefix(while: { $0 != 0 }))
        entry.withUnsafeBufferPointer { params.appendRaw($0) }
    }
    add("REQUEST_METHOD", Array((body.isEmpty ? "GET" : "POST").utf8))
    add("DOCUMENT_URI", Array("/upload/policy".utf8))
    add("UPSIGN_USER", Array("alice".utf8))
    add("CONTENT_LENGTH", Array(String(body.count).utf8))
    add("QUERY_STRING", fields[1])
    if !fields[2].isEmpty { add("CONTENT_TYPE", fields[2]) }
    FuzzInput.appendParamLines(fields[0], to: &params)

    let request = CGIRequest(
        params: params,
        body: FuzzInput.body(body, contentLength: params["CONTENT_LENGTH"], maxBody: Fixture.configuration.server.maxBody))
    // The request's own accessors, as the loop and the handler read them.
    FuzzSink.consume(request.path.utf8.count &+ request.method.utf8.count &+ (request.mediaType?.utf8.count ?? 0))
    let response = app.respond(to: request)
    Oracle.check(response)
    FuzzSink.consume(response.serialized(includeBody: request.method != "HEAD"))
    return 0
}
