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
                    switch (component(UnsafeBufferPointer(rebasing: bytes[start..<nameEnd]), source),
                            component(UnsafeBufferPointer(rebasing: bytes[valueStart..<end]), source)) {
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
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "+") {
                out.append(0x20)
            } else if c == UInt8(ascii: "%") {
                guard i + 2 < bytes.count, let hi = hexValue(bytes[i + 1]), let lo = hexValue(bytes[i + 2]) else {
                    return .failure(.invalidRequest("bad percent-encoding in the \(source)"))
                }
                out.append(hi << 4 | lo)
                i += 3
                continue
            } else {
                out.append(c)
            }
            i += 1
        }
        guard let s = String(validating: out, as: UTF8.self) else {
            return .failure(.invalidRequest("the \(source) does not decode to UTF-8"))
        }
        return .success(s)
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x41 + 10
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }
}
