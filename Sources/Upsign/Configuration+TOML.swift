import PostPolicy
import TOMLKit

extension Configuration {
    /// Parses and validates TOML text, collecting every problem rather than stopping at the first.
    public static func parse(toml text: String) throws(ConfigurationError) -> Configuration {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigurationError(problems: [
                .init(path: "file", message: "line \(error.source.begin.line), column \(error.source.begin.column): \(error.description)")
            ])
        } catch {
            throw ConfigurationError(problems: [.init(path: "file", message: "not valid TOML")])
        }
        var reader = TableReader()
        let configuration = reader.configuration(root)
        if !reader.problems.isEmpty { throw ConfigurationError(problems: reader.problems) }
        return configuration
    }

    /// Reads and parses the file at `path`.
    public static func load(path: String) throws(ConfigurationError) -> Configuration {
        try parse(toml: text(path: path))
    }

    /// The text of the configuration file at `path` (at most 1 MiB).
    public static func text(path: String) throws(ConfigurationError) -> String {
        do {
            return try FileText.read(path, limit: 1 << 20)
        } catch {
            throw ConfigurationError(problems: [.init(path: "file", message: "\(path): \(error)")])
        }
    }
}
