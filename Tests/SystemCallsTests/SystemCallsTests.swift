import Glibc
import Synchronization
import SystemCalls
import Testing

/// Whole transfers through a pipe, the EINTR rule, and threads.
struct SystemCallsTests {
    func pipePair() -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0)
        return (fds[0], fds[1])
    }

    @Test func aWholeBufferIsWrittenAndReadBack() throws {
        let p = pipePair()
        defer { close(p.read) }
        let bytes = (0..<50_000).map { UInt8($0 & 0xFF) }
        // Larger than a pipe's buffer: a reader thread drains while the write goes on.
        let result = Mutex<[UInt8]?>(nil)
        let reader = try Threads.start {
            var got = [UInt8](repeating: 0, count: bytes.count)
            let ok = got.withUnsafeMutableBytes { FD.read(p.read, exactly: bytes.count, into: $0) }
            result.withLock { $0 = ok ? got : nil }
        }.get()
        #expect(FD.writeAll(p.write, bytes))
        close(p.write)
        pthread_join(reader, nil)
        #expect(result.withLock { $0 } == bytes)
    }

    @Test func readingToTheEndStopsAtItsLimit() {
        let p = pipePair()
        defer { close(p.read) }
        #expect(FD.writeAll(p.write, Array("hello".utf8)))
        close(p.write)
        #expect(FD.readAll(p.read, limit: 5) == .success(Array("hello".utf8)))
        let q = pipePair()
        defer { close(q.read) }
        #expect(FD.writeAll(q.write, Array("hello".utf8)))
        close(q.write)
        #expect(FD.readAll(q.read, limit: 4) == .failure(FD.Failure(code: EFBIG)))
    }

    @Test func anInterruptedCallIsMadeAgain() {
        var calls = 0
        let n = FD.retrying { () -> Int in
            calls += 1
            if calls < 3 {
                errno = EINTR
                return -1
            }
            return 7
        }
        #expect(n == 7 && calls == 3)
        let failed = FD.retrying { () -> Int in
            errno = EBADF
            return -1
        }
        #expect(failed == -1 && errno == EBADF)
    }

    @Test func aDetachedThreadRunsAndAJoinableOneIsReturned() throws {
        let ran = Atomic<Int>(0)
        let done = Mutex(false)
        #expect(Threads.startDetached { ran.add(1, ordering: .relaxed) })
        let t = try Threads.start(stackSize: 256 * 1024) {
            ran.add(1, ordering: .relaxed)
            done.withLock { $0 = true }
        }.get()
        pthread_join(t, nil)
        #expect(done.withLock { $0 })
        for _ in 0..<1000 where ran.load(ordering: .relaxed) < 2 { usleep(1000) }
        #expect(ran.load(ordering: .relaxed) == 2)
    }
}

/// The close-on-exec channel the configuration probe talks to its child through.
struct CloseOnExecPipeTests {
    @Test func bothEndsAreCloseOnExecAndBytesFlowOneWay() throws {
        let p = try #require(FD.closeOnExecPipe())
        defer { close(p.read) }
        #expect(fcntl(p.read, F_GETFD) & FD_CLOEXEC != 0 && fcntl(p.write, F_GETFD) & FD_CLOEXEC != 0)
        #expect(FD.writeAll(p.write, Array("probe".utf8)))
        // The read end carries nothing back (MSG_NOSIGNAL: no SIGPIPE for the test process).
        #expect(send(p.read, [1], 1, Int32(MSG_NOSIGNAL)) == -1 && errno == EPIPE)
        close(p.write)
        #expect(FD.readAll(p.read, limit: 64) == .success(Array("probe".utf8)))
    }
}
