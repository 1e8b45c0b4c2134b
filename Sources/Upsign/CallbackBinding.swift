import Crypto
import PostPolicy

/// Proof that upsign issued the upload a callback reports. OSS signs every callback with a key
/// all of Aliyun shares, so its signature says "OSS sent this", not "upsign issued this upload
/// for this user": anyone can post to their own bucket with our callback URL and a body of their
/// choosing. So each callback upsign signs into a policy carries a token in its body, fixed when
/// the policy is issued and pinned with it:
///
///     1.<notAfter>.<e|pN>.<hex(user)>.<hex(HMAC-SHA256(secret, "upsign-callback-1\n" bucket \n kind \n key \n user \n notAfter))>
///
/// `e`: the object is exactly `key`; `pN`: the object starts with the first N bytes of the
/// object name (the aliyun-appserver shape's per-upload folder). OSS fills the bucket and the
/// object into the same body, so `/callback` recomputes the MAC over what OSS says was uploaded.
public struct CallbackBinding: Sendable {
    /// The body member holding the token, and those OSS fills with the bucket and the object.
    public static let tokenMember = "upsign_bind"
    public static let bucketMember = "upsign_bucket"
    public static let objectMember = "upsign_object"

    /// How long after the policy expires its callback is still accepted: OSS checks the policy
    /// when an upload starts, and a 5 GB upload begun a moment before expiry over a slow link
    /// can take hours. A replay inside the window names the same upload, which the records
    /// already hold (exactly once), or another object, which the MAC refuses.
    public static let graceSeconds: Int64 = 24 * 3600

    /// The secrets: the first signs, every one verifies (rotation: put the new one first and
    /// keep the old one until the policies it signed have expired).
    let secrets: [Secret]

    /// Why a callback is not bound to an issued upload.
    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        /// No token in the body.
        case missing
        /// The token is not one upsign writes.
        case malformed
        /// The token does not cover this bucket, object and user.
        case mismatch
        /// The token's window has passed.
        case expired

        public var description: String {
            switch self {
            case .missing: "the callback carries no upsign binding"
            case .malformed: "the callback's binding is malformed"
            case .mismatch: "the callback's binding does not cover this bucket, object and user"
            case .expired: "the callback's binding has expired"
            }
        }
    }

    /// What a valid token says about the upload.
    public struct Bound: Sendable, Equatable {
        /// The user the policy was issued to ("" when the profile needs none).
        public let user: String
    }

    /// A binding with `secrets` (at least one; the first signs).
    public init(secrets: [Secret]) {
        precondition(!secrets.isEmpty)
        self.secrets = secrets
    }

    /// Reads the secrets file: one secret per line (at least 32 characters each), the first
    /// signing; blank lines and `#` comments are skipped.
    public static func load(path: String, environment: [String: String]) -> Result<CallbackBinding, ConfigurationError> {
        func failure(_ message: String) -> Result<CallbackBinding, ConfigurationError> {
            .failure(ConfigurationError(problems: [.init(path: "callback.binding_secret", message: message)]))
        }
        guard let resolved = CredentialStore.resolve(path, environment: environment) else {
            return failure("\(path): CREDENTIALS_DIRECTORY is not set")
        }
        let text: String
        do {
            text = try FileText.read(resolved, limit: 64 * 1024)
        } catch {
            return failure("\(resolved): \(error)")
        }
        var secrets: [Secret] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = String(raw).trimmingCharacters(in: " \t\r")
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard line.utf8.count >= 32 else { return failure("\(resolved): each secret needs at least 32 characters (openssl rand -hex 32)") }
            secrets.append(Secret(line))
        }
        guard !secrets.isEmpty else { return failure("\(resolved): no secret in the file (openssl rand -hex 32 > \(resolved))") }
        return .success(CallbackBinding(secrets: secrets))
    }

    /// The token for an upload of `key` (or, with `prefix`, any object under it) to `bucket` by
    /// `user`, valid until `notAfter` (Unix seconds).
    public func token(bucket: String, key: String, prefix: Bool, user: String?, notAfter: Int64) -> String {
        let kind = prefix ? "p\(key.utf8.count)" : "e"
        let mac = Self.mac(secrets[0], bucket: bucket, kind: kind, key: key, user: user ?? "", notAfter: notAfter)
        return "1.\(notAfter).\(kind).\(Hex.encode(Array((user ?? "").utf8))).\(Hex.encode(mac))"
    }

    /// Checks `token` against the bucket and object OSS reports, at `now` (Unix seconds).
    public func verify(_ token: String, bucket: String, object: String, now: Int64) -> Result<Bound, Refusal> {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "1", let notAfter = Int64(parts[1]), notAfter > 0,
            let userBytes = Self.unhex(parts[3]), let user = String(validating: userBytes, as: UTF8.self),
            let mac = Self.unhex(parts[4]), mac.count == 32
        else { return .failure(.malformed) }
        let kind = String(parts[2])
        let key: String
        if kind == "e" {
            key = object
        } else if kind.hasPrefix("p"), let n = Int(kind.dropFirst()), n > 0, n <= object.utf8.count,
            let prefix = String(validating: object.utf8.prefix(n), as: UTF8.self)
        {
            key = prefix
        } else {
            return .failure(kind.hasPrefix("p") ? .mismatch : .malformed)
        }
        let matches = secrets.contains { secret in
            ConstantTime.equals(Self.mac(secret, bucket: bucket, kind: kind, key: key, user: user, notAfter: notAfter), mac)
        }
        guard matches else { return .failure(.mismatch) }
        guard now <= notAfter else { return .failure(.expired) }
        return .success(Bound(user: user))
    }

    static func mac(_ secret: Secret, bucket: String, kind: String, key: String, user: String, notAfter: Int64) -> [UInt8] {
        let message = "upsign-callback-1\n\(bucket)\n\(kind)\n\(key)\n\(user)\n\(notAfter)"
        return secret.withBytes { HMAC.sha256(key: $0, message: Array(message.utf8)) }
    }

    static func unhex(_ text: Substring) -> [UInt8]? {
        let b = Array(text.utf8)
        guard b.count % 2 == 0 else { return nil }
        func v(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(b.count / 2)
        var i = 0
        while i < b.count {
            guard let hi = v(b[i]), let lo = v(b[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
