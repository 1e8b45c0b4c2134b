/// Facts about this build of upsign.
public enum BuildInfo {
    /// The release version (`upsign --version`, the start-up log line, `upsign_build_info`).
    public static let version = "0.9.0"
}
