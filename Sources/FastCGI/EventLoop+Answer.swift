import CFastCGI
import CGI
import Glibc
import Synchronization
import SystemCalls

/// Answering a request that is queued whole: libfcgi reads it, the application answers inline
/// (or the connection is lent to the blocking pool), and the connection is settled.
extension EventLoop {
    /// Reads the request queued whole on `c` through libfcgi, answers it, and settles the
    /// connection. True when `c` is kept, idle on this loop; after false, `c` is gone or elsewhere.
    @discardableResult
    func serve(_ c: UnsafeMutablePointer<Connection>) -> Bool {
        startServing(c)
        busy.store(1, ordering: .relaxed)
        defer { busy.store(0, ordering: .relaxed) }
        guard let reading = LibFCGIBridge.read(c.pointee.fd, into: request, maxBody: limits.maxBody) else {
            forget(c)  // libfcgi refused the request and closed the connection
            return false
        }
        return answer(c, reading)
    }

    /// Answers the request whose first `start` bytes (BEGIN_REQUEST and the params) are queued on
    /// `c` without its body, which is then dropped (`UnreadBody`): `CONTENT_LENGTH` over the
    /// limit or not a number, or a body that cannot all be queued for checking (413). True when
    /// `c` is kept, idle on this loop, with its body dropped.
    @discardableResult
    func serveWithoutBody(_ c: UnsafeMutablePointer<Connection>, start: Int, requestId: UInt16) -> Bool {
        startServing(c)
        busy.store(1, ordering: .relaxed)
        defer { busy.store(0, ordering: .relaxed) }
        guard FD.read(c.pointee.fd, exactly: start, into: peek),
            let reading = LibFCGIBridge.read(
                start: UnsafeRawBufferPointer(rebasing: peek[..<start]), requestId: requestId, answeringOn: c.pointee.fd,
                into: request)
        else {
            close(c)
            return false
        }
        c.pointee.unreadBody = UnreadBody.State(requestId: requestId)
        return answer(c, reading)
    }

    /// The connection leaves the waiting states for the request now served.
    func startServing(_ c: UnsafeMutablePointer<Connection>) {
        if c.pointee.phase == .idle { idle.subtract(1, ordering: .relaxed) }
        c.pointee.phase = .arriving
        c.pointee.needed = 0
        c.pointee.deadline = 0
        c.pointee.quietCheck = 0
        c.pointee.lastQueued = 0
        c.pointee.bodyStart = 0
    }

    /// Answers `reading` read from `c`: inline, or on the blocking pool when it may wait.
    func answer(_ c: UnsafeMutablePointer<Connection>, _ reading: LibFCGIBridge.Reading) -> Bool {
        if core.mayBlock(reading.request) {
            lend(c, reading, answer: nil)
            return false
        }
        let bytes = Self.serialize(core.handler(reading.request), for: reading.request)
        if bytes.count > Self.inlineWriteLimit(c) {
            lend(c, reading, answer: bytes)
            return false
        }
        let open = LibFCGIBridge.answer(request, with: bytes)
        return settle(c, open ? fate(of: reading) : .gone)
    }

    /// The bytes of `response` for `request` (no body for HEAD).
    static func serialize(_ response: CGIResponse, for request: CGIRequest) -> [UInt8] {
        response.serialized(includeBody: request.method != "HEAD")
    }

    /// The largest answer written on the loop: one that fits in an empty socket send buffer
    /// (a unix socket's is about 200 KiB, a new TCP connection's 16 KiB), so the write cannot
    /// wait. A peer that does not read its answers fails the write and is closed.
    static func inlineWriteLimit(_ c: UnsafeMutablePointer<Connection>) -> Int {
        c.pointee.isTCP ? 8 * 1024 : 64 * 1024
    }

    /// How the connection goes on after `reading` was answered.
    func fate(of reading: LibFCGIBridge.Reading) -> Fate {
        let keep = reading.peerKeepsConnection && !core.isStopping
        if reading.bodyLeftUnread { return .dropBody(keepAfter: keep) }
        // A body libfcgi stopped reading short (longer than declared, or cut) leaves the stream
        // at no known record: the connection goes.
        guard case .bytes = reading.request.body else { return .close }
        return keep ? .keep : .close
    }

    /// Puts `c` where its fate says; true when it is kept (idle), false when it is gone or still
    /// dropping a body.
    @discardableResult
    func settle(_ c: UnsafeMutablePointer<Connection>, _ fate: Fate) -> Bool {
        switch fate {
        case .gone:
            forget(c)
        case .close:
            close(c)
        case .keep where draining:
            close(c)
        case .keep:
            c.pointee.phase = .idle
            idle.add(1, ordering: .relaxed)
            return true
        case .dropBody(let keepAfter):
            c.pointee.phase = .droppingBody
            c.pointee.keepAfterBody = keepAfter
            // The body has the rest of a request's time to arrive.
            c.pointee.deadline = deadline()
            schedule(c.pointee.deadline)
            return dropBody(c)
        }
        return false
    }

    /// Drops what is queued of `c`'s unread body; true when its end was reached and `c` is kept,
    /// idle, for its next request (false: still dropping, or closed).
    func dropBody(_ c: UnsafeMutablePointer<Connection>) -> Bool {
        switch UnreadBody.drop(c.pointee.fd, &c.pointee.unreadBody, scratch: peek) {
        case .waiting:
            return false
        case .closed:
            close(c)
            return false
        case .refused(let reason):
            report("dropped a connection: \(reason)")
            close(c)
            return false
        case .finished:
            c.pointee.deadline = 0
            return settle(c, c.pointee.keepAfterBody ? .keep : .close)
        }
    }
}
