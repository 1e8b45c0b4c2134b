import ASCIIText

/// Media type syntax (RFC 9110 §8.3.1), without parameters.
enum ContentType {
    /// RFC 9110 `tchar`.
    static func isTokenChar(_ c: UInt8) -> Bool {
        if ASCII.isAlnum(c) { return true }
        return switch c {
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default: false
        }
    }

    /// True for `type/subtype` (or `type/` when `allowPrefix`), at most 255 bytes. `$` is refused
    /// too: policies treat it as a variable marker.
    static func isValid(_ s: String, allowPrefix: Bool = false) -> Bool {
        let b = Array(s.utf8)
        guard b.count <= 255, let slash = b.firstIndex(of: UInt8(ascii: "/")), slash > 0 else { return false }
        let type = b[..<slash]
        let subtype = b[(slash + 1)...]
        guard type.allSatisfy(isTokenChar), subtype.allSatisfy({ isTokenChar($0) }),
            !b.contains(UInt8(ascii: "$"))
        else { return false }
        return !subtype.isEmpty || allowPrefix
    }
}

extension ContentType {
    /// Types a browser runs as a document or script when the store serves them from the bucket's
    /// own domain: an upload of one is stored cross-site scripting (an SVG or HTML file with a
    /// `<script>`, served as `image/svg+xml` or `text/html`, runs with the bucket origin's rights).
    /// A family entry (`image/`, `text/`, an empty list meaning "any") never admits these; only a
    /// profile that lists the exact type does. Any `+xml` subtype counts too (`isActive`): XML
    /// documents render and may embed XHTML.
    static let active: [String] = [
        "text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml",
        "text/xsl", "application/xslt+xml", "text/javascript", "application/javascript",
        "application/x-javascript", "application/ecmascript", "text/ecmascript", "text/jscript",
        "application/x-shockwave-flash", "text/vnd.wap.wml", "text/x-component", "application/hta",
        "message/rfc822", "multipart/x-mixed-replace", "application/vnd.wap.xhtml+xml",
        "application/rss+xml", "application/atom+xml", "application/mathml+xml",
    ]

    /// True when `type` (lowercase `type/subtype`) is in `active` or is an XML type.
    static func isActive(_ type: String) -> Bool {
        active.contains(type) || type.hasSuffix("+xml")
    }

    /// The type a vetted extension (lowercase, without the dot) stands for, when no client names
    /// one: common passive types only. An extension of an active type (`svg`, `html`) is not here,
    /// so such a file is pinned as `application/octet-stream` and downloads instead of running.
    static let byExtension: [String: String] = [
        "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif",
        "webp": "image/webp", "bmp": "image/bmp", "avif": "image/avif", "heic": "image/heic",
        "heif": "image/heif", "tif": "image/tiff", "tiff": "image/tiff", "ico": "image/x-icon",
        "mp4": "video/mp4", "m4v": "video/mp4", "mov": "video/quicktime", "webm": "video/webm",
        "avi": "video/x-msvideo", "mkv": "video/x-matroska", "3gp": "video/3gpp",
        "mp3": "audio/mpeg", "m4a": "audio/mp4", "aac": "audio/aac", "wav": "audio/wav",
        "ogg": "audio/ogg", "oga": "audio/ogg", "flac": "audio/flac", "amr": "audio/amr",
        "pdf": "application/pdf", "txt": "text/plain", "csv": "text/csv", "json": "application/json",
        "zip": "application/zip", "gz": "application/gzip", "7z": "application/x-7z-compressed",
        "doc": "application/msword", "xls": "application/vnd.ms-excel", "ppt": "application/vnd.ms-powerpoint",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ]

    /// The type pinned when a client names none: the one `ext` (".jpg" or "") stands for, else
    /// `application/octet-stream`.
    static func forExtension(_ ext: String) -> String {
        byExtension[String(ext.drop(while: { $0 == "." }))] ?? "application/octet-stream"
    }

    /// `entries` (exact types and `family/` prefixes) as exact types and `family/*` wildcards for
    /// a store that matches types itself (Qiniu's `mimeLimit`): a family that holds an active type
    /// becomes the passive types `byExtension` knows in it, so the store cannot admit those.
    static func storeLimit(_ entries: [String]) -> [String] {
        var out: [String] = []
        for entry in entries {
            guard entry.hasSuffix("/") else {
                if !out.contains(entry) { out.append(entry) }
                continue
            }
            if active.contains(where: { $0.hasPrefix(entry) }) {
                for type in Set(byExtension.values).sorted() where type.hasPrefix(entry) && !out.contains(type) {
                    out.append(type)
                }
            } else if !out.contains(entry + "*") {
                out.append(entry + "*")
            }
        }
        return out
    }
}
