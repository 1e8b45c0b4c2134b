/// CGI/FastCGI params (`NAME=VALUE` pairs) held in one byte buffer and looked up by name.
///
/// A request carries some 20-30 params and an application reads a handful, so they are copied
/// out of the transport as raw bytes (two allocations) and a `String` is made only for the
/// values asked for.
public struct CGIParams: Sendable, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    private var storage: [UInt8] = []
    /// Per entry: start of the name, offset of `=`, end of the value.
    private var entries: [(start: Int, equals: Int, end: Int)] = []

    /// No params.
    public init() {}

    /// Params from name/value pairs, in order.
    public init(_ pairs: some Sequence<(String, String)>) {
        for (name, value) in pairs { append(name: Array(name.utf8), value: Array(value.utf8)) }
    }

    /// Params from a dictionary literal.
    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    /// Params from a dictionary.
    public init(_ dictionary: [String: String]) {
        self.init(dictionary.map { ($0.key, $0.value) })
    }

    /// Appends one raw `NAME=VALUE` entry (entries without `=` are ignored).
    public mutating func appendRaw(_ entry: UnsafeBufferPointer<UInt8>) {
        guard let eq = entry.firstIndex(of: UInt8(ascii: "=")) else { return }
        let start = storage.count
        storage.append(contentsOf: entry)
        entries.append((start, start + eq, start + entry.count))
    }

    /// Reserves room for `count` entries of `bytes` bytes in all.
    public mutating func reserve(entries count: Int, bytes: Int) {
        entries.reserveCapacity(count)
        storage.reserveCapacity(bytes)
    }

    private mutating func append(name: [UInt8], value: [UInt8]) {
        let start = storage.count
        storage.append(contentsOf: name)
        storage.append(UInt8(ascii: "="))
        storage.append(contentsOf: value)
        entries.append((start, start + name.count, storage.count))
    }

    /// The value of `name`, or nil. A repeated name gives its last value: nginx sends a param set
    /// twice (`include fastcgi_params`, then an override) twice, and the override must win, as
    /// it does in php-fpm.
    public subscript(name: String) -> String? {
        var name = name
        return name.withUTF8 { key -> String? in
            storage.withUnsafeBufferPointer { buffer -> String? in
                for e in entries.reversed() where e.equals - e.start == key.count {
                    if memcmpEqual(buffer.baseAddress! + e.start, key.baseAddress, key.count) {
                        return String(decoding: UnsafeBufferPointer(rebasing: buffer[(e.equals + 1)..<e.end]), as: UTF8.self)
                    }
                }
                return nil
            }
        }
    }

    /// Every pair, in order.
    public var all: [(name: String, value: String)] {
        entries.map { e in
            (String(decoding: storage[e.start..<e.equals], as: UTF8.self), String(decoding: storage[(e.equals + 1)..<e.end], as: UTF8.self))
        }
    }

    /// The number of params.
    public var count: Int { entries.count }

    /// `NAME=VALUE` lines.
    public var description: String { all.map { "\($0.name)=\($0.value)" }.joined(separator: "\n") }
}

@inline(__always)
private func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>?, _ count: Int) -> Bool {
    guard count > 0, let b else { return true }
    for i in 0..<count where a[i] != b[i] { return false }
    return true
}
