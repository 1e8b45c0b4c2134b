/// A signed browser-POST form: where to post and exactly which fields to send before the file.
public struct SignedPostForm: Sendable, Equatable {
    /// One form field.
    public struct Field: Sendable, Equatable {
        /// The field name, as the store spells it.
        public let name: String
        /// The field value.
        public let value: String
        /// Creates a field.
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// Where the form is posted.
    public let url: String
    /// The object key.
    public let key: String
    /// When the policy expires.
    public let expiration: Timestamp
    /// The base64 policy document.
    public let policy: String
    /// The signature over the policy.
    public let signature: String
    /// The access key id that signed.
    public let accessKeyId: String
    /// The STS token, when the credentials are temporary.
    public let securityToken: String?
    /// Every field the client must send, in order (the file goes after them).
    public let fields: [Field]

    /// Creates a signed form.
    public init(
        url: String, key: String, expiration: Timestamp, policy: String, signature: String,
        accessKeyId: String, securityToken: String?, fields: [Field]
    ) {
        self.url = url
        self.key = key
        self.expiration = expiration
        self.policy = policy
        self.signature = signature
        self.accessKeyId = accessKeyId
        self.securityToken = securityToken
        self.fields = fields
    }

    /// The value of the field `name`, if sent.
    public func field(_ name: String) -> String? { fields.first(where: { $0.name == name })?.value }

    /// The form a signer makes for `upload`: `key` and `policy`, then the scheme's own
    /// authentication fields, then the fields every policy-document store shares, ending with the
    /// session token under the store's name for it (`tokenField`).
    /// `authentication` appends the scheme's fields (written in place: no array of its own).
    init(
        upload: PostUpload, policy: String, signature: String, credentials: Credentials,
        authentication: (inout [Field]) -> Void, tokenField: String?
    ) {
        var fields: [Field] = []
        fields.reserveCapacity(12 + upload.pinnedFields.count + upload.callbackVariables.count)
        fields.append(.init("key", upload.key))
        fields.append(.init("policy", policy))
        authentication(&fields)
        upload.appendTrailingFields(to: &fields, token: credentials.token(named: tokenField))
        self.init(
            url: upload.url, key: upload.key, expiration: upload.expiration, policy: policy,
            signature: signature, accessKeyId: credentials.accessKeyId, securityToken: credentials.securityToken,
            fields: fields)
    }
}
