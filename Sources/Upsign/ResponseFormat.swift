/// The shape of a policy answer.
public enum ResponseFormat: String, Sendable, CaseIterable {
    /// The Java backend's bean: `{url, policy, signature, ossAccessKeyId, key}`.
    case java
    /// `{provider, method, url, key, expiresAt, fields}`, `fields` being the exact form data.
    case native
}
