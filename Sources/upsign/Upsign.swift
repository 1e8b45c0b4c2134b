import ArgumentParser

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
        subcommands: [Serve.self, Sign.self, CheckConfig.self]
    )
}
