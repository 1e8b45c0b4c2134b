import Crypto
import JSONText
import PostPolicy

/// The readable way to make a POST policy document, kept as the oracle the signers are held to:
/// the conditions built as values first, in the order the stores' documentation lists them, then
/// written out one by one. The signers write the same text straight into bytes (`PolicyDocument`);
/// this one is for tests only, so it may allocate what it likes.
struct StructuredPolicyDocument: Equatable {
    /// When the policy stops being accepted.
    var expiration: Timestamp
    /// The conditions, in the order they are written.
    var conditions: [PolicyCondition]
    /// How `expiration` is written.
    var expirationStyle: PolicyDocument.ExpirationStyle = .milliseconds

    /// `{"expiration":"…","conditions":[…]}` as compact UTF-8 JSON.
    var json: [UInt8] {
        let milliseconds = expiration.iso8601Milliseconds  // 2026-11-29T12:00:00.000Z
        var w = JSONWriter(capacity: 1024)
        w.beginObject()
        w.field("expiration", expirationStyle == .seconds ? String(milliseconds.dropLast(5)) + "Z" : milliseconds)
        w.key("conditions")
        w.beginArray()
        for c in conditions { c.write(to: &w) }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    /// The base64 of `json`: the `policy` form field.
    var base64: String { Base64.encode(json) }
}
