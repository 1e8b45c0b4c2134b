import CFastCGI
import Glibc
import SystemCalls

/// Threads for the work that may wait, so that it never stalls an event loop: a request the
/// application says may block (an OSS callback whose public key may have to be fetched, up to
/// 5 s), and an answer too large to be written without waiting for the peer to read.
///
/// Threads are started when work finds none idle, up to `limit`, and then stay; jobs beyond
/// wait in order. A job owns its connection until it hands it back to its loop.
final class BlockingPool: @unchecked Sendable {
    /// Work for a pool thread.
    typealias Job = () -> Void

    /// The most threads.
    let limit: Int
    private let stackSize: Int
    // pthread primitives at fixed addresses, guarding everything below them.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var jobs: [Job] = []
    private var head = 0
    private var idle = 0
    private var started = 0
    private var running = 0
    private var stopping = false
    private var threads: [pthread_t] = []

    /// A pool of at most `limit` threads of `stackSize` bytes of stack.
    init(limit: Int, stackSize: Int) {
        self.limit = max(1, limit)
        self.stackSize = stackSize
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    /// Jobs being run now.
    var busy: Int { locked { running } }
    /// Threads started.
    var threadCount: Int { locked { started } }

    /// Runs `job` on a pool thread, starting one when none is idle and the limit allows.
    func submit(_ job: @escaping Job) {
        let spawn = locked { () -> Bool in
            jobs.append(job)
            if idle > 0 {
                pthread_cond_signal(condition)
                return false
            }
            guard started < limit else { return false }
            started += 1
            return true
        }
        if spawn { startThread() }
    }

    /// Lets the threads finish the jobs queued, then waits for them to exit.
    func stop() {
        let toJoin = locked { () -> [pthread_t] in
            stopping = true
            pthread_cond_broadcast(condition)
            return threads
        }
        for t in toJoin { pthread_join(t, nil) }
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    private func startThread() {
        guard case .success(let thread) = Threads.start(stackSize: stackSize, { self.work() }) else {
            // No thread: the job waits for one that exists, or for the next start.
            locked { started -= 1 }
            return
        }
        locked { threads.append(thread) }
    }

    private func work() {
        while let job = nextJob() {
            job()
            locked { running -= 1 }
        }
    }

    /// The next job, waiting for one; nil once stopping with none left.
    private func nextJob() -> Job? {
        locked {
            while head == jobs.count {
                if stopping { return nil }
                idle += 1
                pthread_cond_wait(condition, mutex)
                idle -= 1
            }
            let job = jobs[head]
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            }
            running += 1
            return job
        }
    }
}
