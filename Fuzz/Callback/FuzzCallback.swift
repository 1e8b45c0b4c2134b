// fuzz-callback: an arbitrary OSS upload callback -> POST /upload/callback -> Application's
// verifier: authorization (base64 RSA signature), x-oss-pub-key-url (base64 URL, allow-listed
// prefixes, plain-URL check), the string to sign (url-decoded path, raw query, body), the key
// store (pinned, or fetched by a fetcher that never touches the network), the body as JSON or
// form, the record line and the answer template.
//
// Input: fields separated by NUL (Fuzz/Support/FuzzInput.swift):
//   0  mode letters: s = sign the request correctly with the test key (so the fuzzer gets past
//      the signature check to the body, record and answer code), p = pinned key instead of
//      fetching, f = the fetcher fails, k = the fetcher answers field 6 instead of the key,
//      e = field 2 is the x-oss-pub-key-url header verbatim (else it is base64-encoded),
//      r = record verified uploads (a file in /dev/shm, emptied now and then)
//   1  REQUEST_URI (omitted when empty)
//   2  the public key URL (see e)
//   3  HTTP_AUTHORIZATION when not signing (omitted when empty)
//   4  CONTENT_TYPE (omitted when empty)
//   5  extra params, one NAME=VALUE per line, appended after the above
//   6  what the fetcher answers with mode k
//   7  the body (the rest of the input)
// The key is a 512-bit RSA test key made for this target (fast to sign with; OSS's are 1024+).
import CGI
import COpenSSL
import Crypto
import FuzzSupport
import Glibc
import Upsign

/// PEM of the test key pair (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:512).
let publicPEM = """
    -----BEGIN PUBLIC KEY-----
    MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBANHHi5yJkATX4/pujdMidJILNKUzm1aK
    ZpgwZn+LG+vZnEPktMbAg7xdLhryefdlO9mOtOrxWbaHG3FaRKG+rQUCAwEAAQ==
    -----END PUBLIC KEY-----

    """
let privatePEM = """
    -----BEGIN PRIVATE KEY-----
    MIIBUwIBADANBgkqhkiG9w0BAQEFAASCAT0wggE5AgEAAkEA0ceLnImQBNfj+m6N
    0yJ0kgs0pTObVopmmDBmf4sb69mcQ+S0xsCDvF0uGvJ592U72Y606vFZtocbcVpE
    ob6tBQIDAQABAkB7Mo0zKTaDIaapdDOmQx3ihuIsAtq/QBhwWDxZuwByyRCqrUJA
    zg/bTS+9wBGlyz/hwaXCWV7ydnhs6omREUohAiEA+TjLn+7Hioc6umKQlRIc5BZA
    C2MB6CrOkCOgJBNoLasCIQDXfCH89vCCKiO1eFEwk5IOWeKlddlnyFiIFqIxL+wA
    DwIgafPhbc7/+j7fktnQie+3ZKio9a5T4zY/tzvOG0g85B0CIDqie3kjFLTGlKrn
    j2ghb6faC5MsazkTSgvV5NJvkM8/AiAXvn9/6ri0posLJF3wFo1y1INTZle5SLT2
    SdWjgbR47w==
    -----END PRIVATE KEY-----

    """

struct State {
    let privateKey: OpaquePointer
    let pinned: PublicKeyStore
    let recordsPath: String
    let records: RecordLog
    var recorded = 0
}

nonisolated(unsafe) var state: State?

func setUp() -> State {
    if let state { return state }
    let key: OpaquePointer? = privatePEM.withCString { text in
        guard let bio = BIO_new_mem_buf(text, -1) else { return nil }
        defer { BIO_free(bio) }
        return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
    }
    guard let key, let publicKey = try? PublicKey(pem: Array(publicPEM.utf8)) else {
        FuzzSink.say("fuzz-callback: cannot read the test key\n")
        exit(2)
    }
    let shm = Sandbox(memory: true)
    let path = shm.path + "/records.jsonl"
    let records = RecordLog(path: path)
    let s = State(
        privateKey: key, pinned: PublicKeyStore(pinned: publicKey),
        recordsPath: path, records: records)
    state = s
    return s
}

/// PKCS#1 v1.5 over MD5, as OSS signs callbacks.
func sign(_ message: [UInt8], with key: OpaquePointer) -> [UInt8] {
    guard let context = EVP_MD_CTX_new() else { return [] }
    defer { EVP_MD_CTX_free(context) }
    guard EVP_DigestSignInit(context, nil, EVP_md5(), nil, key) == 1 else { return [] }
    var length = 0
    guard message.withUnsafeBufferPointer({ EVP_DigestSign(context, nil, &length, $0.baseAddress, $0.count) }) == 1 else { return [] }
    var signature = [UInt8](repeating: 0, count: length)
    let ok = signature.withUnsafeMutableBufferPointer { s in
        message.withUnsafeBufferPointer { m in EVP_DigestSign(context, s.baseAddress, &length, m.baseAddress, m.count) }
    }
    return ok == 1 ? Array(signature.prefix(length)) : []
}

/// What OSS signs for `request` (OSS callback documentation): the url-decoded path of the
/// request URI, `?` and the raw query when there is one, a newline and the body. Nil when the
/// path's escapes are broken (then the fuzzer's own authorization is sent).
func stringToSign(_ request: CGIRequest, body: [UInt8]) -> [UInt8]? {
    let uri =
        request.param("REQUEST_URI")
        ?? {
            let q = request.queryString
            return request.path + (q.isEmpty ? "" : "?" + q)
        }()
    let bytes = Array(uri.utf8)
    let q = bytes.firstIndex(of: UInt8(ascii: "?"))
    let path = bytes[..<(q ?? bytes.count)]
    var out: [UInt8] = []
    var i = path.startIndex
    func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x41 + 10
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }
    while i < path.endIndex {
        if path[i] == UInt8(ascii: "%") {
            guard i + 2 < path.endIndex, let hi = hex(path[i + 1]), let lo = hex(path[i + 2]) else { return nil }
            out.append(hi << 4 | lo)
            i += 3
        } else {
            out.append(path[i])
            i += 1
        }
    }
    if let q { out.append(contentsOf: bytes[q...]) }
    out.append(0x0A)
    out.append(contentsOf: body)
    return out
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var s = setUp()
    let fields = FuzzInput.fields(data, size, count: 8)
    let mode = Set(fields[0])
    func has(_ c: Character) -> Bool { mode.contains(c.asciiValue!) }
    let body = fields[7]

    var params = CGIParams()
    func add(_ name: String, _ value: [UInt8]) {
        var entry = Array(name.utf8)
        entry.append(UInt8(ascii: "="))
        entry.append(contentsOf: value.prefix(while: { $0 != 0 }))
        entry.withUnsafeBufferPointer { params.appendRaw($0) }
    }
    add("REQUEST_METHOD", Array("POST".utf8))
    add("DOCUMENT_URI", Array("/upload/callback".utf8))
    add("CONTENT_LENGTH", Array(String(body.count).utf8))
    if !fields[1].isEmpty { add("REQUEST_URI", fields[1]) }
    if !fields[2].isEmpty {
        add("HTTP_X_OSS_PUB_KEY_URL", has("e") ? fields[2] : Array(Base64.encode(fields[2].prefix(while: { $0 != 0 }).map { $0 }).utf8))
    }
    if !fields[4].isEmpty { add("CONTENT_TYPE", fields[4]) }
    FuzzInput.appendParamLines(fields[5], to: &params)

    let delivered = FuzzInput.body(body, contentLength: params["CONTENT_LENGTH"], maxBody: Fixture.configuration.server.maxBody)
    var signed = false
    if has("s"), case .bytes(let b) = delivered,
        let message = stringToSign(CGIRequest(params: params, body: delivered), body: b)
    {
        let signature = sign(message, with: s.privateKey)
        if !signature.isEmpty {
            add("HTTP_AUTHORIZATION", Array(Base64.encode(signature).utf8))
            signed = true
        }
    }
    if !signed, !fields[3].isEmpty { add("HTTP_AUTHORIZATION", fields[3]) }
    let request = CGIRequest(params: params, body: delivered)

    let keys: PublicKeyStore
    if has("p") {
        keys = s.pinned
    } else {
        let answer: Result<[UInt8], PublicKeyStore.FetchFailure> =
            has("f")
            ? .failure(.init(description: "connection refused"))
            : has("k") ? .success(fields[6]) : .success(Array(publicPEM.utf8))
        keys = PublicKeyStore(fetch: { _ in answer })
    }
    let app = Fixture.application(publicKeys: keys, records: has("r") ? s.records : nil)
    let response = app.respond(to: request)
    Oracle.check(response)
    if has("r"), response.status == 200 {
        s.recorded += 1
        if s.recorded % 4096 == 0 { truncate(s.recordsPath, 0) }
        state = s
    }
    return 0
}
