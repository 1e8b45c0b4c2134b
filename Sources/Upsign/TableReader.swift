import TOMLKit

/// Reads a TOML tree into configuration values: typed getters that record a problem, with its
/// dotted path, for a value of the wrong type or range, instead of stopping at the first. The
/// tables are read by concern in `Configuration+TOML.swift` (the whole file),
/// `TableReader+Server.swift`, `TableReader+Profile.swift` and `TableReader+Callback.swift`.
struct TableReader {
    /// Every problem found so far, in the order found.
    var problems: [ConfigurationError.Problem] = []

    mutating func problem(_ path: String, _ message: String) {
        problems.append(.init(path: path, message: message))
    }

    mutating func checkKeys(_ table: TOMLTable, _ path: String, allowed: Set<String>) {
        for key in table.keys.sorted() where !allowed.contains(key) {
            problem(path.isEmpty ? key : "\(path).\(key)", "unknown key")
        }
    }

    mutating func string(_ table: TOMLTable, _ key: String, _ path: String) -> String? {
        guard let value = table[key] else { return nil }
        guard let s = value.string else {
            problem("\(path).\(key)", "must be a string")
            return nil
        }
        return s
    }

    mutating func int(_ table: TOMLTable, _ key: String, _ path: String, _ range: ClosedRange<Int>) -> Int? {
        guard let value = table[key] else { return nil }
        guard let n = value.int else {
            problem("\(path).\(key)", "must be an integer")
            return nil
        }
        guard range.contains(n) else {
            problem("\(path).\(key)", "must be between \(range.lowerBound) and \(range.upperBound)")
            return nil
        }
        return n
    }

    mutating func bool(_ table: TOMLTable, _ key: String, _ path: String) -> Bool? {
        guard let value = table[key] else { return nil }
        guard let b = value.bool else {
            problem("\(path).\(key)", "must be true or false")
            return nil
        }
        return b
    }

    /// A number written as an integer or a decimal (`3` or `2.5`).
    mutating func number(_ table: TOMLTable, _ key: String, _ path: String) -> Double? {
        guard let value = table[key] else { return nil }
        if let n = value.int { return Double(n) }
        guard let d = value.double, d.isFinite else {
            problem("\(path).\(key)", "must be a number")
            return nil
        }
        return d
    }

    mutating func strings(_ table: TOMLTable, _ key: String, _ path: String) -> [String]? {
        guard let value = table[key] else { return nil }
        guard let array = value.array else {
            problem("\(path).\(key)", "must be an array of strings")
            return nil
        }
        var out: [String] = []
        for (i, element) in array.enumerated() {
            guard let s = element.string else {
                problem("\(path).\(key)[\(i)]", "must be a string")
                continue
            }
            out.append(s)
        }
        return out
    }
}
