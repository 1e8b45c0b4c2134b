import ArgumentParser
import UpsignService

/// `upsign _parse-probe`: parses the configuration text on stdin and exits 0, whatever the
/// verdict; only a crash shows (`ConfigurationProbe`). Not for people.
struct ParseProbe: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: ConfigurationProbe.subcommand, shouldDisplay: false)

    func run() throws {
        ConfigurationProbe.parseStandardInput()
    }
}
