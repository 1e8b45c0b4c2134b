import Glibc

/// The process environment as a dictionary, read from `environ` (no Foundation).
public enum ProcessEnvironment {
    /// A copy of the environment as it is now.
    public static func current() -> [String: String] {
        var out: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") {
                out[String(text[..<eq])] = String(text[text.index(after: eq)...])
            }
            cursor += 1
        }
        return out
    }
}
