import ASCIIText

/// A gateway response: a status, headers and a body, serialised as CGI output
/// (`Status: 404 Not Found`, headers, a blank line, the body), which FastCGI carries unchanged.
public struct CGIResponse: Sendable, Equatable {
    /// The HTTP status code.
    public var status: Int
    /// Headers other than `Status`, in order. `Content-Length` is added by `serialized()`.
    public var headers: [(name: String, value: String)]
    /// The body.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func == (a: CGIResponse, b: CGIResponse) -> Bool {
        a.status == b.status && a.body == b.body && a.headers.count == b.headers.count
            && zip(a.headers, b.headers).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    /// The value of header `name` (case-insensitive), if set.
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first(where: { $0.name.lowercased() == lower })?.value
    }

    /// The body as text (for tests and logs).
    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// The CGI output: `Status`, the headers, `Content-Length`, a blank line, and the body unless
    /// `includeBody` is false (HEAD requests).
    public func serialized(includeBody: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count + 160)
        // Piece by piece: an interpolated string longer than 15 bytes is a heap allocation.
        out.append(contentsOf: "Status: ".utf8)
        ASCII.appendDecimal(Int64(status), to: &out)
        out.append(0x20)
        out.append(contentsOf: HTTPStatus.reasonPhrase(status).utf8)
        out.append(contentsOf: "\r\n".utf8)
        for (name, value) in headers {
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: ": ".utf8)
            // Header values never carry CR or LF: they would split the header block.
            if value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) {
                out.append(contentsOf: value.utf8.filter { $0 != 0x0D && $0 != 0x0A })
            } else {
                out.append(contentsOf: value.utf8)
            }
            out.append(contentsOf: "\r\n".utf8)
        }
        out.append(contentsOf: "Content-Length: ".utf8)
        ASCII.appendDecimal(Int64(body.count), to: &out)
        out.append(contentsOf: "\r\n\r\n".utf8)
        if includeBody { out.append(contentsOf: body) }
        return out
    }
}
