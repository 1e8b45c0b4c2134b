import Crypto
import JSONText

/// A POST policy: an expiration and the conditions every form field and the file must meet.
/// Stores sign the base64 of its JSON text, so the text is produced once, byte-exact.
public struct PolicyDocument: Sendable, Equatable {
    /// When the policy stops being accepted.
    public var expiration: Timestamp
    /// The conditions, in the order they are written.
    public var conditions: [PolicyCondition]

    /// Creates a policy document.
    public init(expiration: Timestamp, conditions: [PolicyCondition]) {
        self.expiration = expiration
        self.conditions = conditions
    }

    /// `{"expiration":"…","conditions":[…]}` as compact UTF-8 JSON.
    public var json: [UInt8] {
        var w = JSONWriter(capacity: 384)
        w.beginObject()
        w.field("expiration", expiration.iso8601Milliseconds)
        w.key("conditions")
        w.beginArray()
        for c in conditions { c.write(to: &w) }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    /// The base64 of `json`: the `policy` form field, and what V1/V4 signatures are computed over.
    public var base64: String { Base64.encode(json) }
}
