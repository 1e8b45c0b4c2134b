/// `Content-Disposition` values built from a client's file name (RFC 6266 with the RFC 8187
/// `filename*` parameter), after the name is cut to its last path component and cleaned of
/// characters that could break the header or the policy.
enum ContentDisposition {
    /// `attachment; filename="photo_1.jpg"; filename*=UTF-8''photo%E2%91%A0.jpg`, or just the type
    /// when no usable name remains.
    static func value(_ type: Profile.DispositionType, filename: String?) -> String {
        guard let name = sanitized(filename) else { return type.rawValue }
        var ascii = ""
        var encoded = ""
        for scalar in name.unicodeScalars {
            let v = scalar.value
            // RFC 8187 attr-char stays as is; every other byte is percent-encoded.
            let attrChar = (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A)
                || "!#&+-.^_`|~".unicodeScalars.contains(scalar)
            ascii.unicodeScalars.append(v >= 0x20 && v < 0x7F && scalar != "%" ? scalar : "_")
            if attrChar {
                encoded.unicodeScalars.append(scalar)
            } else {
                for byte in String(scalar).utf8 {
                    encoded += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
                }
            }
        }
        return "\(type.rawValue); filename=\"\(ascii)\"; filename*=UTF-8''\(encoded)"
    }

    /// The last path component without control, format (bidi) or quoting characters, at most
    /// 128 characters (keeping a short extension); nil when nothing is left.
    static func sanitized(_ filename: String?) -> String? {
        guard let filename else { return nil }
        let base = filename.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        var out = ""
        for scalar in base.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned:
                continue
            default:
                if "\"\\$;".unicodeScalars.contains(scalar) {
                    out.unicodeScalars.append("_")
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        var trimmed = out.trimmingCharacters(in: " .")
        if trimmed.unicodeScalars.count > 128 {
            // Keep a short extension, so the download keeps its type.
            let scalars = Array(trimmed.unicodeScalars)
            let dot = scalars.lastIndex(of: ".").flatMap { scalars.count - $0 <= 17 && $0 > 0 ? $0 : nil }
            let tail = dot.map { Array(scalars[$0...]) } ?? []
            var head = String.UnicodeScalarView()
            head.append(contentsOf: scalars.prefix(128 - tail.count))
            head.append(contentsOf: tail)
            trimmed = String(head).trimmingCharacters(in: " ")
        }
        return trimmed.isEmpty ? nil : trimmed
    }
}
