import PostPolicy

/// The whole configuration: server settings and the upload profiles.
public struct Configuration: Sendable {
    /// The `[server]` table.
    public var server: ServerSettings
    /// The profiles by name.
    public var profiles: [String: Profile]
    /// The `[callback]` table: how `{base_path}/callback` verifies OSS's callbacks.
    public var callback = CallbackSettings()

    /// The profile used when a request names none: `default_profile`, or the only profile.
    public var defaultProfile: Profile? {
        if let name = server.defaultProfile { return profiles[name] }
        return profiles.count == 1 ? profiles.values.first : nil
    }
}
