import ArgumentParser
import LogLines
import Logging
import UpsignService

/// Options shared by every subcommand.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The TOML configuration file (default: $UPSIGN_CONFIG).", valueName: "file"))
    var config: String?

    /// `--config`, else `UPSIGN_CONFIG` (for web servers that run upsign without arguments).
    var configPath: String { config ?? ProcessEnvironment.current()["UPSIGN_CONFIG"] ?? "" }

    @Option(name: .long, help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical.", valueName: "level"))
    var logLevel: String = "info"

    func validate() throws {
        guard !configPath.isEmpty else {
            throw ValidationError("name the configuration with --config FILE or the UPSIGN_CONFIG environment variable")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    /// Sets up logging to stderr as JSON lines; called once per process.
    func bootstrapLogging() -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = JSONLineLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "upsign")
    }
}
