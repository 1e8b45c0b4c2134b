/// Where a profile's credentials are read from.
public enum CredentialsSource: Sendable, Hashable, CustomStringConvertible {
    /// `OSS_ACCESS_KEY_ID`/`OSS_ACCESS_KEY_SECRET`/`OSS_SESSION_TOKEN`, else the `ALIBABA_CLOUD_*` ones.
    case environment
    /// Variables the profile names (`access_key_id_env`, `secret_env`, `token_env`): several key
    /// pairs of one store in one environment.
    case environmentNamed(accessKeyId: String, secret: String, token: String?)
    /// A JSON file (`AccessKeyId`, `AccessKeySecret`, `SecurityToken`), mode 0600 or stricter.
    case file(path: String)

    /// `env` or the file's path.
    public var description: String {
        switch self {
        case .environment: "env"
        case .environmentNamed(let id, _, _): "env:\(id)"
        case .file(let path): path
        }
    }
}
