extension Configuration {
    /// Problems that only show when the files a configuration names are read: credentials files
    /// that are missing, unreadable, too open or malformed. (Environment credentials are not
    /// checked: the shell running the check is not the service's environment.)
    public func credentialFileProblems() -> [ConfigurationError.Problem] {
        profiles.keys.sorted().compactMap { name in
            guard let profile = profiles[name], case .file = profile.credentials,
                case .failure(let error) = CredentialStore.load(profile.credentials, environment: [:])
            else { return nil }
            return .init(path: "profiles.\(name).credentials", message: error.description)
        }
    }
}
