import JSONText
import PostPolicy

/// The text of a credentials file, in either of the forms credential agents write:
/// - JSON, the shape of an STS `Credentials` object:
///   `{"AccessKeyId": "...", "AccessKeySecret": "...", "SecurityToken": "...", "Expiration": "2026-11-29T13:00:00Z"}`;
///   or of an AWS STS / `credential_process` answer (`AccessKeyId`, `SecretAccessKey`, `SessionToken`)
///   or Tencent Cloud STS (`TmpSecretId`, `TmpSecretKey`, `Token`);
/// - INI, as ossutil's, the Alibaba Cloud CLI's and the AWS CLI's files: a `[Credentials]` or
///   `[default]` section with `accessKeyID`/`access_key_id`/`aws_access_key_id`,
///   `accessKeySecret`/`access_key_secret`/`aws_secret_access_key`,
///   `stsToken`/`security_token`/`sts_token`/`aws_session_token` and `expiration` (names compared
///   case-insensitively).
///
/// Pure: text in, credentials out. Errors never quote the text (it holds the secret).
public enum CredentialsFile {
    /// Credentials and, for temporary ones, when they stop working.
    public struct Contents: Sendable, Equatable {
        /// The key pair and token.
        public var credentials: Credentials
        /// The `Expiration` field, if any.
        public var expiration: Timestamp?
    }

    /// Parses `text`: JSON when it starts with `{`, INI otherwise.
    public static func parse(_ text: String) -> Result<Contents, CredentialStore.LoadError> {
        let trimmed = text.drop(while: { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" || $0 == "\u{FEFF}" })
        let fields: [String: String]
        switch trimmed.first == "{" ? json(text) : ini(text) {
        case .success(let f): fields = f
        case .failure(let e): return .failure(e)
        }
        func value(_ names: String...) -> String? { value(names) }
        func value(_ names: [String]) -> String? {
            for n in names { if let v = fields[n], !v.isEmpty { return v } }
            return nil
        }
        guard let id = value(idNames), let secret = value(secretNames) else {
            return .failure(.init(description: "needs AccessKeyId and AccessKeySecret"))
        }
        var expiration: Timestamp?
        if let text = value("expiration") {
            guard let t = Timestamp(iso8601: text) else {
                return .failure(.init(description: "Expiration is not a UTC time such as 2026-11-29T13:00:00Z"))
            }
            expiration = t
        }
        let credentials = Credentials(
            accessKeyId: id, secret: Secret(secret), securityToken: value(tokenNames))
        return .success(Contents(credentials: credentials, expiration: expiration))
    }

    /// The names (lowercased) each part may go by, in order of preference.
    static let idNames = ["accesskeyid", "access_key_id", "aws_access_key_id", "tmpsecretid"]
    static let secretNames = ["accesskeysecret", "access_key_secret", "secretaccesskey", "aws_secret_access_key", "tmpsecretkey"]
    static let tokenNames = ["securitytoken", "security_token", "ststoken", "sts_token", "sessiontoken", "aws_session_token", "token"]

    /// Members of a flat JSON object, names lowercased; non-string members are ignored.
    static func json(_ text: String) -> Result<[String: String], CredentialStore.LoadError> {
        let object: FlatJSONObject
        do {
            object = try FlatJSONObject.parse(Array(text.utf8))
        } catch {
            return .failure(.init(description: "not a flat JSON object (\(error.reason) at byte \(error.offset))"))
        }
        var out: [String: String] = [:]
        for (key, value) in object.members {
            if case .string(let s) = value { out[key.lowercased()] = s }
        }
        return .success(out)
    }

    /// `name = value` lines of the `[Credentials]` or `[default]` section (or of the lines before
    /// any section), names lowercased; `#` and `;` start comments.
    static func ini(_ text: String) -> Result<[String: String], CredentialStore.LoadError> {
        var sections: [String: [String: String]] = [:]
        var current = ""
        for (number, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = rawLine.trimmingCharacters(in: " \t\r")
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else { return .failure(.init(description: "line \(number + 1): a section header without ']'")) }
                current = String(line.dropFirst().dropLast()).trimmingCharacters(in: " \t").lowercased()
                continue
            }
            guard let eq = line.firstIndex(of: "=") else {
                return .failure(.init(description: "line \(number + 1): expected name = value"))
            }
            let name = String(line[..<eq]).trimmingCharacters(in: " \t").lowercased()
            var value = String(line[line.index(after: eq)...]).trimmingCharacters(in: " \t")
            if value.count >= 2, let q = value.first, q == "\"" || q == "'", value.last == q {
                value = String(value.dropFirst().dropLast())
            }
            sections[current, default: [:]][name] = value
        }
        for name in ["credentials", "default", ""] {
            if let s = sections[name], idNames.contains(where: { s[$0] != nil }) { return .success(s) }
        }
        return .failure(.init(description: "no [Credentials] or [default] section with an access key id"))
    }
}
