import PostPolicy

/// Each store's policy, built as values: what its signer must write, byte for byte.
extension StructuredPolicyDocument {
    /// The conditions every policy-document store shares, in this order: the bucket, the scheme's
    /// own authentication conditions (`leading`), the key, the size range, then the status, the
    /// content type, the further pinned fields, the callback and its variables, and the session
    /// token under the store's name for it (`tokenField`), when the credentials have one.
    static func conditions(
        _ upload: PostUpload, leading: [PolicyCondition], credentials: Credentials, tokenField: String?
    ) -> [PolicyCondition] {
        var conditions: [PolicyCondition] = [.exact(field: "bucket", value: upload.bucket)]
        conditions += leading
        switch upload.keyMatch {
        case .exact: conditions.append(.equals(field: "key", value: upload.key))
        case .prefix: conditions.append(.startsWith(field: "key", prefix: upload.key))
        }
        conditions.append(.contentLengthRange(min: upload.contentLength.lowerBound, max: upload.contentLength.upperBound))
        if let status = upload.successActionStatus { conditions.append(.exact(field: "success_action_status", value: String(status))) }
        if let type = upload.contentType { conditions.append(.equals(field: "Content-Type", value: type)) }
        conditions += upload.pinnedFields.map { .equals(field: $0.name, value: $0.value) }
        if let callback = upload.callback { conditions.append(.exact(field: "callback", value: callback)) }
        conditions += upload.callbackVariables.map { .equals(field: $0.name, value: $0.value) }
        if let tokenField, let token = credentials.securityToken { conditions.append(.exact(field: tokenField, value: token)) }
        return conditions
    }

    /// OSS V1 ("Post Policy"): no conditions of the scheme's own.
    static func ossV1(_ upload: PostUpload, credentials: Credentials) -> Self {
        Self(
            expiration: upload.expiration,
            conditions: conditions(upload, leading: [], credentials: credentials, tokenField: FormVocabulary.aliyunOSS.securityToken))
    }

    /// Huawei OBS: no conditions of the scheme's own.
    static func obs(_ upload: PostUpload, credentials: Credentials) -> Self {
        Self(
            expiration: upload.expiration,
            conditions: conditions(upload, leading: [], credentials: credentials, tokenField: FormVocabulary.huaweiOBS.securityToken))
    }

    /// Tencent COS: the algorithm, the SecretId and the key time first.
    static func cos(_ upload: PostUpload, credentials: Credentials) -> Self {
        let leading: [PolicyCondition] = [
            .exact(field: "q-sign-algorithm", value: "sha1"),
            .exact(field: "q-ak", value: credentials.accessKeyId),
            .exact(field: "q-sign-time", value: COSPostSigner.keyTime(upload)),
        ]
        return Self(
            expiration: upload.expiration,
            conditions: conditions(upload, leading: leading, credentials: credentials, tokenField: FormVocabulary.tencentCOS.securityToken))
    }

    /// The V4-style schemes (OSS V4, S3 SigV4, GCS V4): the algorithm, the credential scope and
    /// the date first.
    static func derivedKey(
        _ scheme: DerivedKeyScheme, _ upload: PostUpload, credential: String, date: String, credentials: Credentials, tokenField: String?
    ) -> Self {
        let leading: [PolicyCondition] = [
            .exact(field: scheme.algorithmField, value: scheme.algorithm),
            .exact(field: scheme.credentialField, value: credential),
            .exact(field: scheme.dateField, value: date),
        ]
        return Self(
            expiration: upload.expiration,
            conditions: conditions(upload, leading: leading, credentials: credentials, tokenField: tokenField),
            expirationStyle: scheme.expirationStyle)
    }
}
