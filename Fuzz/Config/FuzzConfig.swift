// fuzz-config: configuration text -> Configuration.parse(toml:) -> the checks `upsign check-config`
// makes -> one policy request per profile, signed with the parsed configuration.
//
// Input: fields separated by NUL (Fuzz/Support/FuzzInput.swift):
//   0  the TOML text (as `Configuration.load` reads a file: it must be UTF-8)
//   1  the query string of the policy requests (empty: a typical one)
//   2  a credentials file's text (JSON or INI), parsed by CredentialsFile.parse; when it parses,
//      its credentials become the environment's
// Paths the configuration names (credentials files, callback.public_key_file, callback.records)
// are mapped into a private temporary folder holding creds.json, sts.json, expired.json,
// open.json (mode 0644), bad.json and key.pem; any other name does not exist there.
import CGI
import FuzzSupport
import Glibc
import PostPolicy
import Upsign

private let now = Timestamp(secondsSince1970: 1_767_398_399)  // 2026-01-02T23:59:59Z

nonisolated(unsafe) private var sandbox: Sandbox?

private func files() -> Sandbox {
    if let sandbox { return sandbox }
    let s = Sandbox()
    s.write("creds.json", #"{"AccessKeyId":"LTAIfile","AccessKeySecret":"file-secret"}"#)
    s.write("sts.json", #"{"AccessKeyId":"STS.id","AccessKeySecret":"sts-secret","SecurityToken":"token+/=","Expiration":"2026-01-03T00:04:59Z"}"#)
    s.write("expired.json", #"{"AccessKeyId":"STS.old","AccessKeySecret":"old","SecurityToken":"t","Expiration":"2026-01-01T00:00:00Z"}"#)
    s.write("creds.ini", "[default]\naccess_key_id = AKIAINI\nsecret_access_key = ini-secret\n")
    s.write("open.json", #"{"AccessKeyId":"LTAIopen","AccessKeySecret":"s"}"#, mode: 0o644)
    s.write("bad.json", #"{"AccessKeyId":"#)
    s.write("key.pem", callbackPublicKeyPEM)
    sandbox = s
    return s
}

/// OSS's callback key format: a PEM SubjectPublicKeyInfo (the 512-bit test key of Fuzz/Callback).
private let callbackPublicKeyPEM = """
    -----BEGIN PUBLIC KEY-----
    MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBANHHi5yJkATX4/pujdMidJILNKUzm1aK
    ZpgwZn+LG+vZnEPktMbAg7xdLhryefdlO9mOtOrxWbaHG3FaRKG+rQUCAwEAAQ==
    -----END PUBLIC KEY-----

    """

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let fields = FuzzInput.fields(data, size, count: 3)
    let box = files()

    // The credentials file's text: parsed on its own, then (when it parses) the environment.
    var environmentCredentials = Credentials(accessKeyId: "LTAIenv", secret: Secret("env-secret"), securityToken: "env-token")
    if let text = String(validating: fields[2], as: UTF8.self) {
        switch CredentialsFile.parse(text) {
        case .success(let contents):
            environmentCredentials = contents.credentials
            FuzzSink.consume(contents.expiration.map { Int($0.secondsSince1970) } ?? 0)
        case .failure(let e):
            FuzzSink.consume(e.description.utf8.count)
        }
    }

    guard let text = String(validating: fields[0], as: UTF8.self) else { return 0 }
    var configuration: Configuration
    do {
        configuration = try Configuration.parse(toml: text)
    } catch {
        for p in error.problems { FuzzSink.consume(p.description.utf8.count) }
        return 0
    }

    // What `upsign check-config` does after parsing, with every named file in the sandbox.
    FuzzSink.consume(configuration.tenantWarnings().count)
    for (name, var profile) in configuration.profiles {
        if case .file(let path) = profile.credentials {
            profile.credentials = .file(path: box.map(path))
            configuration.profiles[name] = profile
        }
    }
    if let key = configuration.callback.publicKeyFile { configuration.callback.publicKeyFile = box.map(key) }
    if let records = configuration.callback.records { configuration.callback.records = box.map(records) }
    for p in configuration.credentialFileProblems() + configuration.callbackFileProblems() { FuzzSink.consume(p.description.utf8.count) }

    // One policy request per profile (at most 4), signed with this configuration, answered on a
    // thread of its own that exits before the application is dropped, so the per-thread values
    // the application makes go with the thread (FuzzSupport.onFreshThread).
    let application = makeApplication(configuration, environmentCredentials)
    let query = fields[1]
    onFreshThread { answer(application, query) }
    return 0
}

/// The application over `configuration`, with `credentialsFromFile` as the environment's keys.
private func makeApplication(_ configuration: Configuration, _ credentialsFromFile: Credentials) -> Application {
    var environment: [String: String] = [:]
    let secret = credentialsFromFile.secret.withBytes { String(decoding: $0, as: UTF8.self) }
    func provide(_ id: String, _ secretName: String, _ token: String?) {
        environment[id] = credentialsFromFile.accessKeyId
        environment[secretName] = secret
        if let token { environment[token] = credentialsFromFile.securityToken ?? "" }
    }
    provide("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SESSION_TOKEN")
    for profile in configuration.profiles.values {
        if case .environmentNamed(let id, let s, let t) = profile.credentials { provide(id, s, t) }
    }
    let credentials = CredentialStore(profiles: configuration.profiles.values, environment: environment, clock: { now })
    return Application(
        configuration: configuration, credentials: credentials, clock: { now },
        uuid: { "0f8fad5b-d9cb-469f-a165-70867728950e" }, logger: SinkLogHandler.logger())
}

/// Answers a policy request per profile (at most 4) and a health check.
private func answer(_ application: Application, _ queryField: [UInt8]) {
    let configuration = application.configuration
    let query =
        queryField.isEmpty
        ? "filename=Photo%20One.JPG&size=1234&contentType=image%2Fjpeg&x-oss-meta-album=trip&meta-camera=x100"
        : FuzzInput.text(queryField)
    let base = configuration.server.basePath
    for name in configuration.profiles.keys.sorted().prefix(4) {
        guard let profile = configuration.profiles[name] else { continue }
        var q = "profile=\(name)&" + query
        for variable in profile.callback?.variables ?? [] { q += "&x:\(variable)=v-\(variable)" }
        var params: [(String, String)] = [
            ("REQUEST_METHOD", "GET"), ("DOCUMENT_URI", base + "/policy"), ("QUERY_STRING", q),
            (configuration.server.identityParam, "alice"),
        ]
        if let tenant = configuration.server.tenantParam, let app = profile.apps.first { params.append((tenant, app)) }
        Oracle.check(application.respond(to: CGIRequest(params: CGIParams(params), body: .bytes([]))))
    }
    Oracle.check(application.respond(to: CGIRequest(params: ["REQUEST_METHOD": "GET", "DOCUMENT_URI": base + "/healthz"], body: .bytes([]))))
}
