import Net

/// A peer that ends its connection while some of what it sent has not run or been answered.
///
/// redis-server runs a pipeline as it reads it, and answers before it reads again, so a
/// client that sends and then shuts its side (`nc` at the end of its input, a script that
/// writes and hangs up) has had everything run and, if it still reads, answered. Here a
/// client's commands may still wait in its input behind a multi-shard operation that
/// pauses it, or have their replies on their way from other workers, when the end arrives.
/// Closing then would drop commands redis-server would have run, and replies it would have
/// sent. So the connection stays until they are done (`Client.hangUp`):
/// - after a read returns 0 (`inputEnded`), nothing more is read (a level-triggered loop
///   would report the end over and over), what waits runs, and the replies go;
/// - once the peer is gone (reset, a failed read or write, EPOLLHUP/EPOLLERR, which come
///   whatever the interest), the connection leaves the loop and replies are dropped, but
///   what waits still runs.
/// After the end its commands run one at a time, each once the one before it answered, as
/// redis-server runs them. A client blocked in a blocking command or WAIT (once they wait:
/// a WAIT the sequencer answers at once, or a pop that finds an element, does not block)
/// closes once the replies before it went, as redis-server frees a blocked client when its
/// read returns 0 (it wrote the earlier replies before it read again); so does one that
/// blocks on a command run after its end. A command cut short by the end is dropped, as
/// there. Once nothing is owed, a reply the peer does not read (a write that would block)
/// is dropped with the connection, as redis-server's next read would have freed it.
extension Worker {
    /// The peer ended the connection (`gone`: it cannot read either).
    func peerHungUp(_ c: Client, gone: Bool) {
        // Replies held for their fsync (appendfsync always) are owed too.
        guard c.hangUp == .none, !c.isMaster, owesWork(c) || (holdsWriteReplies && !c.output.isEmpty) else {
            closeClient(c)
            return
        }
        c.hangUp = .inputEnded
        hungUpToRun.append(c)
        if gone {
            peerGone(c)
        } else {
            loop.modify(c.fd, events: c.wantsWrite ? EventLoop.writable : 0, token: UInt64(c.fd))
        }
    }

    /// Nothing reaches the peer any more: the connection leaves the loop (EPOLLHUP and
    /// EPOLLERR would come on every pass) and its output is dropped; it closes once what it
    /// owes is done. From the loop's event handling or a write (they may close it).
    func peerGone(_ c: Client) {
        guard c.hangUp != .gone, !c.isClosed else { return }
        c.hangUp = .gone
        loop.remove(c.fd)
        c.wantsWrite = false
        dropOutput(c)
        hungUpToRun.append(c)
        finishHangUpIfDone(c)
        if c.closeASAP { closeClient(c) }
    }

    /// A gone peer's replies, as they come.
    func dropOutput(_ c: Client) {
        let n = c.output.count
        c.output.clear()
        c.fsyncMarks.sent(n)  // its held replies' marks count from the output's front
    }

    /// Still to run or to answer: commands waiting in its input, or read and not run yet;
    /// replies not in yet; an operation or PUBLISH waiting for its turn.
    private func owesWork(_ c: Client) -> Bool {
        c.hasOutstandingReplies || c.pausedByOperation || c.readNotRun || c.operationAwaitingTurn != nil
            || c.publishAwaitingTurn != nil || c.publishesAwaitingCounts > 0
    }

    /// Whether it waits as Redis would have blocked it: a WAIT the sequencer could not
    /// answer at once, or a blocking command's request waiting on its keys (not one
    /// served and finishing: its reply is coming).
    private func blocksNow(_ c: Client) -> Bool {
        c.inWait ? c.waitBlocks : waitingBlockedOperation(of: c) != nil
    }

    /// Its blocking command's operation while the request waits on its keys (state 1).
    private func waitingBlockedOperation(of c: Client) -> MultiShardOperation? {
        guard let slot = blockedClients.operationOf[c.id], let op = operations[slot], op.clientID == c.id,
              op.state == 1 else { return nil }
        return op
    }

    /// Whether a closing client (closeAfterReply) whose output went may close: nothing is
    /// owed, or it hung up and blocks, every reply before the blocking command's in (it
    /// pauses its client: nothing after it ran).
    func mayCloseOnceFlushed(_ c: Client) -> Bool {
        guard c.hasOutstandingReplies else { return true }
        guard c.hangUp != .none else { return false }
        if c.inWait { return c.waitBlocks && c.unfilledTickets <= 1 }  // WAIT's reply is the last owed
        guard let op = waitingBlockedOperation(of: c) else { return false }
        return c.isNextReply(op.ticket)
    }

    /// A hung-up client's once nothing is owed, or it blocks: it closes when it is next
    /// flushed (`closeASAP`), after its output went if the peer may still read it
    /// (`closeAfterReply`, `mayCloseOnceFlushed`). Only marks it: the callers run in the
    /// middle of a pass. Input that may still run waits for that (runHungUpClients) unless
    /// it just ran (`ranInput`: what is left is a command cut short, dropped as Redis drops
    /// it).
    func finishHangUpIfDone(_ c: Client, ranInput: Bool = false) {
        guard c.hangUp != .none, !c.isClosed, !c.closeASAP else { return }
        if owesWork(c) && !blocksNow(c) { return }
        if !ranInput && !c.input.isEmpty && !c.pausedByOperation { return }
        c.input.discardFront(c.input.count)
        if c.hangUp == .gone {
            c.closeASAP = true
        } else {
            c.closeAfterReply = true
        }
    }

    /// The sequencer could not answer the WAIT of a client at once.
    func waitBlocks(fd: Int32, id: UInt64) {
        guard let c = clients.client(fd: fd, id: id), c.inWait else { return }
        c.waitBlocks = true
        if c.hangUp != .none { hungUpToRun.append(c) }
    }

    /// Hung-up clients whose state changed this pass (their end, a reply, a block): those
    /// that may run their next command do, the others close if they are done. Before the
    /// pass's batches go and its clients are flushed.
    func runHungUpClients() {
        while !hungUpToRun.isEmpty {
            var ready: [Client] = []
            swap(&ready, &hungUpToRun)
            for c in ready where !c.isClosed {
                if !c.input.isEmpty && !c.pausedByOperation && !c.hasOutstandingReplies {
                    process(c)  // which finishes it when its input ran
                } else {
                    finishHangUpIfDone(c)
                    markForFlush(c)
                }
            }
        }
    }
}
