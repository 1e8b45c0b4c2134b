import CGI
import Logging
import PostPolicy
import Testing

@testable import Upsign

struct TenantTests {
    static let toml = """
        [server]
        tenant_param = "UPSIGN_APP"
        [profiles.shop]
        bucket = "shopbucket"
        region = "cn-hangzhou"
        apps = ["shop"]
        access_key_id_env = "SHOP_AK"
        secret_env = "SHOP_SK"
        token_env = "SHOP_TOKEN"
        [profiles.blog]
        bucket = "blogbucket"
        region = "cn-hangzhou"
        apps = ["blog"]
        [profiles.open]
        bucket = "openbucket"
        region = "cn-hangzhou"
        """

    let app: Application = {
        let c = try! Configuration.parse(toml: toml)
        let env = [
            "SHOP_AK": "LTAIshop", "SHOP_SK": "shop-secret", "SHOP_TOKEN": "shop-token", "OSS_ACCESS_KEY_ID": "LTAIdefault",
            "OSS_ACCESS_KEY_SECRET": "default-secret",
        ]
        return Application(
            configuration: c, credentials: CredentialStore(profiles: c.profiles.values, environment: env),
            clock: { Timestamp(iso8601: "2026-01-02T03:04:05Z")! }, uuid: { "u" }, logger: Logger(label: "t"))
    }()

    func get(_ profile: String, tenant: String?) -> CGIResponse {
        var p = ["REQUEST_METHOD": "GET", "DOCUMENT_URI": "/upload/policy", "QUERY_STRING": "profile=\(profile)"]
        if let tenant { p["UPSIGN_APP"] = tenant }
        return app.respond(to: CGIRequest(params: p, body: .bytes([])))
    }

    @Test(arguments: [
        ("shop", "shop" as String?, 200), ("shop", "blog", 403), ("shop", nil, 403), ("blog", "blog", 200),
        ("open", "blog", 200), ("open", nil, 200), ("nonexistent", "shop", 403),
    ])
    func aProfileServesOnlyItsTenants(_ profile: String, _ tenant: String?, _ status: Int) {
        let r = get(profile, tenant: tenant)
        #expect(r.status == status)
        if status == 403 {
            // Another tenant's profile and a profile that does not exist look the same.
            #expect(r.bodyText == #"{"error":{"code":"profile_forbidden","message":"this profile is not available here"}}"#)
        }
    }

    @Test func eachProfileSignsWithTheVariablesItNames() {
        #expect(get("shop", tenant: "shop").bodyText.contains(#""x-oss-credential":"LTAIshop/"#))
        #expect(get("shop", tenant: "shop").bodyText.contains(#""x-oss-security-token":"shop-token""#))
        #expect(get("blog", tenant: "blog").bodyText.contains(#""x-oss-credential":"LTAIdefault/"#))
    }

    @Test func sharingCredentialsAcrossTenantsIsAWarning() throws {
        let c = try Configuration.parse(toml: Self.toml)
        #expect(
            c.tenantWarnings() == [
                "profiles.blog, profiles.open: share credentials across tenants (env); give each tenant its own key (access_key_id_env/secret_env or a credentials file)"
            ])
    }

    @Test func appsNeedATenantParam() {
        #expect(throws: ConfigurationError.self) {
            try Configuration.parse(toml: "[profiles.a]\nbucket = \"abc\"\nregion = \"cn-hangzhou\"\napps = [\"x\"]\n")
        }
    }
}
