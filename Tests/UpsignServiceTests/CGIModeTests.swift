import Foundation
import Glibc
import Logging
import Testing
import Upsign
import UpsignService

/// Plain CGI: the request comes from the environment and stdin, the answer goes to stdout.
struct CGIModeTests {
    /// What one CGI run wrote to stdout, and the stdin left unread after it.
    struct Run {
        let output: String
        let unreadInput: [UInt8]

        /// The text after the blank line that ends the headers.
        var body: String { output.split(separator: "\r\n\r\n", maxSplits: 1).dropFirst().first.map(String.init) ?? "" }
    }

    /// Answers one request the way a web server starting `upsign` as a CGI program would pose it.
    func run(_ variables: [String: String], stdin: [UInt8] = []) throws -> Run {
        let configuration = try Configuration.parse(toml: ServiceFixture.toml)
        var environment = ServiceFixture.environment
        environment["GATEWAY_INTERFACE"] = "CGI/1.1"
        environment["DOCUMENT_URI"] = "/upload/policy"
        environment["UPSIGN_USER"] = "alice"
        environment.merge(variables) { $1 }
        let input = Pipe()
        let output = Pipe()
        input.writeAndClose(stdin)
        try CGIMode.answer(
            configuration: configuration, logger: CapturedLog().logger, environment: environment,
            input: input.readEnd, output: output.writeEnd)
        output.closeWrite()
        return Run(output: String(decoding: output.readAll(), as: UTF8.self), unreadInput: input.readAll())
    }

    @Test func aGETIsAnsweredWithCGIHeadersAndTheJSONBodyOnStdout() throws {
        let run = try run(["REQUEST_METHOD": "GET", "QUERY_STRING": "profile=avatar&filename=a.jpg"])
        #expect(run.output.hasPrefix("Status: 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"))
        #expect(run.output.contains("\r\nContent-Length: \(run.body.utf8.count)\r\n\r\n"))
        #expect(run.body.hasPrefix("{") && run.body.contains(#""ossAccessKeyId":"LTAIservice""#))
        #expect(run.body.contains("avatars/alice/"))
    }

    @Test func aPOSTBodyIsReadFromStdin() throws {
        let form = Array("profile=doc&filename=report.pdf".utf8)
        let run = try run(
            ["REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": String(form.count)],
            stdin: form)
        #expect(run.output.hasPrefix("Status: 200 OK\r\n"))
        #expect(run.body.contains("docs/alice/") && run.body.contains(".pdf"))
    }

    @Test func aHEADGetsTheHeadersWithoutTheBody() throws {
        let run = try run(["REQUEST_METHOD": "HEAD", "DOCUMENT_URI": "/upload/healthz"])
        #expect(run.output.hasPrefix("Status: 200 OK\r\n"))
        #expect(run.output.hasSuffix("\r\n\r\n") && !run.output.contains("Content-Length: 0\r\n"))
    }

    @Test func aBodyOverMaxBodyIsRefusedAndStillReadToTheEnd() throws {
        let body = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        let run = try run(
            ["REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": "1000"], stdin: body)
        #expect(run.output.hasPrefix("Status: 413 "))
        #expect(run.body.contains(#""code":"body_too_large""#))
        #expect(run.unreadInput.isEmpty)
    }

    @Test func aBodyShorterThanItsContentLengthIsRefused() throws {
        let run = try run(
            ["REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": "40"],
            stdin: Array("profile=doc".utf8))
        #expect(run.output.hasPrefix("Status: 400 "))
        #expect(run.body.contains("the request body ended early"))
    }

    @Test func anUnwritableStdoutIsAnOutputFailure() throws {
        let configuration = try Configuration.parse(toml: ServiceFixture.toml)
        let readOnly = open("/dev/null", O_RDONLY)
        defer { close(readOnly) }
        var environment = ServiceFixture.environment
        environment["GATEWAY_INTERFACE"] = "CGI/1.1"
        environment["REQUEST_METHOD"] = "GET"
        environment["DOCUMENT_URI"] = "/upload/healthz"
        let error = #expect(throws: ServiceError.self) {
            try CGIMode.answer(
                configuration: configuration, logger: CapturedLog().logger, environment: environment, input: readOnly, output: readOnly)
        }
        #expect(error == .outputFailed && error?.exitStatus == 1)
    }

    @Test func anUnusableCallbackFileIsAConfigurationErrorBeforeAnyAnswer() throws {
        let dir = try ScratchDirectory()
        let configuration = try Configuration.parse(
            toml: ServiceFixture.toml.replacingOccurrences(of: "[callback]\n", with: "[callback]\nca_file = \"\(dir.path)/missing.pem\"\n"))
        let output = Pipe()
        let log = CapturedLog()
        let error = #expect(throws: ServiceError.self) {
            try CGIMode.answer(
                configuration: configuration, logger: log.logger,
                environment: ["GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET"], input: output.readEnd, output: output.writeEnd)
        }
        #expect(error?.exitStatus == 78)
        #expect(log.all.contains { $0.level == .critical && $0.metadata["config.field"] == "callback.ca_file" })
        output.closeWrite()
        #expect(output.readAll().isEmpty)
    }

    @Test(arguments: [
        (["GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET"], true),
        (["GATEWAY_INTERFACE": "CGI/1.1"], false),
        (["REQUEST_METHOD": "GET"], false),
        ([:], false),
    ])
    func cgiModeAppliesOnlyWithTheGatewayAndMethodVariables(_ environment: [String: String], _ applies: Bool) {
        #expect(CGIMode.applies(environment) == applies)
    }
}
