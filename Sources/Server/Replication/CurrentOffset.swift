import RESP

/// INFO and ROLE report master_repl_offset as Redis does: including every write acknowledged
/// before they were asked (Sentinel, clients and tests compare these offsets).
///
/// Only the sequencer knows the offset (it merges the workers' records into the stream), so
/// the command asks it, as WAIT does: this worker hands its records over, takes the clock's
/// next number as the bound (every acknowledged write's record is numbered below it), and
/// the sequencer publishes the offset once everything below the bound is merged; the reply
/// is rendered then. Writes pay nothing for it: the cost is on INFO's path, not SET's, and a
/// lock or a per-write publication would have put it on every write.
extension Worker {
    /// Renders the reply; the call is the command's when it runs at once, an empty one later.
    typealias OffsetReply = @Sendable (Worker, Client, CommandCall, inout ByteBuffer) -> Void

    /// Runs `render` now if the published offset cannot lag (nothing is recorded) or the
    /// command may not wait (inside EXEC); otherwise once the sequencer has published an
    /// offset that includes every write acknowledged so far. The client's later commands
    /// wait meanwhile, so replies keep their order.
    func withCurrentReplicationOffset(_ c: Client, call: CommandCall, out: inout ByteBuffer,
                                      _ render: @escaping OffsetReply) {
        let replication = context.replication
        guard replication.propagating.load(ordering: .acquiring), !isInsideExec(c, call) else {
            render(self, c, call, &out)
            return
        }
        handOffReplicationRecords()
        let ticket = c.takeTicket()
        c.pausedByOperation = true
        let fd = c.fd, id = c.id
        let bound = replication.clock.next.load(ordering: .sequentiallyConsistent)
        context.postToSequencer(.offsetQuery(ReplicationMaster.OffsetQuery(
            sequenceBound: bound, worker: index,
            answer: { worker in worker.answerWithCurrentOffset(fd: fd, id: id, ticket: ticket, render) })))
    }

    private func answerWithCurrentOffset(fd: Int32, id: UInt64, ticket: UInt32, _ render: OffsetReply) {
        guard let c = clients.client(fd: fd, id: id) else { return }
        if c.isClosed {
            settleClosedClientReply(c, ticket: ticket)
            return
        }
        var reply = ByteBuffer(capacity: 1024)
        // `render` may itself answer later (INFO gathers every worker's report): it then takes
        // the next ticket, and this one is filled with nothing.
        render(self, c, CommandCall(), &reply)
        deliverDeferredReply(to: c, ticket: ticket, reply.readable)
        c.pausedByOperation = false
        if !c.input.isEmpty { process(c) }
    }

    /// A command run by EXEC (nested under its locks, or inline, where the client's current
    /// command is still EXEC) answers at once, as inside Redis's EXEC nothing blocks.
    private func isInsideExec(_ c: Client, _ call: CommandCall) -> Bool {
        if call.nesting != nil || c.transaction != nil { return true }
        guard let running = c.lastCommandIndex else { return false }
        return table.specs[Int(running)].name == "exec"
    }
}
