/// An object-key template such as `uploads/{user}/{yyyy}/{mm}/{dd}/{uuid}{ext}`, parsed once at
/// configuration time and rendered per request. The server, not the client, chooses every key.
public struct KeyTemplate: Sendable, Equatable {
    /// A placeholder a template may use.
    public enum Placeholder: String, Sendable, CaseIterable {
        /// The authenticated user passed by the web server.
        case user
        /// A fresh random UUID (lowercase, 36 characters).
        case uuid
        /// `.` plus the lowercased extension of the client's file name, or nothing.
        case ext
        /// Four-digit UTC year of the request.
        case yyyy
        /// Two-digit UTC month.
        case mm
        /// Two-digit UTC day.
        case dd
        /// Two-digit UTC hour.
        case hh
        /// Unix seconds of the request.
        case timestamp
        /// The profile's name.
        case profile
    }

    /// A piece of a template.
    public enum Segment: Sendable, Equatable {
        /// Text copied as is.
        case literal(String)
        /// Text supplied per request.
        case placeholder(Placeholder)
    }

    /// Why a template is refused.
    public enum ParseError: Error, Equatable, CustomStringConvertible {
        /// `{name}` names no known placeholder.
        case unknownPlaceholder(String)
        /// A `{` without its `}` or a `}` without its `{`.
        case unbalancedBrace
        /// The template is empty or starts with `/`.
        case badShape(String)
        /// It contains `..` segments, a backslash or control characters.
        case unsafeCharacters

        /// A sentence naming the problem.
        public var description: String {
            switch self {
            case .unknownPlaceholder(let name):
                "unknown placeholder {\(name)}; known: " + Placeholder.allCases.map { "{\($0.rawValue)}" }.joined(separator: " ")
            case .unbalancedBrace: "unbalanced { or }"
            case .badShape(let why): why
            case .unsafeCharacters: "must not contain '..' path segments, backslashes or control characters"
            }
        }
    }

    /// The template's pieces in order.
    public let segments: [Segment]

    /// Parses `template`.
    public init(_ template: String) throws(ParseError) {
        guard !template.isEmpty else { throw .badShape("must not be empty") }
        guard !template.hasPrefix("/") else { throw .badShape("must not start with '/'") }
        if template.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "\\" })
            || template.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0 == ".." || $0 == "." })
        {
            throw .unsafeCharacters
        }
        var segments: [Segment] = []
        var literal = ""
        var rest = Substring(template)
        while let c = rest.first {
            if c == "{" {
                guard let close = rest.firstIndex(of: "}") else { throw .unbalancedBrace }
                let name = rest[rest.index(after: rest.startIndex)..<close]
                guard let p = Placeholder(rawValue: String(name)) else {
                    if name.contains("{") { throw .unbalancedBrace }
                    throw .unknownPlaceholder(String(name))
                }
                if !literal.isEmpty {
                    segments.append(.literal(literal))
                    literal = ""
                }
                segments.append(.placeholder(p))
                rest = rest[rest.index(after: close)...]
            } else if c == "}" {
                throw .unbalancedBrace
            } else {
                literal.append(c)
                rest = rest.dropFirst()
            }
        }
        if !literal.isEmpty { segments.append(.literal(literal)) }
        self.segments = segments
    }

    /// True when the template uses `placeholder`.
    public func uses(_ placeholder: Placeholder) -> Bool {
        segments.contains(.placeholder(placeholder))
    }

    /// The literal text before the first placeholder: every key this template makes starts with it.
    public var fixedPrefix: String {
        if case .literal(let s)? = segments.first { return s }
        return ""
    }

    /// The per-request values a template is rendered with.
    public struct Values: Sendable {
        /// The authenticated user, already validated; nil when absent.
        public var user: String?
        /// A fresh UUID.
        public var uuid: String
        /// The extension with its dot (`.jpg`), or the empty string.
        public var ext: String
        /// The request's instant (the single clock reading of the request).
        public var time: Timestamp
        /// The profile's name.
        public var profile: String

        /// Creates the values.
        public init(user: String?, uuid: String, ext: String, time: Timestamp, profile: String) {
            self.user = user
            self.uuid = uuid
            self.ext = ext
            self.time = time
            self.profile = profile
        }
    }

    /// Renders the key. A `{user}` with no user renders as nothing; callers require the user first.
    public func render(_ v: Values) -> String {
        var out = ""
        out.reserveCapacity(96)
        var utc: UTCDateTime?
        func date() -> UTCDateTime {
            if let utc { return utc }
            let d = v.time.utc
            utc = d
            return d
        }
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        for s in segments {
            switch s {
            case .literal(let text): out += text
            case .placeholder(.user): out += v.user ?? ""
            case .placeholder(.uuid): out += v.uuid
            case .placeholder(.ext): out += v.ext
            case .placeholder(.yyyy):
                var b: [UInt8] = []
                Timestamp.append(date().year, width: 4, to: &b)
                out += String(decoding: b, as: UTF8.self)
            case .placeholder(.mm): out += two(date().month)
            case .placeholder(.dd): out += two(date().day)
            case .placeholder(.hh): out += two(date().hour)
            case .placeholder(.timestamp): out += String(v.time.secondsSince1970)
            case .placeholder(.profile): out += v.profile
            }
        }
        return out
    }
}
