import JSONText
import Testing

@testable import PostPolicy

struct PolicyDocumentTests {
    /// The text `PolicyDocument.render` writes for `conditions`.
    func render(_ conditions: [PolicyCondition], style: PolicyDocument.ExpirationStyle) -> String {
        let json = PolicyDocument.render(expiration: Timestamp(iso8601: "2014-12-01T12:00:00.000Z")!, style: style) { w in
            for c in conditions { c.write(to: &w) }
        }
        return String(decoding: json, as: UTF8.self)
    }

    @Test func everyConditionEncodesToItsDocumentedShape() {
        let text = render(
            [
                .exact(field: "bucket", value: "johnsmith"),
                .contentLengthRange(min: 1, max: 10),
                .equals(field: "success_action_status", value: "201"),
                .startsWith(field: "key", prefix: "user/eric/"),
                .oneOf(field: "content-type", values: ["image/jpg", "image/png"]),
                .noneOf(field: "cache-control", values: ["no-cache"]),
            ], style: .milliseconds)
        #expect(
            text
                == #"{"expiration":"2014-12-01T12:00:00.000Z","conditions":[{"bucket":"johnsmith"},["content-length-range",1,10],["eq","$success_action_status","201"],["starts-with","$key","user/eric/"],["in","$content-type",["image/jpg","image/png"]],["not-in","$cache-control",["no-cache"]]]}"#
        )
    }

    @Test func theSecondsStyleWritesTheExpirationWithoutMilliseconds() {
        #expect(render([], style: .seconds) == #"{"expiration":"2014-12-01T12:00:00Z","conditions":[]}"#)
    }
}
