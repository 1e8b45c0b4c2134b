import CFastCGI
import CGI
import Glibc
import Synchronization
import SystemCalls

extension EventLoop {
    // MARK: - Deadlines

    /// A deadline a request timeout from now (sooner once shutdown has begun).
    func deadline() -> Int {
        let d = monotonicMilliseconds() + core.requestTimeout
        return draining ? min(d, drainEnds) : d
    }

    /// Makes sure a sweep comes by `due`.
    func schedule(_ due: Int) {
        if nextSweep == 0 || due < nextSweep { nextSweep = due }
    }

    /// Acts on the deadlines and quiet checks that are due, and finds the next.
    func sweep() {
        let now = monotonicMilliseconds()
        var next = Int.max
        var cursor = connections.first
        while let c = cursor {
            cursor = c.pointee.next
            if c.pointee.deadline != 0 && c.pointee.deadline <= now && c.pointee.phase != .lent {
                // Past its deadline: closed at once, whatever it sent.
                close(c)
                continue
            }
            if c.pointee.quietCheck != 0 && c.pointee.quietCheck <= now {
                c.pointee.quietCheck = 0
                if c.pointee.phase == .arriving && c.pointee.bodyStart > 0 {
                    let queued = RequestArrival.queued(c.pointee.fd)
                    if queued == c.pointee.lastQueued {
                        // The body cannot all be queued for checking: answered as too large,
                        // then dropped; a connection kept after it looks at what follows.
                        if serveWithoutBody(c, start: c.pointee.bodyStart, requestId: c.pointee.requestId) {
                            arrive(c, hangUp: false)
                        }
                        continue
                    }
                    c.pointee.lastQueued = queued
                    c.pointee.quietCheck = now + Self.quietMilliseconds
                }
            }
            if c.pointee.deadline != 0 && c.pointee.phase != .lent { next = min(next, c.pointee.deadline) }
            if c.pointee.quietCheck != 0 { next = min(next, c.pointee.quietCheck) }
        }
        nextSweep = next == .max ? 0 : max(next, now + Self.sweepMilliseconds)
    }
}
