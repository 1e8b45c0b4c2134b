import ArgumentParser
import Upsign
import UpsignService

/// `upsign check-config`: validates a configuration and names every problem with its field.
struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check a configuration file; print each problem as 'field: message'.",
        discussion: """
            Reads the files the configuration names (credentials files, callback key, binding \
            secret, records folder) as the user running the check; never the environment's \
            credentials. Prints 'warning: ...' lines for what the stores cannot enforce or the \
            check cannot see (a "$CREDENTIALS_DIRECTORY/NAME" file outside systemd, unless \
            CREDENTIALS_DIRECTORY is set), then 'ok: N profiles'.

            Exit status: 0 no problem (warnings allowed); 1 one 'field: message' line per \
            problem; 64 bad arguments.
            """)

    @Option(name: .long, help: ArgumentHelp("The TOML configuration file.", valueName: "file"))
    var config: String

    func run() throws {
        let problems: [ConfigurationError.Problem]
        var warnings: [String] = []
        var profileCount = 0
        do {
            let configuration = try ConfigurationLoader.shared.load(path: config)
            let environment = ProcessEnvironment.current()
            problems = configuration.credentialFileProblems(environment: environment) + configuration.callbackFileProblems(environment: environment)
            warnings =
                configuration.profileWarnings() + configuration.tenantWarnings() + configuration.credentialNotes(environment: environment)
                + configuration.callbackFileNotes(environment: environment)
            profileCount = configuration.profiles.count
        } catch {
            problems = error.problems
        }
        if !warnings.isEmpty { FileHandleWriter.stdout(warnings.map { "warning: \($0)" }.joined(separator: "\n") + "\n") }
        guard problems.isEmpty else {
            FileHandleWriter.stdout(problems.map(\.description).joined(separator: "\n") + "\n")
            throw ExitCode(1)
        }
        FileHandleWriter.stdout("ok: \(profileCount) profile\(profileCount == 1 ? "" : "s")\n")
    }
}
