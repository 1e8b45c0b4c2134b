/// An event loop's connections, in a list threaded through them: insertion and removal cost
/// two pointer writes, and shutdown and the deadline sweep walk it.
struct ConnectionList {
    private(set) var first: UnsafeMutablePointer<Connection>?
    /// How many there are.
    private(set) var count = 0

    /// Adds `c` at the front.
    mutating func insert(_ c: UnsafeMutablePointer<Connection>) {
        c.pointee.previous = nil
        c.pointee.next = first
        first?.pointee.previous = c
        first = c
        count += 1
    }

    /// Takes `c` out.
    mutating func remove(_ c: UnsafeMutablePointer<Connection>) {
        if let p = c.pointee.previous { p.pointee.next = c.pointee.next } else { first = c.pointee.next }
        c.pointee.next?.pointee.previous = c.pointee.previous
        c.pointee.previous = nil
        c.pointee.next = nil
        count -= 1
    }

    /// Calls `body` with each connection; `body` may remove the one it is given.
    func forEach(_ body: (UnsafeMutablePointer<Connection>) -> Void) {
        var cursor = first
        while let c = cursor {
            cursor = c.pointee.next
            body(c)
        }
    }
}
