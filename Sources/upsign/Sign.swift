import ArgumentParser
import CGI
import Glibc
import PostPolicy
import Upsign
import UpsignService

/// `upsign sign`: prints exactly what the endpoint would answer, for scripts and reproductions.
struct Sign: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the policy answer the endpoint would give (deterministic with --now and --uuid).",
        discussion: """
            Signs with the configuration's credentials, like the worker: the store credential \
            variables (see upsign --help) or the profile's credentials file. Environment: \
            UPSIGN_CONFIG (without --config), CREDENTIALS_DIRECTORY. The request's log line goes \
            to stderr.

            Exit status: 0 the answer printed; 1 the endpoint would answer an error, whose JSON \
            body is printed; 64 bad arguments; 78 the configuration (or its callback binding \
            secret) is not usable, each problem on stderr.
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "The profile.") var profile: String
    @Option(help: "The authenticated user (as nginx would pass it).") var user: String?
    @Option(help: "The client's file name.") var filename: String?
    @Option(help: "The client's content type.") var contentType: String?
    @Option(help: "The client's file size in bytes.") var size: String?
    @Option(help: "Answer shape: native, uppy, java or aliyun-appserver.") var format: String?
    @Option(help: ArgumentHelp("The instant to sign at, e.g. 2026-01-02T03:04:05Z.", valueName: "time")) var now: String?
    @Option(help: "The UUID to put in the key.") var uuid: String?

    func validate() throws {
        if let now, Timestamp(iso8601: now) == nil {
            throw ValidationError("--now takes a UTC time such as 2026-01-02T03:04:05Z")
        }
        if let uuid,
            uuid.utf8.count != 36 || !uuid.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) || $0 == UInt8(ascii: "-") })
        {
            throw ValidationError("--uuid takes a lowercase UUID such as 0f8fad5b-d9cb-469f-a165-70867728950e")
        }
    }

    func run() throws {
        let logger = common.bootstrapLogging()
        let configuration: Configuration
        do {
            configuration = try ConfigurationLoader.shared.load(path: common.configPath)
        } catch {
            FileHandleWriter.stderr(error.description + "\n")
            throw ExitCode(78)
        }
        let binding: CallbackBinding?
        switch configuration.callbackBinding(environment: ProcessEnvironment.current()) {
        case .success(let b): binding = b
        case .failure(let e):
            FileHandleWriter.stderr(e.description + "\n")
            throw ExitCode(78)
        }
        let fixedNow = now.flatMap { Timestamp(iso8601: $0) }
        let fixedUUID = uuid
        let application = Application(
            configuration: configuration,
            credentials: CredentialStore(profiles: configuration.profiles.values, environment: ProcessEnvironment.current()),
            clock: { fixedNow ?? Runtime.clock() },
            uuid: { fixedUUID ?? Runtime.uuid() },
            logger: logger, binding: binding)

        var query: [(String, String)] = [("profile", profile)]
        if let filename { query.append(("filename", filename)) }
        if let contentType { query.append(("contentType", contentType)) }
        if let size { query.append(("size", size)) }
        if let format { query.append(("format", format)) }
        var params = [
            "REQUEST_METHOD": "GET",
            "DOCUMENT_URI": configuration.server.basePath + "/policy",
            "QUERY_STRING": query.map { "\(QueryText.escape($0))=\(QueryText.escape($1))" }.joined(separator: "&"),
        ]
        if let user { params[configuration.server.identityParam] = user }
        let response = application.respond(to: CGIRequest(params: CGIParams(params), body: .bytes([])))
        FileHandleWriter.stdout(response.bodyText + "\n")
        if response.status != 200 { throw ExitCode(1) }
    }
}
