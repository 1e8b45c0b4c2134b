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
            Credentials never come from arguments. A profile with credentials = "env" (the \
            default) reads its store's variables (key id, secret, session token; the first set \
            present wins): \(UpsignCommand.credentialVariables). A profile may name other variables \
            (access_key_id_env, secret_env, token_env) or a credentials file (credentials = \
            "/path" or "$CREDENTIALS_DIRECTORY/NAME", systemd's LoadCredential=).

            UPSIGN_CONFIG names the configuration file when --config is not given. Each \
            subcommand's help names its exit codes, signals and environment; argument errors \
            exit 64. Documentation: /usr/share/doc/upsign/ (the Debian package), or docs/ in the source.
            """,
        version: BuildInfo.version,
        subcommands: [Serve.self, Sign.self, CheckConfig.self, ParseProbe.self],
        defaultSubcommand: Serve.self
    )

    /// The variables `credentials = "env"` reads, per store, from the descriptors.
    static var credentialVariables: String {
        Provider.allCases.map { provider in
            let sets = provider.store.environment.map { ([$0.accessKeyId, $0.secret] + ($0.token.map { [$0] } ?? [])).joined(separator: " ") }
            return "\(provider.rawValue): " + sets.joined(separator: ", else ")
        }.joined(separator: "; ")
    }

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
