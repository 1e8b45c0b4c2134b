import ASCIIText
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

extension TableReader {
    /// The whole configuration: `[server]`, `[profiles.*]`, `[callback]` and the rules between them.
    mutating func configuration(_ root: TOMLTable) -> Configuration {
        checkKeys(root, "", allowed: Self.tables)
        var server = ServerSettings()
        if let value = root["server"] {
            if let table = value.table {
                server = serverSettings(table)
            } else {
                problem("server", "must be a table")
            }
        }
        var profiles: [String: Profile] = [:]
        if let value = root["profiles"] {
            if let table = value.table {
                for name in table.keys.sorted() {
                    let path = "profiles.\(name)"
                    guard Self.isProfileName(name) else {
                        problem(path, "profile names use letters, digits, '-' and '_' (at most 64)")
                        continue
                    }
                    guard let t = table[name]?.table else {
                        problem(path, "must be a table")
                        continue
                    }
                    if let p = profile(name, t, path, maxExpiresIn: server.maxExpiresIn, tenantParam: server.tenantParam) { profiles[name] = p }
                }
            } else {
                problem("profiles", "must be a table of profiles")
            }
        }
        if profiles.isEmpty && problems.allSatisfy({ !$0.path.hasPrefix("profiles.") }) {
            problem("profiles", "at least one profile is needed")
        }
        if let name = server.defaultProfile, profiles[name] == nil,
            problems.allSatisfy({ $0.path != "profiles.\(name)" && !$0.path.hasPrefix("profiles.\(name).") })
        {
            problem("server.default_profile", "no profile named '\(name)'")
        }
        var configuration = Configuration(server: server, profiles: profiles)
        if let value = root["callback"] {
            if let table = value.table {
                configuration.callback = callbackSettings(table)
            } else {
                problem("callback", "must be a table")
            }
        }
        if configuration.callback.bindingSecret == nil, let name = profiles.keys.sorted().first(where: { profiles[$0]?.callback != nil }),
            problems.allSatisfy({ !$0.path.hasPrefix("callback.binding_secret") })
        {
            problem(
                "callback.binding_secret",
                "missing: profiles.\(name) has a callback, and each callback upsign signs carries a proof made with this secret (a file: openssl rand -hex 32 > /etc/upsign/callback-binding.key)"
            )
        }
        return configuration
    }

    /// The top-level tables.
    static let tables: Set<String> = ["server", "profiles", "callback"]

    static func isProfileName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 64 && s.utf8.allSatisfy { ASCII.isWordByte($0) || $0 == UInt8(ascii: "-") }
    }
}
