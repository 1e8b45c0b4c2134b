import CFastCGI
import CGI
import Glibc
import Synchronization
import SystemCalls

/// Lending a connection to the blocking pool and taking it back.
extension EventLoop {
    /// Hands `c` and its request to the blocking pool, which answers it (running the handler
    /// when `answer` is nil) and gives the connection back.
    func lend(_ c: UnsafeMutablePointer<Connection>, _ reading: LibFCGIBridge.Reading, answer: [UInt8]?) {
        poller.remove(c.pointee.fd)
        c.pointee.phase = .lent
        let lentRequest = request
        request = LibFCGIBridge.makeRequest()
        let core = self.core
        let timeout = core.requestTimeout
        core.pool.submit { [self] in
            let bytes = answer ?? Self.serialize(core.handler(reading.request), for: reading.request)
            let fd = c.pointee.fd
            Self.setBlocking(fd, true, sendTimeoutMilliseconds: timeout)
            let open = LibFCGIBridge.answer(lentRequest, with: bytes)
            if open { Self.setBlocking(fd, false, sendTimeoutMilliseconds: 0) }
            LibFCGIBridge.release(lentRequest)
            giveBack(Returned(connection: c, fate: open ? fate(of: reading) : .gone))
        }
    }

    /// Called on a pool thread: queues `c` for the loop and wakes it.
    func giveBack(_ r: Returned) {
        returned.withLock { $0.append(r) }
        poller.wake()
    }

    /// Takes back the connections the pool is done with.
    func takeReturned() {
        let back = returned.withLock { list -> [Returned] in
            defer { list.removeAll() }
            return list
        }
        for r in back {
            let c = r.connection
            switch r.fate {
            case .gone, .close:
                settle(c, r.fate)
            case .keep, .dropBody:
                guard poller.add(c.pointee.fd, events: Poller.connectionEvents, token: UInt64(UInt(bitPattern: c))) else {
                    close(c)
                    continue
                }
                // Whatever arrived meanwhile is announced by the registration itself.
                settle(c, r.fate)
            }
        }
    }
}
