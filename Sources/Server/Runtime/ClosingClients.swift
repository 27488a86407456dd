/// A client that disconnects while commands it sent still run on other shards. Redis runs
/// every command it has read before it notices a close, and so does this server: what was
/// dispatched still runs. The closed client is kept (out of the fd table, whose slot a new
/// connection may take) until its last reply is in, so its replies keep their order and what
/// waits on that order still happens: an operation waiting for its turn (Locking.swift) asks
/// for its locks once the earlier replies are in, and a replica's next master link starts
/// only once the dropped one's commands have all run (MasterLink.swift). Its replies are
/// dropped as they arrive.
extension Worker {
    /// Called as `c` closes: kept while replies are owed to it.
    func keepWhileRepliesOwed(_ c: Client) {
        guard c.hasOutstandingReplies else { return }
        clients.closing[c.id] = c
    }

    /// A reply for a closed client: it takes its place in order and is dropped; an operation
    /// that waited for it may start; the client is forgotten once nothing more is owed.
    func settleClosedClientReply(_ c: Client, ticket: UInt32) {
        c.fill(ticket: ticket, with: UnsafeRawBufferPointer(start: nil, count: 0))
        c.output.clear()
        startOperationAwaitingTurn(c)
        if !c.hasOutstandingReplies && c.operationAwaitingTurn == nil {
            clients.closing[c.id] = nil
            if let link = masterLink, link.closedClient === c { link.closedClientSettled() }
        }
    }
}
