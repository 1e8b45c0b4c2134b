import CGI
import Testing

@testable import Upsign

struct ParametersTests {
    func request(query: String = "", method: String = "GET", type: String? = nil, body: String = "") -> CGIRequest {
        var params = ["REQUEST_METHOD": method, "QUERY_STRING": query]
        if let type { params["CONTENT_TYPE"] = type }
        return CGIRequest(params: params, body: .bytes(Array(body.utf8)))
    }

    @Test func readsTheQueryString() throws {
        let p = try PolicyParameters.parse(
            request(query: "profile=avatar&filename=My+Photo%20%E4%B8%AD.JPG&contentType=Image/PNG&size=42&format=native&other=1"))
        #expect(p == PolicyParameters(profile: "avatar", filename: "My Photo 中.JPG", contentType: "image/png", size: 42, format: .native))
    }

    @Test func readsAFormBody() throws {
        let p = try PolicyParameters.parse(
            request(method: "POST", type: "application/x-www-form-urlencoded; charset=UTF-8", body: "profile=a&size=7"))
        #expect(p == PolicyParameters(profile: "a", size: 7))
    }

    @Test func readsAJSONBodyAlongsideTheQuery() throws {
        let p = try PolicyParameters.parse(
            request(query: "profile=a", method: "POST", type: "application/json", body: #"{"filename":"x.png","size":12,"ignored":null}"#))
        #expect(p == PolicyParameters(profile: "a", filename: "x.png", size: 12))
    }

    @Test(arguments: [
        ("profile=a&profile=b", "", ""),
        ("profile=a", "application/x-www-form-urlencoded", "profile=b"),
        ("a=%zz", "", ""),
        ("a=%e4", "", ""),
        ("a=%4", "", ""),
        ("size=-1", "", ""),
        ("size=1.5", "", ""),
        ("size=99999999999999999", "", ""),
        ("format=xml", "", ""),
        ("contentType=image/png;x=y", "", ""),
        ("contentType=image", "", ""),
        ("", "application/json", #"{"size":1.5}"#),
        ("", "application/json", #"{"profile":1}"#),
        ("", "application/json", #"{"profile":{"a":1}}"#),
        ("", "application/json", "{"),
    ])
    func refusesBadParametersAs400(_ query: String, _ type: String, _ body: String) {
        #expect(throws: APIError.self) {
            try PolicyParameters.parse(request(query: query, method: body.isEmpty ? "GET" : "POST", type: type.isEmpty ? nil : type, body: body))
        }
        do {
            _ = try PolicyParameters.parse(request(query: query, method: "POST", type: type.isEmpty ? nil : type, body: body))
        } catch {
            #expect(error.status == 400)
            #expect(error.code == "invalid_request")
        }
    }

    @Test func aFloodOfParametersIsRefused() {
        let flood = (0..<1000).map { "p\($0)=" }.joined(separator: "&")
        #expect(throws: APIError.invalidRequest("more than 64 parameters")) {
            try PolicyParameters.parse(request(method: "POST", type: "application/x-www-form-urlencoded", body: flood))
        }
        #expect((try? PolicyParameters.parse(request(query: (0..<64).map { "p\($0)=" }.joined(separator: "&")))) != nil)
    }

    @Test func unknownBodyTypesAre415() {
        #expect(throws: APIError.unsupportedMediaType) {
            try PolicyParameters.parse(request(method: "POST", type: "text/plain", body: "profile=a"))
        }
        #expect(throws: APIError.unsupportedMediaType) {
            try PolicyParameters.parse(request(method: "POST", body: "profile=a"))
        }
    }

    @Test(arguments: ["alice", "user-1_x.y@example.com", "oXyZ_AbC-123", "a+b=c~d", String(repeating: "a", count: 128)])
    func acceptsPlainIdentities(_ user: String) {
        #expect((try? Identity.validate(user).get()) == user)
    }

    @Test(arguments: [
        "../x", "a/b", "a\\b", "..", ".hidden", "a..b", "a\u{0}b", "a\nb", "a b", "é", "\u{202E}abc", "%2f", String(repeating: "a", count: 129),
    ])
    func refusesUnsafeIdentities(_ user: String) {
        guard case .failure(let e) = Identity.validate(user) else {
            Issue.record("accepted \(user)")
            return
        }
        #expect(e.code == "invalid_identity")
        #expect(e.status == 400)
    }
}
