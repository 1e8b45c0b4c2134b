/// `Content-Disposition` values built from a client's file name (RFC 6266 with the RFC 8187
/// `filename*` parameter). The name is the file name's last path component cut before its
/// extension, cleaned of characters that could break the header or the policy, followed by the
/// extension `PolicyIssuer` vetted: the download's extension is always the checked one.
enum ContentDisposition {
    /// `attachment; filename="photo_1.jpg"; filename*=UTF-8''photo%E2%91%A0.jpg`, or just the type
    /// when no usable name remains. `ext` is the vetted extension with its dot, or "".
    static func value(_ type: Profile.DispositionType, filename: String?, ext: String) -> String {
        guard let name = sanitized(filename, ext: ext) else { return type.rawValue }
        var ascii = ""
        var encoded = ""
        for scalar in name.unicodeScalars {
            let v = scalar.value
            // RFC 8187 attr-char stays as is; every other byte is percent-encoded.
            let attrChar =
                (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A)
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

    /// The download name: the last path component's stem (the part before the vetted extension)
    /// without control, format (bidi) or quoting characters and without leading or trailing dots
    /// and spaces, at most 128 characters with the extension, then `ext`. With no vetted
    /// extension the stem's dots become `_`, so `evil.exe.` cannot name an `.exe`. Nil when
    /// nothing is left of the stem.
    static func sanitized(_ filename: String?, ext: String) -> String? {
        guard let filename else { return nil }
        var base = Substring(filename.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last ?? "")
        if !ext.isEmpty, let dot = base.lastIndex(of: ".") { base = base[..<dot] }
        base = Substring(String(base).trimmingCharacters(in: " ."))
        var out = String.UnicodeScalarView()
        for scalar in base.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned:
                continue
            default:
                if "\"\\$;".unicodeScalars.contains(scalar) || (ext.isEmpty && scalar == ".") {
                    out.append("_")
                } else {
                    out.append(scalar)
                }
            }
        }
        var stem = String(out).trimmingCharacters(in: " .")
        let room = 128 - ext.count
        if stem.unicodeScalars.count > room {
            var head = String.UnicodeScalarView()
            head.append(contentsOf: stem.unicodeScalars.prefix(room))
            stem = String(head).trimmingCharacters(in: " .")
        }
        return stem.isEmpty ? nil : stem + ext
    }
}
