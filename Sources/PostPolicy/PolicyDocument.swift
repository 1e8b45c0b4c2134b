import JSONText

/// The JSON text of a POST policy document, `{"expiration":"…","conditions":[…]}`, as compact
/// UTF-8. Stores sign this text (its base64, or its digest), so it is produced once, byte-exact,
/// and straight into bytes: a signer writes its conditions one after another
/// (`PolicyCondition.write(to:)`, `PostUpload.writeConditions`), with no array of them in between.
/// The tests hold every signer's text equal to a readable oracle that builds the conditions as
/// values first (`Tests/PostPolicyTests/Oracle`).
public enum PolicyDocument {
    /// How the expiration instant is written.
    public enum ExpirationStyle: Sendable, Equatable {
        /// `2026-11-29T12:00:00.000Z` (OSS, S3, COS, OBS).
        case milliseconds
        /// `2026-11-29T12:00:00Z` (Google Cloud Storage).
        case seconds
    }

    /// The JSON of a policy expiring at `expiration` whose conditions `writeConditions` writes
    /// as array elements, in order.
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
}
