import ASCIIText
import PostPolicy

/// Everything upsign knows about one object store: its form vocabulary, where its credentials
/// come from, its regions and endpoint, its names, which profile keys it can honour, and its
/// signer. Each store is one value in `Stores/`; `Provider.store` is the one switch over them,
/// and the configuration reader, the credential loader and the issuer ask the descriptor rather
/// than naming a store. `docs/architecture.md` says how to add one.
public struct Store: Sendable {
    /// The environment variables holding a key: id, secret and session token (nil for stores
    /// without session tokens).
    public struct Variables: Sendable, Equatable {
        /// The access key id's variable.
        public let accessKeyId: String
        /// The secret's variable.
        public let secret: String
        /// The session token's variable, if the store has session tokens.
        public let token: String?

        /// Names the three variables.
        public init(accessKeyId: String, secret: String, token: String?) {
            self.accessKeyId = accessKeyId
            self.secret = secret
            self.token = token
        }
    }

    /// What builds a store's signer: the credentials, the profile's signature version and
    /// region (the store's default when the profile names none), and the V4 key cache.
    public typealias MakeSigner =
        @Sendable (
            _ credentials: Credentials, _ signature: SignatureVersion, _ region: String,
            _ cache: (cache: SigningKeyCache, generation: UInt64)?
        ) -> any PostSigner

    /// The `provider` value naming the store in a configuration.
    public let name: String
    /// How its forms name the optional fields.
    public let vocabulary: FormVocabulary
    /// The variables `credentials = "env"` reads, in the order tried (the first pair present
    /// wins); the first are the ones messages name.
    public let environment: [Variables]
    /// The region used when a profile names none; nil when one must be named.
    public let defaultRegion: String?
    /// A region id for messages.
    public let exampleRegion: String
    /// A prefix some users write before the region id and that is dropped (`oss-cn-hangzhou`).
    public let regionPrefix: String?
    /// The form URL for a bucket in a region when a profile names no endpoint.
    public let endpoint: @Sendable (_ bucket: String, _ region: String) -> String
    /// The signature versions its forms can carry; the first is the default.
    public let signatures: [SignatureVersion]
    /// The canned ACLs its ACL field takes.
    public let objectACLs: [String]
    /// The server-side encryption values its encryption field takes.
    public let encryptions: [String]
    /// The encryption value that takes a KMS key id, if any.
    public let kmsEncryption: String?
    /// Bytes a bucket name may hold besides lowercase letters, digits and `-`.
    public let bucketNameExtras: [UInt8]
    /// Whether `forbid_overwrite` can be honoured (a form field, or the store's own policy).
    public let forbidsOverwrite: Bool
    /// Whether the store matches uploads' types itself against a list (Qiniu's `mimeLimit`),
    /// rather than pinning a Content-Type field.
    public let matchesTypesItself: Bool
    /// Whether its policies can carry an upload callback and its clients the Aliyun shapes
    /// (`java`, `aliyun-appserver`).
    public let isAliyun: Bool
    /// Builds the signer.
    public let makeSigner: MakeSigner

    /// A descriptor; see each property.
    public init(
        name: String, vocabulary: FormVocabulary, environment: [Variables], defaultRegion: String?, exampleRegion: String,
        regionPrefix: String? = nil, endpoint: @escaping @Sendable (_ bucket: String, _ region: String) -> String,
        signatures: [SignatureVersion], objectACLs: [String], encryptions: [String], kmsEncryption: String?,
        bucketNameExtras: [UInt8] = [], forbidsOverwrite: Bool, matchesTypesItself: Bool = false, isAliyun: Bool = false,
        makeSigner: @escaping MakeSigner
    ) {
        precondition(!environment.isEmpty && !signatures.isEmpty)
        self.name = name
        self.vocabulary = vocabulary
        self.environment = environment
        self.defaultRegion = defaultRegion
        self.exampleRegion = exampleRegion
        self.regionPrefix = regionPrefix
        self.endpoint = endpoint
        self.signatures = signatures
        self.objectACLs = objectACLs
        self.encryptions = encryptions
        self.kmsEncryption = kmsEncryption
        self.bucketNameExtras = bucketNameExtras
        self.forbidsOverwrite = forbidsOverwrite
        self.matchesTypesItself = matchesTypesItself
        self.isAliyun = isAliyun
        self.makeSigner = makeSigner
    }

    /// Bucket naming rules: 3-63 characters of lowercase letters, digits, `-` and the store's
    /// extras, starting and ending with a letter or digit.
    public func isBucketName(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard (3...63).contains(b.count) else { return false }
        let ok = b.allSatisfy { ASCII.isLowerAlnum($0) || $0 == UInt8(ascii: "-") || bucketNameExtras.contains($0) }
        return ok && b.first != UInt8(ascii: "-") && b.last != UInt8(ascii: "-")
    }

    /// The bucket rule in words, for messages.
    public var bucketNameRule: String {
        let allowed = (["-"] + bucketNameExtras.map { String(Character(Unicode.Scalar($0))) }).map { "'\($0)'" }
        let listed = allowed.count == 1 ? allowed[0] : allowed.dropLast().joined(separator: ", ") + " or " + allowed.last!
        return "3-63 lowercase letters, digits and \(listed), starting and ending with a letter or digit"
    }

    /// The credentials source `credentials = "env"` means: the store's variables.
    public var environmentSource: CredentialsSource {
        // OSS's own case also tries the Alibaba Cloud tool's variables (`Store.aliyunOSS`).
        isAliyun
            ? .environment : .environmentNamed(accessKeyId: environment[0].accessKeyId, secret: environment[0].secret, token: environment[0].token)
    }
}
