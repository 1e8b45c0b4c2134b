import Glibc
import Logging
import Testing

@testable import LogLines

/// A pipe whose read end is non-blocking, so a test can look at what has been written so far.
private final class Pipe {
    let read: Int32
    let write: Int32
    init() {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0)
        read = fds[0]
        write = fds[1]
        _ = fcntl(read, F_SETFL, fcntl(read, F_GETFL) | O_NONBLOCK)
        // Large enough for the limit test without blocking the writer.
        _ = fcntl(write, 1031, 1 << 20)  // F_SETPIPE_SZ
    }
    deinit {
        close(read)
        close(write)
    }
    /// What is readable now.
    func drain() -> String {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(read, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out += chunk[..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

private func append(_ text: String, to writer: BatchedLineWriter, urgent: Bool = false) {
    Array(text.utf8).withUnsafeBytes { writer.append($0, urgent: urgent) }
}

struct BatchedLineWriterTests {
    /// A delay no test waits out: lines appear only when something writes them.
    static let never: UInt32 = 60_000_000

    @Test func batchedLinesWaitForAFlushAndKeepTheirOrder() {
        let pipe = Pipe()
        let writer = BatchedLineWriter(fd: pipe.write, delayMicroseconds: Self.never)
        append("a\n", to: writer)
        append("b\n", to: writer)
        #expect(pipe.drain() == "")
        writer.flush()
        #expect(pipe.drain() == "a\nb\n")
        writer.flush()
        #expect(pipe.drain() == "")
    }

    @Test func anUrgentLineIsWrittenAtOnceAfterTheLinesBeforeIt() {
        let pipe = Pipe()
        let writer = BatchedLineWriter(fd: pipe.write, delayMicroseconds: Self.never)
        append("request 1\n", to: writer)
        append("warning\n", to: writer, urgent: true)
        #expect(pipe.drain() == "request 1\nwarning\n")
    }

    @Test func aLineThatWouldPassTheLimitIsWrittenByItsCaller() {
        let pipe = Pipe()
        let writer = BatchedLineWriter(fd: pipe.write, delayMicroseconds: Self.never, limit: 10)
        append("12345\n", to: writer)
        #expect(pipe.drain() == "")
        append("67890\n", to: writer)
        #expect(pipe.drain() == "12345\n67890\n")
    }

    @Test func theWriterThreadWritesABatchWithoutBeingAsked() {
        let pipe = Pipe()
        let writer = BatchedLineWriter(fd: pipe.write, delayMicroseconds: 1_000)
        append("late\n", to: writer)
        var seen = ""
        for _ in 0..<500 where seen.isEmpty {
            usleep(10_000)
            seen = pipe.drain()
        }
        #expect(seen == "late\n")
        // And again for the next batch: the writer thread waits for the next line.
        append("later\n", to: writer)
        seen = ""
        for _ in 0..<500 where seen.isEmpty {
            usleep(10_000)
            seen = pipe.drain()
        }
        #expect(seen == "later\n")
    }

    @Test func linesFromManyThreadsArriveWholeAndAllOfThem() async {
        let pipe = Pipe()
        let writer = BatchedLineWriter(fd: pipe.write, delayMicroseconds: 200)
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<8 {
                group.addTask {
                    for i in 0..<500 { append("thread \(t) line \(i)\n", to: writer, urgent: i % 97 == 0) }
                }
            }
        }
        writer.flush()
        let lines = pipe.drain().split(separator: "\n")
        #expect(lines.count == 8 * 500)
        #expect(Set(lines).count == 8 * 500)
        for t in 0..<8 {
            let own = lines.filter { $0.hasPrefix("thread \(t) ") }
            #expect(own == (0..<500).map { "thread \(t) line \($0)"[...] }, "one thread's lines stay in order")
        }
    }
}

struct JSONLineLogHandlerTests {
    @Test func writesOneSortedJSONObjectPerLineWithIntegersAsNumbers() {
        let pipe = Pipe()
        var logger = Logger(label: "t") { JSONLineLogHandler(label: $0, output: BatchedLineWriter(fd: pipe.write, delayMicroseconds: 60_000_000)) }
        logger.logLevel = .info
        logger.notice(
            "upsign \"started\"",
            metadata: [
                "threads": .stringConvertible(6), "duration_us": .stringConvertible(UInt64(30)),
                "b": .string("x<y"), "a": .stringConvertible(1.5),
            ])
        let line = pipe.drain()
        #expect(line.hasSuffix("\n"))
        let body = line.dropFirst(#"{"ts":""#.count + 24 + 2)
        #expect(line.hasPrefix(#"{"ts":""#))
        #expect(body == #""level":"notice","msg":"upsign \"started\"","a":"1.5","b":"x\u003cy","duration_us":30,"threads":6}"# + "\n")
    }

    @Test func infoLinesAreBatchedAndNoticeLinesAreNot() {
        let pipe = Pipe()
        let output = BatchedLineWriter(fd: pipe.write, delayMicroseconds: 60_000_000)
        var logger = Logger(label: "t") { JSONLineLogHandler(label: $0, output: output) }
        logger.logLevel = .info
        logger.info("request")
        logger.debug("not logged")
        #expect(pipe.drain() == "")
        logger.error("failed")
        let lines = pipe.drain().split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].contains(#""msg":"request""#) && lines[1].contains(#""msg":"failed""#))
    }
}

/// A log handler that keeps the last event's parts.
private final class LastEvent: @unchecked Sendable {
    var event: LogEvent?
}

private struct CapturingHandler: LogHandler {
    let last: LastEvent
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) { last.event = event }
}

struct RequestLineTests {
    static let lines = [
        RequestLine(
            id: "0f3a", method: "GET", route: "policy", path: nil, profile: "avatar", user: "bench-user",
            status: 200, durationMicroseconds: 41, error: nil),
        RequestLine(
            id: nil, method: "POST", route: "unknown", path: "/upload/x\"y", profile: nil, user: nil,
            status: 404, durationMicroseconds: 3, error: "not_found"),
        RequestLine(
            id: String(repeating: "i", count: 100), method: String(repeating: "M", count: 40), route: "policy",
            path: nil, profile: "demo", user: "u<1>", status: 503, durationMicroseconds: 1_000_000,
            error: "credentials_unavailable"),
    ]

    @Test(arguments: lines)
    func theDirectLineIsTheBytesTheLogHandlerWritesForTheSameEvent(_ line: RequestLine) {
        let last = LastEvent()
        LoggerRequestLog(Logger(label: "t") { _ in CapturingHandler(last: last) }).record(line)
        let event = last.event!
        #expect(event.message == "request")
        #expect(event.level == line.level)
        let viaHandler = JSONLineLogHandler.render(event, handlerMetadata: [:], now: (1_764_417_600, 7))
        let direct = JSONRequestLog.render(line, now: (1_764_417_600, 7))
        #expect(String(decoding: direct, as: UTF8.self) == String(decoding: viaHandler, as: UTF8.self))
    }

    @Test func freeFormFieldsAreCutToTheirLimits() {
        let line = Self.lines[2]
        #expect(line.id?.count == 64 && line.method.count == 16)
        #expect(
            RequestLine(
                id: nil, method: "GET", route: "unknown", path: String(repeating: "/", count: 300), profile: nil,
                user: nil, status: 404, durationMicroseconds: 0, error: nil
            ).path?.count == 256)
    }

    @Test func linesBelowTheLevelAreNotWrittenAndErrorsAreWrittenAtOnce() {
        let pipe = Pipe()
        let output = BatchedLineWriter(fd: pipe.write, delayMicroseconds: 60_000_000)
        let log = JSONRequestLog(logLevel: .notice, output: output)
        log.record(Self.lines[0])
        output.flush()
        #expect(pipe.drain() == "")
        log.record(Self.lines[2])
        let text = pipe.drain()
        #expect(text.contains(#""level":"error","msg":"request""#) && text.hasSuffix("}\n"))
    }
}
