import CGI
import Crypto
import Glibc

/// The properties every answer must have, whatever the request held. A broken one is reported
/// on stderr and the process aborts, so libFuzzer records the input as a crash.
public enum Oracle {
    /// Stops the run: `what` went wrong for an answer.
    public static func fail(_ what: String, _ response: CGIResponse? = nil) -> Never {
        var text = "ORACLE FAILURE: \(what)\n"
        if let response {
            text +=
                "status \(response.status); headers \(response.headers.map { "\($0.name): \($0.value)" }); body \(response.bodyText.debugDescription)\n"
        }
        FuzzSink.say(text)
        abort()
    }

    /// Checks one answer of the application: a JSON body (unless it is the metrics text), headers
    /// that cannot split the header block, and for a signed answer, policies that are base64 JSON.
    @discardableResult
    public static func check(_ response: CGIResponse) -> JSONCheck.Value? {
        guard (200...599).contains(response.status) else { fail("status \(response.status)", response) }
        for (name, value) in response.headers {
            if name.isEmpty || name.utf8.contains(where: { $0 <= 0x20 || $0 == UInt8(ascii: ":") || $0 >= 0x7F }) {
                fail("header name \(name.debugDescription)", response)
            }
            if value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) {
                fail("header \(name) carries CR, LF or NUL", response)
            }
        }
        let serialized = response.serialized()
        FuzzSink.consume(serialized)
        guard response.header("Content-Type")?.hasPrefix("application/json") == true else { return nil }
        let json: JSONCheck.Value
        switch JSONCheck.parse(response.body) {
        case .success(let v): json = v
        case .failure(let e): fail("the body is not JSON: \(e)", response)
        }
        guard case .object = json else { fail("the body is not a JSON object", response) }
        if response.status >= 400, response.status != 503 || json["error"] != nil {
            // Errors carry {"error":{"code":...}}; a 503 from healthz carries its status instead.
            guard case .object = json["error"] ?? .null, json["error"]?["code"] != nil else {
                fail("an error answer without an error code", response)
            }
        }
        guard response.status == 200 else { return json }
        for policy in json.strings(named: "policy") {
            guard let decoded = Base64.decode(policy) else { fail("policy is not base64: \(policy.debugDescription)", response) }
            guard case .success(.object) = JSONCheck.parse(decoded) else {
                fail("the policy document is not a JSON object: \(String(decoding: decoded, as: UTF8.self).debugDescription)", response)
            }
        }
        for callback in json.strings(named: "callback") {
            guard let decoded = Base64.decode(callback), case .success(.object) = JSONCheck.parse(decoded) else {
                fail("the callback field is not base64 of a JSON object", response)
            }
        }
        // Qiniu: token = AK:signature:base64url(putPolicy JSON).
        for token in json.strings(named: "token") {
            let parts = token.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let standard = String(parts[2].map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
            guard let decoded = Base64.decode(standard), case .success(.object) = JSONCheck.parse(decoded) else {
                fail("the upload token's policy is not base64url of a JSON object", response)
            }
        }
        return json
    }
}
