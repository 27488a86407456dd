/// A worker's connections, by file descriptor: a reply names its client by fd and id (the id
/// tells a reused descriptor apart), so finding it is an index. Closed clients still owed
/// replies are kept apart, by id, until the last one is in (ClosingClients.swift).
struct ClientTable {
    private var byFD: [Client?] = []
    /// Open connections (the replica's link to its master included).
    private(set) var count = 0
    /// Closed clients whose dispatched commands still run, by id.
    var closing: [UInt64: Client] = [:]

    mutating func add(_ c: Client) {
        let slot = Int(c.fd)
        if slot >= byFD.count { byFD += Array(repeating: nil, count: slot + 64 - byFD.count) }
        byFD[slot] = c
        count += 1
    }

    /// Forgets an open connection (its slot may be taken by the next one on that fd).
    mutating func remove(_ c: Client) {
        byFD[Int(c.fd)] = nil
        count -= 1
    }

    /// The open connection on `fd`, if any.
    @inline(__always)
    subscript(fd fd: Int) -> Client? {
        fd >= 0 && fd < byFD.count ? byFD[fd] : nil
    }

    /// The client that `fd` and `id` named when a reply was promised: the connection still
    /// open, or the closed one still owed replies.
    @inline(__always)
    func client(fd: Int32, id: UInt64) -> Client? {
        if let c = self[fd: Int(fd)], c.id == id { return c }
        return closing.isEmpty ? nil : closing[id]
    }

    /// Every open connection.
    var open: some Sequence<Client> { byFD.lazy.compactMap { $0 } }
}
