/// Shutdown: stop accepting, answer what has arrived, close the rest.
///
/// `FastCGIServer.beginShutdown()` sets the flag and wakes every loop. Each loop then:
/// - stops watching the listening socket (connections still in the kernel's backlog stay there,
///   for the next process on the same socket under socket activation);
/// - answers a request already queued on an idle kept-alive connection, and closes the others:
///   a front end may be writing a request on one at that instant, the one race shutdown cannot
///   avoid (nginx retries such a request on a fresh connection);
/// - gives a connection accepted or started before shutdown `shutdownGraceMilliseconds` to
///   finish sending its request, and answers it (the front end opened it to send one);
/// - closes each connection after its answer, waits for those lent to the blocking pool, and
///   returns when it has none left.
/// The caller bounds the whole (`upsign serve --drain-timeout`).
extension EventLoop {
    /// Enters the drain; called on the loop's thread when it sees the flag.
    func startDraining() {
        draining = true
        drainEnds = monotonicMilliseconds() + Self.shutdownGraceMilliseconds
        if listening {
            poller.remove(core.configuration.socket.fd)
            listening = false
        }
        var cursor = connections.first
        while let c = cursor {
            cursor = c.pointee.next
            switch c.pointee.phase {
            case .idle:
                // One last look: a request already queued is answered (and the connection then
                // closed, as draining); none, or part of one, and an idle connection is closed.
                arrive(c, hangUp: false)
            case .fresh, .arriving, .droppingBody:
                c.pointee.deadline = c.pointee.deadline == 0 ? drainEnds : min(c.pointee.deadline, drainEnds)
                schedule(c.pointee.deadline)
            case .lent:
                break
            }
        }
        // Those the last look left waiting for the rest of a request keep it until the grace ends.
        cursor = connections.first
        while let c = cursor {
            cursor = c.pointee.next
            if c.pointee.phase == .idle { close(c) }
        }
    }
}
