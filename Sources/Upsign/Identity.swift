/// The authenticated user a web server passes (nginx `auth_request` → `fastcgi_param`), checked
/// before it goes into an object key.
public enum Identity {
    /// The longest accepted user name, in bytes.
    public static let maxLength = 128

    /// Returns the user if it is safe in a key path segment: 1-128 ASCII letters, digits and
    /// `-_.@+=~`, not `.`-led and without `..`. Otherwise the reason.
    public static func validate(_ user: String) -> Result<String, APIError> {
        let b = Array(user.utf8)
        guard b.count <= maxLength else { return .failure(.invalidIdentity("longer than \(maxLength) bytes")) }
        for c in b {
            switch c {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A,
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "@"),
                UInt8(ascii: "+"), UInt8(ascii: "="), UInt8(ascii: "~"):
                continue
            case UInt8(ascii: "/"), UInt8(ascii: "\\"):
                return .failure(.invalidIdentity("contains a path separator"))
            case 0..<0x20, 0x7F:
                return .failure(.invalidIdentity("contains control characters"))
            default:
                return .failure(.invalidIdentity("only ASCII letters, digits and -_.@+=~ are accepted"))
            }
        }
        let hasDotDot = zip(b, b.dropFirst()).contains { $0 == UInt8(ascii: ".") && $1 == UInt8(ascii: ".") }
        if b.first == UInt8(ascii: ".") || hasDotDot {
            return .failure(.invalidIdentity("must not start with '.' or contain '..'"))
        }
        return .success(user)
    }
}
