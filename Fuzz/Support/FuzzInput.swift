import CGI
import Glibc
import Logging

/// How the fuzz targets cut one libFuzzer input into fields: on a separator byte (NUL), so that
/// every field stays reachable by the mutator and a seed file is readable with `tr '\0' '\n'`.
/// The last field takes the rest of the input, separators included, so a body can hold any byte.
public enum FuzzInput {
    /// The field separator.
    public static let separator: UInt8 = 0

    /// Exactly `count` fields of `data[0..<size]`; missing fields are empty.
    public static func fields(_ data: UnsafePointer<UInt8>, _ size: Int, count: Int) -> [[UInt8]] {
        let bytes = UnsafeBufferPointer(start: data, count: size)
        var out: [[UInt8]] = []
        out.reserveCapacity(count)
        var start = 0
        while out.count < count - 1, start <= size {
            var end = start
            while end < size, bytes[end] != separator { end += 1 }
            if end == size && start == size { break }
            out.append(Array(bytes[start..<end]))
            start = end + 1
        }
        out.append(start < size ? Array(bytes[start...]) : [])
        while out.count < count { out.append([]) }
        return out
    }

    /// Text as a C string would carry it: cut at the first NUL, then decoded (invalid UTF-8
    /// becomes U+FFFD, as `CGIParams` decodes params).
    public static func text(_ bytes: [UInt8]) -> String {
        let cut = bytes.firstIndex(of: 0).map { Array(bytes[..<$0]) } ?? bytes
        return String(decoding: cut, as: UTF8.self)
    }

    /// Appends each `NAME=VALUE` line of `lines` (LF-separated) to `params` as raw bytes, the way
    /// the FastCGI loop copies libfcgi's environment (entries without `=` are dropped there too).
    public static func appendParamLines(_ lines: [UInt8], to params: inout CGIParams) {
        for line in lines.split(separator: 0x0A, omittingEmptySubsequences: true) {
            let entry = Array(line.prefix(while: { $0 != 0 }))
            entry.withUnsafeBufferPointer { params.appendRaw($0) }
        }
    }

    /// The body as the FastCGI loop hands it over for a request whose `CONTENT_LENGTH` param is
    /// `contentLength` and whose stdin stream carried `bytes` (FastCGIServer.readBody).
    public static func body(_ bytes: [UInt8], contentLength: String?, maxBody: Int) -> CGIRequest.Body {
        guard let declared = CGIRequest.Body.declaredLength(contentLength) else { return .invalidLength }
        if declared > maxBody { return .tooLarge(declared: declared) }
        if bytes.count < declared { return .truncated }
        if bytes.count > declared { return .invalidLength }
        return .bytes(bytes)
    }
}

/// A log handler that renders every message and its metadata and throws the text away: the
/// application's logging code runs (metadata closures included) without filling the terminal.
public struct SinkLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace
    public init() {}
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    public func log(event: LogEvent) {
        var length = event.message.description.utf8.count
        for (key, value) in event.metadata ?? [:] { length &+= key.utf8.count &+ value.description.utf8.count }
        FuzzSink.consume(length)
    }

    /// A logger with this handler.
    public static func logger(_ label: String = "fuzz") -> Logger {
        Logger(label: label, factory: { _ in SinkLogHandler() })
    }
}

/// Keeps computed values alive so the optimiser cannot drop the work that produced them.
public enum FuzzSink {
    nonisolated(unsafe) static var total = 0
    @inline(never) public static func consume(_ n: Int) { total &+= n }
    @inline(never) public static func consume(_ bytes: [UInt8]) { total &+= bytes.count &+ Int(bytes.first ?? 0) }

    /// Writes `text` to stderr in one `write(2)`.
    public static func say(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

/// Runs `body` on a new thread and waits for it. Per-thread values (PerThread: the credentials
/// copy, the V4 key cache) made during `body` are released when that thread exits; made on the
/// fuzzer's own thread, the values of an application that is dropped after one input would be
/// left behind by design (PerThread.deinit leaks what live threads hold), once per input.
public func onFreshThread(_ body: @escaping () -> Void) {
    final class Job {
        let body: () -> Void
        init(_ b: @escaping () -> Void) { body = b }
    }
    let job = Unmanaged.passRetained(Job(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(
        &thread, nil,
        { raw in
            let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
            job.body()
            return nil
        }, job)
    guard rc == 0 else {
        Unmanaged<Job>.fromOpaque(job).takeRetainedValue().body()
        return
    }
    pthread_join(thread, nil)
}
