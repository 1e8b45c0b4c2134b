import Foundation
import Testing

@testable import Upsign

/// `deploy/upsign.toml.example` is the complete commented configuration: it parses as it is, and
/// it names every key the parser accepts, in its table (set, or shown commented out). A key
/// added to the parser without a line in the example fails here.
struct ExampleConfigurationTests {
    static let path = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("deploy/upsign.toml.example").path

    /// The keys each table shows, set or commented out: `key = ` lines, `#` and spaces first
    /// allowed, under the latest `[table]` header (itself perhaps commented out).
    static func keysByTable(_ text: String) -> [String: Set<String>] {
        var table = ""
        var out: [String: Set<String>] = [:]
        for raw in text.split(separator: "\n") {
            var line = Substring(raw)
            if line.hasPrefix("#") { line = line.dropFirst().drop(while: { $0 == " " }) }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                let name = line.dropFirst().dropLast()
                let parts = name.split(separator: ".")
                // [profiles.NAME] → "profile", [profiles.NAME.callback] → "profile.callback".
                table = parts.first == "profiles" ? (parts.count == 3 ? "profile.callback" : "profile") : String(name)
                continue
            }
            guard let eq = line.range(of: " = ") else { continue }
            let key = line[..<eq.lowerBound]
            guard !key.isEmpty, key.allSatisfy({ $0.isLowercase || $0 == "_" }) else { continue }
            out[table, default: []].insert(String(key))
        }
        return out
    }

    @Test func theExampleParsesAsItIs() throws {
        let c = try Configuration.load(path: Self.path)
        #expect(c.profiles.count >= 1 && c.defaultProfile != nil)
    }

    @Test func theExampleNamesEveryKeyTheParserAccepts() throws {
        let shown = Self.keysByTable(try String(contentsOfFile: Self.path, encoding: .utf8))
        let expected: [(String, Set<String>)] = [
            ("server", TableReader.serverKeys), ("profile", TableReader.profileKeys.subtracting(["callback"])),
            ("profile.callback", TableReader.profileCallbackKeys), ("callback", TableReader.callbackKeys),
        ]
        for (table, keys) in expected {
            let missing = keys.subtracting(shown[table] ?? [])
            #expect(missing.isEmpty, "deploy/upsign.toml.example lacks \(table) keys: \(missing.sorted())")
            let unknown = (shown[table] ?? []).subtracting(keys)
            #expect(unknown.isEmpty, "deploy/upsign.toml.example shows keys the parser refuses in \(table): \(unknown.sorted())")
        }
        #expect(Set(shown.keys).subtracting(["", "profile", "profile.callback"]).isSubset(of: TableReader.tables))
    }
}
