import Crypto
import PostPolicy
import Testing

struct PolicyDocumentTests {
    @Test func everyConditionEncodesToItsDocumentedShape() {
        let doc = PolicyDocument(
            expiration: Timestamp(iso8601: "2014-12-01T12:00:00.000Z")!,
            conditions: [
                .exact(field: "bucket", value: "johnsmith"),
                .contentLengthRange(min: 1, max: 10),
                .equals(field: "success_action_status", value: "201"),
                .startsWith(field: "key", prefix: "user/eric/"),
                .oneOf(field: "content-type", values: ["image/jpg", "image/png"]),
                .noneOf(field: "cache-control", values: ["no-cache"]),
            ])
        let text = String(decoding: doc.json, as: UTF8.self)
        #expect(
            text
                == #"{"expiration":"2014-12-01T12:00:00.000Z","conditions":[{"bucket":"johnsmith"},["content-length-range",1,10],["eq","$success_action_status","201"],["starts-with","$key","user/eric/"],["in","$content-type",["image/jpg","image/png"]],["not-in","$cache-control",["no-cache"]]]}"#
        )
        #expect(Base64.decode(doc.base64) == doc.json)
    }
}
