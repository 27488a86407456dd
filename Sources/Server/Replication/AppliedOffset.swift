/// The offset a replica reports (REPLCONF ACK, slave_repl_offset, ROLE) counts a command of
/// the master's stream once it has run, as Redis's reploff does. Ours hands a command for
/// another shard to that shard's worker and goes on, so a command counted as it is handed
/// over could still be on its way: an ACK sent then would let WAIT return (and a client read
/// this replica) before the write is here. The master client's reply tickets say when a
/// command is done (its replies are dropped, its tickets kept): a command ending at offset O
/// is applied once every ticket taken up to it has been answered.
struct AppliedOffset {
    /// Offset of the last byte whose command, and every earlier one, has run.
    private(set) var offset: Int64 = 0
    /// Commands still running on a shard: the ticket after each one's, and its end offset.
    private var inFlight: [(mark: UInt32, end: Int64)] = []
    private var first = 0
    /// A GETACK's answer (the offset before it), waiting for that offset to be applied.
    var owedAck: Int64?

    var isBehind: Bool { first < inFlight.count }

    mutating func reset(to offset: Int64) {
        self.offset = offset
        inFlight.removeAll()
        first = 0
        owedAck = nil
    }

    /// The command ending at `end` was dispatched for `master` (its tickets, if any, taken).
    mutating func dispatched(upTo end: Int64, master: Client) {
        if master.hasOutstandingReplies {
            inFlight.append((master.nextTicket, end))
        } else {
            offset = end
            inFlight.removeAll(keepingCapacity: true)
            first = 0
        }
    }

    /// Moves past the commands whose replies are all in; true if the offset moved.
    mutating func advance(master: Client) -> Bool {
        let before = offset
        while first < inFlight.count, master.repliesDelivered(before: inFlight[first].mark) {
            offset = inFlight[first].end
            first += 1
        }
        if first == inFlight.count {
            inFlight.removeAll(keepingCapacity: true)
            first = 0
        }
        return offset != before
    }
}

extension MasterLink {
    /// Worker 0, once per loop iteration: the master's commands that ran on other shards
    /// since are now counted (published for INFO and ROLE), and a GETACK waiting for them
    /// is answered.
    func advanceAppliedOffset() {
        guard appliedOffset.isBehind, let c = client, appliedOffset.advance(master: c) else { return }
        publishOffsets()
        if let owed = appliedOffset.owedAck, appliedOffset.offset >= owed {
            appliedOffset.owedAck = nil
            sendAck(offset: owed)
        }
    }

    /// REPLCONF GETACK: answered with the offset before it (Redis's reploff at that moment)
    /// once everything up to there has run.
    func answerGetAck() {
        let wanted = processedOffset
        if appliedOffset.offset >= wanted {
            sendAck(offset: wanted)
        } else {
            appliedOffset.owedAck = wanted
        }
    }
}
