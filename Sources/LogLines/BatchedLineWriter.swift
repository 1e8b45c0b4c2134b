import Glibc
import PerThread
import Synchronization
import SystemCalls

/// Writes log lines to a file descriptor in batches, from a thread of its own, so that a request
/// does not pay a `write(2)` (and the wake-up of whoever reads the other end) for its log line.
///
/// - A batched line is written at most about `delay` after it was appended: the first line after
///   a write wakes the writer thread, which waits `delay` for more, then writes them all at once.
/// - Each thread appends to a buffer of its own: dozens of worker threads appending to one shared
///   buffer queue on its lock (each contended append is a futex wait and a wake-up). A batch
///   therefore holds each thread's lines in order, one thread after another.
/// - An urgent line (a notice, a warning, an error) is written before `append` returns, after
///   every line appended before it.
/// - A thread's buffer is bounded: a line that would take it past `limit` bytes is written at
///   once, with everything pending, by the thread appending it (a stalled reader slows requests
///   rather than growing memory).
/// - `flush()` writes what is pending; the standard error writer also flushes at `exit`.
public final class BatchedLineWriter: Sendable {
    /// The descriptor written to.
    public let fd: Int32
    /// How long the writer thread gathers lines before writing them.
    public let delayMicroseconds: UInt32
    /// The most bytes a thread keeps pending.
    public let limit: Int

    /// One thread's pending lines: locked by that thread to append and by a flush to take them,
    /// so the lock is all but never contended.
    private final class ThreadLines: Sendable {
        let bytes = Mutex<[UInt8]>([])
    }

    /// Every thread's buffer. A thread that logged once keeps its (small) buffer for the life of
    /// the writer; upsign's threads are long-lived.
    private final class Registry: Sendable {
        let all = Mutex<[ThreadLines]>([])
    }

    /// What a thread's buffer starts with and keeps: room for a few dozen request lines.
    private static let threadBufferCapacity = 4096

    private let own: PerThread<ThreadLines>
    private let everyThread = Registry()
    /// True from the first line after a write until the writer thread starts collecting.
    private let armed = Atomic<Bool>(false)
    /// Held while writing, so batches and urgent lines reach `fd` in the order appended; holds the
    /// buffer the batch is gathered in.
    private let writing = Mutex<[UInt8]>([])
    /// Posted when `armed` turns true. Allocated once and never freed: the writer thread waits on
    /// it for as long as the process lives.
    private nonisolated(unsafe) let wake: UnsafeMutablePointer<sem_t>

    /// A writer for standard error, flushed when the process exits.
    public static let standardError: BatchedLineWriter = {
        let writer = BatchedLineWriter(fd: 2)
        atexit { BatchedLineWriter.standardError.flush() }
        return writer
    }()

    /// Creates a writer and starts its thread, which lives as long as the process.
    public init(fd: Int32, delayMicroseconds: UInt32 = 5_000, limit: Int = 256 * 1024) {
        self.fd = fd
        self.delayMicroseconds = delayMicroseconds
        self.limit = limit
        let everyThread = everyThread
        own = PerThread {
            let lines = ThreadLines()
            everyThread.all.withLock { $0.append(lines) }
            return lines
        }
        wake = .allocate(capacity: 1)
        sem_init(wake, 0, 0)
        Threads.startDetached(stackSize: 128 * 1024) { [self] in writeInBatches() }
    }

    /// Appends `line` (which ends in a newline). `urgent`: written before this returns.
    public func append(_ line: UnsafeRawBufferPointer, urgent: Bool) {
        if !urgent {
            let lines = own.withValue { $0 }
            let taken = lines.bytes.withLock { bytes -> Bool in
                guard bytes.count + line.count <= limit else { return false }
                if bytes.capacity == 0 { bytes.reserveCapacity(Self.threadBufferCapacity) }
                bytes.append(contentsOf: line)
                return true
            }
            if taken {
                if !armed.load(ordering: .sequentiallyConsistent),
                    !armed.exchange(true, ordering: .sequentiallyConsistent)
                {
                    sem_post(wake)
                }
                return
            }
            // Over the limit: write it now, after everything pending.
        }
        writing.withLock { batch in
            gather(into: &batch)
            batch.append(contentsOf: line)
            write(&batch)
        }
    }

    /// Writes every pending line now.
    public func flush() {
        writing.withLock { batch in
            gather(into: &batch)
            write(&batch)
        }
    }

    /// Moves every thread's pending lines to the end of `batch`.
    private func gather(into batch: inout [UInt8]) {
        for lines in everyThread.all.withLock({ $0 }) {
            lines.bytes.withLock { bytes in
                guard !bytes.isEmpty else { return }
                batch.append(contentsOf: bytes)
                // A buffer a burst grew is given back: kept, every thread's would ratchet up to
                // its largest batch ever, and resident memory would only grow (the slow creep
                // `Benchmarks/soak.sh` checks for over a long run).
                bytes.removeAll(keepingCapacity: bytes.capacity <= Self.threadBufferCapacity)
            }
        }
    }

    private func writeInBatches() {
        while true {
            while sem_wait(wake) != 0 {}  // EINTR
            if delayMicroseconds > 0 { usleep(delayMicroseconds) }
            // Lines appended from here on arm the next batch.
            armed.store(false, ordering: .sequentiallyConsistent)
            flush()
        }
    }

    /// Writes all of `bytes` (dropping them if `fd` fails) and empties it, keeping a modest capacity.
    private func write(_ bytes: inout [UInt8]) {
        // Nowhere to log to: the lines are lost, the requests go on.
        _ = FD.writeAll(fd, bytes)
        bytes.removeAll(keepingCapacity: bytes.capacity <= 64 * 1024)
    }
}
