import JSONText

/// What one client may upload: the facts a store signer turns into a policy and form fields.
public struct PostUpload: Sendable, Equatable {
    /// The bucket the form posts to (pinned with an exact-match condition).
    public var bucket: String
    /// The form's URL (the bucket endpoint).
    public var url: String
    /// How the key is pinned.
    public enum KeyMatch: Sendable, Equatable {
        /// `["eq","$key",key]`: the client uploads exactly this object.
        case exact
        /// `["starts-with","$key",key]`: the client appends a name to this (per-upload) prefix.
        case prefix
    }

    /// The object key, or the prefix the client's key must start with.
    public var key: String
    /// How `key` is pinned.
    public var keyMatch: KeyMatch = .exact
    /// The accepted upload size in bytes, inclusive.
    public var contentLength: ClosedRange<Int64>
    /// The exact `Content-Type` the form must carry (pinned and sent as a field), if any.
    public var contentType: String?
    /// The media types (`image/png`) or wildcards (`video/*`) the store should accept when no
    /// exact `contentType` is pinned. Only Qiniu's `mimeLimit` can say "one of these"; the
    /// policy-document stores pin one exact type instead.
    public var contentTypes: [String] = []
    /// The media types the store must refuse when neither `contentType` nor `contentTypes` says
    /// what it accepts (Qiniu's `!` `mimeLimit`): types a browser would run.
    public var refusedContentTypes: [String] = []
    /// The `success_action_status` the form must carry (pinned and sent as a field), if any.
    public var successActionStatus: Int?
    /// Further fields sent and pinned exactly (`Cache-Control`, `x-oss-forbid-overwrite`,
    /// `x-oss-meta-*`, ...), in order, after the content type.
    public var pinnedFields: [SignedPostForm.Field] = []
    /// The base64 upload-callback field, pinned exactly (`{"callback": ...}`), if any.
    public var callback: String?
    /// The callback's custom variables (`x:name` fields), pinned with `eq`, after the callback.
    public var callbackVariables: [SignedPostForm.Field] = []
    /// Refuse to overwrite an existing object, for stores that say so outside the form fields
    /// (Qiniu's `insertOnly`); the others carry it as a pinned field.
    public var forbidOverwrite = false
    /// The instant the policy is issued at: the single clock reading every date derives from.
    public var issuedAt: Timestamp
    /// When the policy expires.
    public var expiration: Timestamp

    /// Creates an upload description.
    public init(
        bucket: String, url: String, key: String, contentLength: ClosedRange<Int64>,
        contentType: String?, successActionStatus: Int?, issuedAt: Timestamp, expiration: Timestamp
    ) {
        self.bucket = bucket
        self.url = url
        self.key = key
        self.contentLength = contentLength
        self.contentType = contentType
        self.successActionStatus = successActionStatus
        self.issuedAt = issuedAt
        self.expiration = expiration
    }
}

extension PostUpload {
    /// The condition on the key.
    var keyCondition: PolicyCondition {
        switch keyMatch {
        case .exact: .equals(field: "key", value: key)
        case .prefix: .startsWith(field: "key", prefix: key)
        }
    }

    /// Writes the conditions every policy-document store shares straight into `w`, in this order:
    /// the bucket, the scheme's own authentication conditions (written by `leading`, which may
    /// write pre-rendered JSON), the key, the size range, then the status, the content type, the
    /// further pinned fields, the callback and its variables, and the session token (in the form
    /// *and* the policy, or stores refuse the temporary key).
    func writeConditions(to w: inout JSONWriter, leading: (inout JSONWriter) -> Void, token: SignedPostForm.Field?) {
        bucketCondition.write(to: &w)
        leading(&w)
        forEachTrailingCondition(token: token) { $0.write(to: &w) }
    }

    private var bucketCondition: PolicyCondition { .exact(field: "bucket", value: bucket) }

    /// The conditions after the leading ones, in order.
    private func forEachTrailingCondition(token: SignedPostForm.Field?, _ body: (PolicyCondition) -> Void) {
        body(keyCondition)
        body(.contentLengthRange(min: contentLength.lowerBound, max: contentLength.upperBound))
        if let successActionStatus { body(.exact(field: "success_action_status", value: String(successActionStatus))) }
        if let contentType { body(.equals(field: "Content-Type", value: contentType)) }
        for f in pinnedFields { body(.equals(field: f.name, value: f.value)) }
        if let callback { body(.exact(field: "callback", value: callback)) }
        for f in callbackVariables { body(.equals(field: f.name, value: f.value)) }
        if let token { body(.exact(field: token.name, value: token.value)) }
    }

    /// Appends the form fields matching the conditions `writeConditions` writes after the leading
    /// ones, in the same order.
    func appendTrailingFields(to fields: inout [SignedPostForm.Field], token: SignedPostForm.Field?) {
        if let successActionStatus { fields.append(.init("success_action_status", String(successActionStatus))) }
        if let contentType { fields.append(.init("Content-Type", contentType)) }
        fields += pinnedFields
        if let callback { fields.append(.init("callback", callback)) }
        fields += callbackVariables
        if let token { fields.append(token) }
    }
}
