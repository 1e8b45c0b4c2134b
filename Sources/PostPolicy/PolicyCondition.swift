import JSONText

/// One condition of a POST policy document (OSS PostObject "Policy" section; S3 "Creating a POST
/// policy"): each case encodes to exactly one of the JSON shapes the stores accept.
public enum PolicyCondition: Sendable, Equatable {
    /// `{"field":"value"}`: exact match (the only form `bucket` accepts).
    case exact(field: String, value: String)
    /// `["eq","$field","value"]`.
    case equals(field: String, value: String)
    /// `["starts-with","$field","prefix"]`.
    case startsWith(field: String, prefix: String)
    /// `["content-length-range",min,max]`: the upload's size in bytes, inclusive.
    case contentLengthRange(min: Int64, max: Int64)
    /// `["in","$field",["a","b"]]` (OSS only).
    case oneOf(field: String, values: [String])
    /// `["not-in","$field",["a","b"]]` (OSS only).
    case noneOf(field: String, values: [String])

    /// Writes the condition's JSON form.
    public func write(to w: inout JSONWriter) {
        switch self {
        case .exact(let field, let value):
            w.beginObject()
            w.field(field, value)
            w.endObject()
        case .equals(let field, let value):
            w.beginArray()
            w.string("eq")
            w.string(field, prefix: UInt8(ascii: "$"))
            w.string(value)
            w.endArray()
        case .startsWith(let field, let prefix):
            w.beginArray()
            w.string("starts-with")
            w.string(field, prefix: UInt8(ascii: "$"))
            w.string(prefix)
            w.endArray()
        case .contentLengthRange(let min, let max):
            w.beginArray()
            w.string("content-length-range")
            w.integer(min)
            w.integer(max)
            w.endArray()
        case .oneOf(let field, let values), .noneOf(let field, let values):
            w.beginArray()
            if case .oneOf = self { w.string("in") } else { w.string("not-in") }
            w.string(field, prefix: UInt8(ascii: "$"))
            w.beginArray()
            for v in values { w.string(v) }
            w.endArray()
            w.endArray()
        }
    }
}
