import CGI
import Crypto
import Foundation
import Logging
import PostPolicy
import Testing

@testable import Upsign

/// What a policy lets a client store: no active content through a family, extensions that
/// cannot be dodged, a Content-Type always pinned, identities and shapes a client cannot pick.
struct PolicyHardeningTests {
    static let toml = """
        [profiles.images]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        content_types = ["image/"]

        [profiles.svg]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        content_types = ["image/", "image/svg+xml"]

        [profiles.any]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        content_disposition = "attachment"

        [profiles.typed]
        bucket = "examplebucket"
        region = "cn-hangzhou"
        key = "t/{uuid}{ext}"
        extensions = ["jpg", "png"]
        content_disposition = "inline"

        [profiles.plain]
        bucket = "examplebucket"
        region = "cn-hangzhou"

        [profiles.s3]
        provider = "s3"
        bucket = "s3bucket"

        [profiles.qiniu]
        provider = "qiniu"
        bucket = "qbucket"
        content_types = ["image/", "video/", "application/pdf"]

        [profiles.qiniuany]
        provider = "qiniu"
        bucket = "qbucket"
        """

    static func app(_ configuration: Configuration) -> Application {
        let keys = Credentials(accessKeyId: "ak", secret: Secret("sk"))
        var fixed: [CredentialsSource: Credentials] = [:]
        for p in configuration.profiles.values { fixed[p.credentials] = keys }
        return Application(
            configuration: configuration, credentials: CredentialStore(fixed: fixed),
            clock: { Timestamp(iso8601: "2026-01-02T03:04:05Z")! }, uuid: { "u1" }, logger: Logger(label: "t"))
    }

    let app = Self.app(try! Configuration.parse(toml: toml))

    func get(_ query: String, params extra: [String: String] = [:], on app: Application? = nil) -> CGIResponse {
        var p = ["REQUEST_METHOD": "GET", "DOCUMENT_URI": "/upload/policy", "QUERY_STRING": query, "UPSIGN_USER": "alice"]
        p.merge(extra) { $1 }
        return (app ?? self.app).respond(to: CGIRequest(params: p, body: .bytes([])))
    }

    func object(_ r: CGIResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any] ?? [:]
    }

    /// The error code, or nil for a 200.
    func code(_ r: CGIResponse) -> String? {
        guard r.status != 200 else { return nil }
        return (object(r)["error"] as? [String: Any])?["code"] as? String ?? "?"
    }

    /// The signed form's fields, as the native and uppy answers list them.
    func fields(_ r: CGIResponse) throws -> [String: String] {
        try #require(object(r)["fields"] as? [String: String], "\(r.bodyText)")
    }

    /// The Qiniu put policy inside the answer's token.
    func putPolicy(_ r: CGIResponse) throws -> String {
        let token = try #require(try fields(r)["token"])
        let encoded = try #require(token.split(separator: ":").last)
        let standard = encoded.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        return String(decoding: try #require(Base64.decode(standard)), as: UTF8.self)
    }

    // MARK: active content

    @Test(arguments: ["image/svg%2Bxml", "image/foo%2Bxml"])
    func aFamilyNeverAdmitsATypeABrowserRuns(_ type: String) {
        #expect(code(get("profile=images&filename=a.svg&contentType=\(type)")) == "content_type_not_allowed")
        #expect(code(get("profile=images&filename=a.png&contentType=image/png")) == nil)
    }

    @Test func anExactlyListedActiveTypeIsAllowed() throws {
        let r = get("profile=svg&filename=a.svg&contentType=image/svg%2Bxml")
        #expect(r.status == 200)
        #expect(try fields(r)["Content-Type"] == "image/svg+xml")
        #expect(code(get("profile=svg&filename=a.xml&contentType=image/other%2Bxml")) == "content_type_not_allowed")
    }

    @Test(arguments: ["text/html", "application/xhtml%2Bxml", "text/javascript", "application/javascript", "text/xml", "application/rss%2Bxml"])
    func aProfileWithoutTypesAdmitsNoActiveType(_ type: String) {
        #expect(code(get("profile=any&filename=a.bin&contentType=\(type)")) == "content_type_not_allowed")
    }

    @Test func theActiveListMatchesTheFamilyRule() {
        for type in ContentType.active { #expect(ContentType.isActive(type), "\(type)") }
        for type in Set(ContentType.byExtension.values) { #expect(!ContentType.isActive(type), "\(type) is in the passive table") }
    }

    // MARK: Qiniu's mimeLimit

    @Test func qiniuFamiliesBecomePassiveTypesAndTheDetectedTypeIsStored() throws {
        let r = get("profile=qiniu&filename=a.png")
        #expect(r.status == 200)
        let policy = try putPolicy(r)
        let limit = try #require(policy.split(separator: "\"").drop(while: { $0 != "mimeLimit" }).dropFirst(2).first)
        let types = limit.split(separator: ";").map(String.init)
        #expect(types.contains("image/png") && types.contains("image/jpeg") && types.contains("video/*") && types.contains("application/pdf"))
        #expect(!types.contains("image/*") && !types.contains { ContentType.isActive($0) })
        #expect(policy.contains(#""detectMime":1"#))
    }

    @Test func qiniuWithoutTypesRefusesTheActiveOnes() throws {
        let policy = try putPolicy(get("profile=qiniuany&filename=a.png"))
        #expect(policy.contains(#""mimeLimit":"!"# + ContentType.active.joined(separator: ";") + #"""#))
        #expect(policy.contains(#""detectMime":1"#))
        #expect(code(get("profile=qiniuany&filename=a.svg&contentType=image/svg%2Bxml")) == "content_type_not_allowed")
        #expect(try putPolicy(get("profile=qiniuany&filename=a.png&contentType=image/png")).contains(#""mimeLimit":"image/png""#))
    }

    @Test func aQiniuFamilyWithOnlyActiveTypesIsRefusedAndNeverLeavesNoLimit() throws {
        let toml = "[profiles.q]\nprovider = \"qiniu\"\nbucket = \"qbucket\"\ncontent_types = [\"audio/\", \"message/\"]\n"
        #expect(throws: ConfigurationError.self) { try Configuration.parse(toml: toml) }
        do {
            _ = try Configuration.parse(toml: toml)
        } catch {
            #expect(error.problems.map(\.path) == ["profiles.q.content_types[1]"])
        }
        // Built in code, past the parser: the store still gets the refused types.
        var c = try Configuration.parse(toml: Self.toml)
        c.profiles["qiniu"]?.contentTypes = ["message/"]
        let policy = try putPolicy(get("profile=qiniu&filename=a.png", on: Self.app(c)))
        #expect(policy.contains(#""mimeLimit":"!text/html;"#), "\(policy)")
    }

    // MARK: extensions

    @Test(arguments: [
        ("", "missing_parameter"), ("filename=evil", "extension_required"), ("filename=evil.exe.", "extension_required"),
        ("filename=.png", "extension_required"), ("filename=a.png%2F", "extension_required"), ("filename=a.exe", "extension_not_allowed"),
        ("filename=a.png.exe", "extension_not_allowed"),
    ])
    func listedExtensionsCannotBeDodged(_ query: String, _ expected: String) {
        #expect(code(get("profile=typed&" + query)) == expected)
    }

    @Test func theDispositionNamesTheVettedExtension() throws {
        let typed = try fields(get("profile=typed&filename=Holiday.exe.PNG"))
        #expect(typed["key"] == "t/u1.png")
        #expect(typed["Content-Disposition"] == #"inline; filename="Holiday.exe.png"; filename*=UTF-8''Holiday.exe.png"#)
        let open = try fields(get("profile=any&filename=evil.exe."))
        #expect(open["key"] == "uploads/u1")
        #expect(open["Content-Disposition"] == #"attachment; filename="evil_exe"; filename*=UTF-8''evil_exe"#)
        #expect(open["Content-Type"] == "application/octet-stream")
    }

    // MARK: a Content-Type always pinned

    @Test(arguments: [
        ("filename=a.JPG", "image/jpeg"), ("filename=a.heic", "image/heic"), ("filename=a.svg", "application/octet-stream"),
        ("filename=a.html", "application/octet-stream"), ("", "application/octet-stream"),
        ("filename=a.png&contentType=application/pdf", "application/pdf"),
    ])
    func nativeAndUppyAnswersAlwaysPinAContentType(_ query: String, _ expected: String) throws {
        for store in ["any", "s3"] {
            for format in ["native", "uppy"] {
                let r = get("profile=\(store)&format=\(format)&" + query)
                #expect(r.status == 200, "\(store) \(format) \(query): \(r.bodyText)")
                #expect(try fields(r)["Content-Type"] == expected, "\(store) \(format) \(query)")
                let policy = try #require(try fields(r)["policy"].flatMap { Base64.decode($0) })
                #expect(String(decoding: policy, as: UTF8.self).contains(#"["eq","$Content-Type","\#(expected)"]"#))
            }
        }
    }

    @Test func theExtensionsTypeMustStillBeAllowed() throws {
        #expect(try fields(get("profile=images&filename=a.webp"))["Content-Type"] == "image/webp")
        #expect(code(get("profile=images&filename=a.pdf")) == "missing_parameter")
        #expect(code(get("profile=images&filename=a.svg")) == "missing_parameter")
    }

    // MARK: identities no client can set

    @Test(arguments: ["identity_param", "tenant_param"])
    func paramsFromRequestHeadersAreRefused(_ key: String) {
        for name in ["HTTP_X_USER", "http_x_user", "HTTP_AUTHORIZATION"] {
            do {
                _ = try Configuration.parse(toml: "[server]\n\(key) = \"\(name)\"\n" + Self.toml)
                Issue.record("\(key) = \(name) parsed")
            } catch {
                #expect(error.problems.map(\.path) == ["server.\(key)"], "\(error)")
                #expect(error.problems.first?.message.contains("request header") == true)
            }
        }
        #expect((try? Configuration.parse(toml: "[server]\n\(key) = \"HTTPS_USER\"\n" + Self.toml)) != nil)
    }

    @Test func aConfigurationBuiltInCodeStillReadsNoHeaderIdentity() throws {
        var c = try Configuration.parse(toml: Self.toml)
        c.server.identityParam = "HTTP_X_USER"
        c.profiles["any"]?.requireUser = true
        let r = get("profile=any&filename=a.png", params: ["HTTP_X_USER": "bob"], on: Self.app(c))
        #expect(r.status == 401 && code(r) == "identity_required")
    }

    // MARK: shapes that cannot pin what the profile needs

    func problems(_ toml: String) -> [String] {
        do {
            _ = try Configuration.parse(toml: toml)
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test func anAppserverKeyNeedsAFreshFolderPerUpload() {
        let base = "[profiles.a]\nbucket = \"abc\"\nregion = \"cn-hangzhou\"\n"
        let own = problems(base + "format = \"aliyun-appserver\"\nkey = \"shared/{yyyy}{mm}{dd}/\"\n")
        #expect(own.count == 1 && own[0].hasPrefix("profiles.a.format: ") && own[0].contains("{uuid}"))
        let listed = problems(base + "key = \"shared/{user}/\"\nformats = [\"aliyun-appserver\"]\n")
        #expect(listed.count == 1 && listed[0].hasPrefix("profiles.a.formats: ") && listed[0].contains("{uuid}"))
        #expect(problems(base + "format = \"aliyun-appserver\"\nkey = \"shared/{uuid}/\"\n").isEmpty)
    }

    @Test func aShapeThatCannotPinCallbackVariablesIsRefused() {
        let toml = """
            [profiles.a]
            bucket = "abc"
            region = "cn-hangzhou"
            key = "u/{user}/{uuid}{ext}"
            formats = ["native", "aliyun-appserver"]
            [profiles.a.callback]
            url = "https://app.example.com/cb"
            body = '{"object":${object},"user":${x:user}}'
            [callback]
            binding_secret = "/etc/upsign/callback-binding.key"
            """
        let found = problems(toml)
        #expect(found.count == 1 && found[0].hasPrefix("profiles.a.formats: ") && found[0].contains("x:"), "\(found)")
        #expect(problems(toml.replacingOccurrences(of: ",\"user\":${x:user}", with: "")).isEmpty)
    }

    @Test func theRequestPathRefusesWhatTheParserWould() throws {
        var c = try Configuration.parse(toml: Self.toml)
        var p = try #require(c.profiles["plain"])
        p.formats = [.native, .aliyunAppserver]
        p.callback = CallbackSpec(
            urls: ["https://app.example.com/cb"], host: nil, body: #"{"user":${x:user}}"#, bodyType: "application/json", sni: nil)
        c.profiles["plain"] = p
        let r = get("profile=plain&format=aliyun-appserver", on: Self.app(c))
        #expect(code(r) == "invalid_request" && r.bodyText.contains("x:"), "\(r.bodyText)")
        p.callback = nil
        p.key = try KeyTemplate("shared/{yyyy}/")
        c.profiles["plain"] = p
        let shared = get("profile=plain&format=aliyun-appserver", on: Self.app(c))
        #expect(code(shared) == "invalid_request" && shared.bodyText.contains("{uuid}"), "\(shared.bodyText)")
    }

    @Test func javaContentTypesAreAWarningNotAnError() throws {
        let c = try Configuration.parse(
            toml: """
                [profiles.j]
                bucket = "abc"
                region = "cn-hangzhou"
                format = "java"
                content_types = ["image/png"]
                [profiles.n]
                bucket = "abc"
                region = "cn-hangzhou"
                content_types = ["image/png"]
                """)
        let warnings = c.profileWarnings()
        #expect(warnings.count == 1 && warnings[0].hasPrefix("profiles.j.content_types: "))
    }
}
