import ArgumentParser
import Glibc
import Upsign

/// `upsign`: issues signed browser-POST upload policies as a FastCGI worker behind nginx.
@main
struct UpsignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upsign",
        abstract: "Issue short-lived signed POST policies for direct uploads to object storage.",
        discussion: """
            Credentials come from the environment (OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET, \
            OSS_SESSION_TOKEN) or a credentials file named in the configuration; never from arguments.
            """,
        version: BuildInfo.version,
        subcommands: [Serve.self, Sign.self, CheckConfig.self, ParseProbe.self],
        defaultSubcommand: Serve.self
    )

    /// Parses the arguments, except where a web server runs upsign as a CGI program: for a query
    /// string without `=` it passes the query's words as arguments (RFC 3875 §4.4), which are no
    /// options of ours.
    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        let subcommands = configuration.subcommands.compactMap { $0.configuration.commandName ?? String(describing: $0).lowercased() }
        if getenv("GATEWAY_INTERFACE") != nil,
            !arguments.contains(where: { $0.hasPrefix("-") || subcommands.contains($0) })
        {
            arguments = []
        }
        main(arguments)
    }
}
