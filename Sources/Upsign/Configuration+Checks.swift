import Crypto
import Glibc

extension Configuration {
    /// Problems that only show when the files a configuration names are read: credentials files
    /// that are missing, unreadable, too open or malformed. (Environment credentials are not
    /// checked: the shell running the check is not the service's environment.) A file in
    /// `$CREDENTIALS_DIRECTORY` is checked only when `environment` has that variable.
    public func credentialFileProblems(environment: [String: String] = [:]) -> [ConfigurationError.Problem] {
        profiles.keys.sorted().compactMap { name in
            guard let profile = profiles[name], case .file(let path) = profile.credentials,
                !Self.isUnresolvedSystemdCredential(path, environment),
                case .failure(let error) = CredentialStore.load(profile.credentials, environment: environment)
            else { return nil }
            return .init(path: "profiles.\(name).credentials", message: error.description)
        }
    }

    /// Notes on what `credentialFileProblems` could not check: systemd credentials outside the
    /// service (`$CREDENTIALS_DIRECTORY` exists only in its environment).
    public func credentialNotes(environment: [String: String]) -> [String] {
        profiles.keys.sorted().compactMap { name in
            guard case .file(let path)? = profiles[name]?.credentials, Self.isUnresolvedSystemdCredential(path, environment) else { return nil }
            return "profiles.\(name).credentials: \(path) is not checked here; systemd sets CREDENTIALS_DIRECTORY when it starts the service"
        }
    }

    private static func isUnresolvedSystemdCredential(_ path: String, _ environment: [String: String]) -> Bool {
        path.hasPrefix(CredentialStore.credentialsDirectoryPrefix) && environment["CREDENTIALS_DIRECTORY"] == nil
    }

    /// The pinned callback public key, read and parsed; nil when none is configured.
    public func pinnedCallbackKey() -> Result<PublicKey?, ConfigurationError> {
        guard let path = callback.publicKeyFile else { return .success(nil) }
        do {
            let text = try FileText.read(path, limit: 64 * 1024)
            return .success(try PublicKey(pem: text))
        } catch let e as FileText.Failure {
            return .failure(ConfigurationError(problems: [.init(path: "callback.public_key_file", message: "\(path): \(e)")]))
        } catch {
            return .failure(ConfigurationError(problems: [.init(path: "callback.public_key_file", message: "\(path) is not a PEM public key")]))
        }
    }

    /// The callback binding read from `callback.binding_secret`; nil when none is configured.
    public func callbackBinding(environment: [String: String]) -> Result<CallbackBinding?, ConfigurationError> {
        guard let path = callback.bindingSecret else { return .success(nil) }
        return CallbackBinding.load(path: path, environment: environment).map { $0 }
    }

    /// Problems with the files the `[callback]` table names, checked as the user running the
    /// check: the records file (or its directory, when it does not exist yet) must be writable.
    public func callbackFileProblems(environment: [String: String] = [:]) -> [ConfigurationError.Problem] {
        var problems: [ConfigurationError.Problem] = []
        if case .failure(let e) = pinnedCallbackKey() { problems += e.problems }
        if let secret = callback.bindingSecret, !Self.isUnresolvedSystemdCredential(secret, environment),
            case .failure(let e) = callbackBinding(environment: environment)
        {
            problems += e.problems
        }
        if let caFile = callback.caFile, callback.publicKeyFile == nil {
            let text = try? FileText.read(caFile, limit: 4 << 20)
            if text == nil || text?.contains("-----BEGIN CERTIFICATE-----") != true {
                problems.append(.init(path: "callback.ca_file", message: "\(caFile) is not a readable PEM file of certificates"))
            }
        }
        if let records = callback.records {
            let directory = Self.directory(of: records)
            if access(records, F_OK) == 0 {
                if access(records, W_OK) != 0 {
                    problems.append(.init(path: "callback.records", message: "\(records) is not writable"))
                }
            } else if access(directory, W_OK) != 0 {
                problems.append(.init(path: "callback.records", message: "\(directory) is not a writable directory"))
            }
        }
        return problems
    }

    /// What `callbackFileProblems` could not check, said plainly: run as root, the check passes
    /// paths the service's own user (systemd's `DynamicUser=`) may not write.
    public func callbackFileNotes(effectiveUserID: UInt32 = geteuid(), environment: [String: String] = [:]) -> [String] {
        var notes: [String] = []
        if let records = callback.records, effectiveUserID == 0 {
            notes.append(
                "callback.records: checked as root, who can write anywhere; the service's user must be able to write \(records) (the shipped unit's StateDirectory=upsign makes /var/lib/upsign writable for it)"
            )
        }
        if let secret = callback.bindingSecret, Self.isUnresolvedSystemdCredential(secret, environment) {
            notes.append("callback.binding_secret: \(secret) is not checked here; systemd sets CREDENTIALS_DIRECTORY when it starts the service")
        }
        if let forward = callback.forward {
            if let socket = forward.unixSocket, access(socket, F_OK) != 0 {
                notes.append(
                    "callback.forward: \(socket) does not exist yet; verified callbacks get 502 forward_failed until the application listens there")
            }
            if forward.isPlainHTTPToAnotherHost {
                notes.append(
                    "callback.forward: \(forward.url) is plain HTTP to another host: uploads travel in the clear, and whoever can post to that URL can add records; prefer a unix socket, loopback or https"
                )
            }
        }
        if !callback.requireBinding {
            notes.append(
                "callback.require_binding = false: /callback accepts OSS-signed callbacks that no upload issued here asked for (anyone with an Aliyun account can send one); keep it only for an endpoint that also serves other systems' callbacks"
            )
        }
        return notes
    }

    private static func directory(of path: String) -> String {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return directory.isEmpty ? "/" : directory
    }

    /// Warnings (not errors) about what a profile asks for and the store cannot enforce: a
    /// profile that answers the Java bean (`format = "java"`, or `java` in `formats`) and sets
    /// `content_types` has them checked on the request's `contentType` only, since the bean has
    /// no Content-Type field to pin.
    public func profileWarnings() -> [String] {
        profiles.keys.sorted().compactMap { name in
            guard let p = profiles[name], !p.contentTypes.isEmpty, p.format == .java || p.formats.contains(.java) else { return nil }
            return
                "profiles.\(name).content_types: checked on the request's contentType only: the Java bean has no Content-Type field, so the store does not enforce it (the client may post any type); use format \"native\" to have it pinned"
        }
    }

    /// Warnings (not errors): profiles of different tenants signing with the same credentials, so
    /// one application's key could be used to upload into another's bucket.
    public func tenantWarnings() -> [String] {
        var warnings: [String] = []
        let names = profiles.keys.sorted()
        for (i, a) in names.enumerated() {
            for b in names[(i + 1)...] {
                guard let p = profiles[a], let q = profiles[b], p.credentials == q.credentials,
                    !p.apps.isEmpty || !q.apps.isEmpty, Set(p.apps) != Set(q.apps)
                else { continue }
                warnings.append(
                    "profiles.\(a), profiles.\(b): share credentials across tenants (\(p.credentials)); give each tenant its own key (access_key_id_env/secret_env or a credentials file)"
                )
            }
        }
        return warnings
    }
}
