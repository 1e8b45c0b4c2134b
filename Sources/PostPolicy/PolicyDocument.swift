import Crypto
import JSONText

/// A POST policy: an expiration and the conditions every form field and the file must meet.
/// Stores sign the base64 of its JSON text, so the text is produced once, byte-exact.
public struct PolicyDocument: Sendable, Equatable {
    /// How the expiration instant is written.
    public enum ExpirationStyle: Sendable, Equatable {
        /// `2026-11-29T12:00:00.000Z` (OSS, S3, COS, OBS).
        case milliseconds
        /// `2026-11-29T12:00:00Z` (Google Cloud Storage).
        case seconds
    }

    /// When the policy stops being accepted.
    public var expiration: Timestamp
    /// The conditions, in the order they are written.
    public var conditions: [PolicyCondition]
    /// How `expiration` is written.
    public var expirationStyle: ExpirationStyle

    /// Creates a policy document.
    public init(expiration: Timestamp, conditions: [PolicyCondition], expirationStyle: ExpirationStyle = .milliseconds) {
        self.expiration = expiration
        self.conditions = conditions
        self.expirationStyle = expirationStyle
    }

    /// `{"expiration":"…","conditions":[…]}` as compact UTF-8 JSON.
    public var json: [UInt8] {
        Self.render(expiration: expiration, style: expirationStyle) { w in
            for c in conditions { c.write(to: &w) }
        }
    }

    /// The JSON of a policy whose conditions `writeConditions` writes as array elements, without
    /// building them first (the signers' hot path; `json` is the same text from values).
    static func render(expiration: Timestamp, style: ExpirationStyle, writeConditions: (inout JSONWriter) -> Void) -> [UInt8] {
        var w = JSONWriter(capacity: 1024)
        w.beginObject()
        w.key("expiration")
        w.unescapedString { expiration.appendISO8601(to: &$0, millisecond: style == .seconds ? nil : 0) }
        w.key("conditions")
        w.beginArray()
        writeConditions(&w)
        w.endArray()
        w.endObject()
        return w.bytes
    }

    /// The base64 of `json`: the `policy` form field, and what most stores sign.
    public var base64: String { Base64.encode(json) }
}
