import UpsignService

/// The configuration and environment the service tests start from.
enum ServiceFixture {
    /// Two profiles (neither the default, so a request must name one), a 64-byte body limit and
    /// a `[callback] forward` target.
    static let toml = """
        [server]
        max_body = 64

        [callback]
        forward = "http://127.0.0.1:8000/uploads"

        [profiles.avatar]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        key = "avatars/{user}/{uuid}{ext}"
        extensions = ["jpg"]
        format = "java"

        [profiles.doc]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        key = "docs/{user}/{uuid}{ext}"
        format = "native"

        """

    /// The credentials every profile reads from the environment.
    static let environment = ["OSS_ACCESS_KEY_ID": "LTAIservice", "OSS_ACCESS_KEY_SECRET": "service-test-secret"]

    /// A probe that survives any text: `sh` reading it and exiting 0 (the test runner is no
    /// `upsign`, so `/proc/self/exe _parse-probe` is not available here).
    static let survivingProbe = ConfigurationProbe(executable: "/bin/sh", arguments: ["sh", "-c", "cat > /dev/null"])

    /// A probe whose child is killed by a signal after reading the text, as an aborting TOML
    /// parser's would be (SIGKILL: no core file).
    static let crashingProbe = ConfigurationProbe(executable: "/bin/sh", arguments: ["sh", "-c", "cat > /dev/null; kill -KILL $$"])
}
