import ASCIIText

/// `application/x-www-form-urlencoded` decoding (WHATWG URL §5.1), strict about broken escapes.
enum FormURLEncoding {
    /// Splits `text` on `&`, each pair on its first `=`, decoding `+` and `%XX`; the results must be UTF-8.
    static func decode(_ text: String, source: String) throws(APIError) -> [(String, String)] {
        var text = text
        // Scanned in place: no array of pieces, and a plain component is one string made
        // straight from its bytes (no allocation at all when short).
        let decoded = text.withUTF8 { bytes -> Result<[(String, String)], APIError> in
            var out: [(String, String)] = []
            var start = 0
            while start < bytes.count {
                var end = start
                var eq = -1
                while end < bytes.count && bytes[end] != UInt8(ascii: "&") {
                    if eq < 0 && bytes[end] == UInt8(ascii: "=") { eq = end }
                    end += 1
                }
                if end > start {
                    let nameEnd = eq < 0 ? end : eq
                    let valueStart = eq < 0 ? end : eq + 1
                    switch (
                        component(UnsafeBufferPointer(rebasing: bytes[start..<nameEnd]), source),
                        component(UnsafeBufferPointer(rebasing: bytes[valueStart..<end]), source)
                    ) {
                    case (.success(let name), .success(let value)): out.append((name, value))
                    case (.failure(let e), _), (_, .failure(let e)): return .failure(e)
                    }
                }
                start = end + 1
            }
            return .success(out)
        }
        return try decoded.get()
    }

    static func component(_ bytes: UnsafeBufferPointer<UInt8>, _ source: String) -> Result<String, APIError> {
        // Fast path: nothing escaped, so the text is already the value (and already UTF-8: it is
        // a piece of a String cut at ASCII bytes).
        if !bytes.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) {
            return .success(String(decoding: bytes, as: UTF8.self))
        }
        guard let out = ASCII.percentDecoded(bytes, plusAsSpace: true) else {
            return .failure(.invalidRequest("bad percent-encoding in the \(source)"))
        }
        guard let s = String(validating: out, as: UTF8.self) else {
            return .failure(.invalidRequest("the \(source) does not decode to UTF-8"))
        }
        return .success(s)
    }
}
