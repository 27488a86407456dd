/// `appendfsync always` on the worker side (the sequencer's side: DurabilityGate). A client
/// that ran a command that may write has its output held until the fsync that covers its
/// writes: at the end of the loop pass its output gets a mark tagged with the order clock's
/// value then (every record of those writes is numbered below it), and the marked bytes go
/// out once the sequencer publishes that everything below the tag is on disk. Reads of a
/// client without a write go out at once (Redis holds them too, until the fsync of its loop
/// iteration; nothing acknowledged can be lost either way). The marks keep the output's
/// order and let a client that keeps pipelining writes get its older replies as their
/// fsyncs end, not only after the last one.
struct FsyncMarks {
    /// Bytes at the output's front whose fsync is done (they may go).
    var released = 0
    /// Held bytes: up to `end` (counted from the output's front) once durableBelow >= tag.
    var pending: [(end: Int, tag: UInt64)] = []

    mutating func sent(_ n: Int) {
        released = max(0, released - n)
        for i in pending.indices { pending[i].end -= n }
    }
}

extension Worker {
    /// flushClients' first step while replies are held (or were, and some still wait):
    /// marks the output of the clients that wrote this pass, releases what is durable.
    func holdRepliesForFsync() {
        guard holdsWriteReplies else { releaseAllHeldForFsync(); return }
        let tag = context.replication.clock.next.load(ordering: .sequentiallyConsistent)
        for c in flushList where c.wroteSinceFsyncMark && !c.isClosed {
            if c.output.isEmpty {
                // Its write's reply is still to come (kept flagged), or was muted.
                if !c.hasOutstandingReplies { c.wroteSinceFsyncMark = false }
                continue
            }
            // No new bytes since its last mark (a client kept in the flush list): that mark
            // covers them already.
            if c.fsyncMarks.pending.last?.end != c.output.count {
                c.fsyncMarks.pending.append((c.output.count, tag))
            }
            // Replies still outstanding may be writes: they get a mark of their own.
            if !c.hasOutstandingReplies { c.wroteSinceFsyncMark = false }
            if !c.inFsyncParked {
                c.inFsyncParked = true
                fsyncParked.append(c)
            }
        }
        releaseDurableReplies()
    }

    /// Lets out the output whose fsync is done; publishes what the rest waits for.
    func releaseDurableReplies() {
        guard !fsyncParked.isEmpty else { return }
        let gate = context.durability
        let durable = gate.durableBelow.load(ordering: .sequentiallyConsistent)
        var kept = 0
        var wanted: UInt64 = 0
        var oldest = UInt64.max
        for i in fsyncParked.indices {
            let c = fsyncParked[i]
            if !c.isClosed {
                while let first = c.fsyncMarks.pending.first, first.tag <= durable {
                    c.fsyncMarks.released = max(c.fsyncMarks.released, first.end)
                    c.fsyncMarks.pending.removeFirst()
                }
                if c.fsyncMarks.released > 0 { markForFlush(c) }
            }
            if c.isClosed || c.fsyncMarks.pending.isEmpty {
                c.inFsyncParked = false
                continue
            }
            wanted = max(wanted, c.fsyncMarks.pending.last!.tag)
            oldest = min(oldest, c.fsyncMarks.pending[0].tag)
            fsyncParked[kept] = c
            kept += 1
        }
        fsyncParked.removeLast(fsyncParked.count - kept)
        fsyncParkedOldestTag = oldest
        let want = gate.wanted[index]
        if want.value.load(ordering: .relaxed) != wanted {
            want.value.store(wanted, ordering: .sequentiallyConsistent)
            // The sequencer may sleep with nothing to merge: it needs a pass to publish.
            if wanted > durable { context.sequencerWaker.wakeIfAsleep() }
        }
    }

    /// appendfsync is no longer always (or the AOF is off): nothing is held any more.
    private func releaseAllHeldForFsync() {
        for c in fsyncParked {
            c.inFsyncParked = false
            c.fsyncMarks = FsyncMarks()
            c.wroteSinceFsyncMark = false
            if !c.isClosed { markForFlush(c) }
        }
        fsyncParked.removeAll()
        fsyncParkedOldestTag = .max
        context.durability.wanted[index].value.store(0, ordering: .relaxed)
    }

    /// How much of the client's output may go now (writeOut, while replies are held).
    @inline(never)
    func sendableBytes(_ c: Client) -> Int {
        c.wroteSinceFsyncMark || !c.fsyncMarks.pending.isEmpty ? c.fsyncMarks.released : .max
    }

    /// Before sleeping: held output became durable meanwhile (the sequencer's wake may
    /// have come before this worker said it sleeps).
    var durableRepliesReady: Bool {
        !fsyncParked.isEmpty
            && context.durability.durableBelow.load(ordering: .sequentiallyConsistent) >= fsyncParkedOldestTag
    }
}
