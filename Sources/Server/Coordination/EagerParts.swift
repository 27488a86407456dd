import RESP
import Shards

/// Eager parts on the shard's owner, waiting for its grant.
///
/// A multi-shard operation without a WATCH to check sends each part with its lock request,
/// in the pass's batch to the part's shard owner (Batch.lockParts), and the owner runs it as
/// soon as its shard grants the request, saving the coordinator a round trip. They used to
/// travel in a batch of their own per transaction and shard, an object and four buffers
/// that crossed cores there and back for every cross-shard transaction. Now the pass's
/// batch carries them: the owner keeps that batch (its replies too) until the end of the
/// drain, which grants what it can (numbered requests are queued there), and copies the
/// parts still waiting into a batch of their own before sending it back. That copy is the
/// contended case's cost only.
///
/// A request's parts are found from its grant: their record's number rides in the lock
/// table's entry (IntentLocks' payload, 0 for none).
struct EagerPartsStore {
    struct Record {
        /// The pass's batch they came in, while this worker keeps it (`held`; not counted)...
        var passBatch: Unmanaged<Batch>?
        /// ...or, after that, the copy the record owns.
        var copy: Batch?
        var parts: Range<Int32> = 0..<0
        /// The coordinator (the pass batch's origin; a spare copy may have served another).
        var origin = 0

        /// The batch holding the parts, while the record is alive.
        var batch: Unmanaged<Batch> { copy.map { Unmanaged.passUnretained($0) } ?? passBatch! }
    }

    private var records: [Record] = []
    private var free: [UInt32] = []
    /// Pass batches kept until the end of the drain (their replies go back then).
    private var held: [Batch] = []
    /// Records added since the held batches were last let go (they may point into them).
    private var addedWhileHeld: [UInt32] = []
    /// Copies whose parts ran, for the next copies (they never leave this worker).
    private var spareCopies: [Batch] = []

    var hasHeldBatches: Bool { !held.isEmpty }
    /// Records waiting for a grant (DEBUG LOCKS).
    var waitingCount: Int { records.count - free.count }

    /// Records the parts `range` of `batch` (kept by `hold` until `letGo`); returns the
    /// number their lock request carries in the lock table.
    mutating func add(_ batch: Batch, parts range: Range<Int32>) -> UInt32 {
        let record = Record(passBatch: Unmanaged.passUnretained(batch), copy: nil, parts: range, origin: batch.origin)
        let slot: Int
        if let f = free.popLast() {
            slot = Int(f)
            records[slot] = record
        } else {
            slot = records.count
            records.append(record)
        }
        let payload = UInt32(slot + 1)
        addedWhileHeld.append(payload)
        return payload
    }

    /// The record of `payload`, taken out (with the copy it owns, if any).
    mutating func take(_ payload: UInt32) -> Record {
        let slot = Int(payload - 1)
        let record = records[slot]
        records[slot] = Record()
        free.append(UInt32(slot))
        return record
    }

    /// A record's copy whose parts ran: kept for another copy.
    mutating func recycle(copy: Batch) {
        copy.reset()
        if spareCopies.count < 64 { spareCopies.append(copy) }
    }

    /// Keeps `batch`, whose parts records point into, until `letGo`.
    mutating func hold(_ batch: Batch) { held.append(batch) }

    /// End of the drain: parts not granted yet get copies of their own, and the kept pass
    /// batches are handed to `send` (to go back with their replies).
    mutating func letGo(_ send: (Batch) -> Void) {
        for payload in addedWhileHeld {
            let slot = Int(payload - 1)
            // Still in the pass batch: not taken since (a taken record is empty) nor copied.
            guard let pass = records[slot].passBatch else { continue }
            let range = records[slot].parts
            let spare = spareCopies.popLast()
            let copy = pass._withUnsafeGuaranteedRef { b in
                let c = spare ?? Batch(origin: b.origin, target: b.target, bytes: 256, requests: 4)
                for i in Int(range.lowerBound)..<Int(range.upperBound) {
                    let part = b.lockParts[i]
                    b.withArguments(ofLockPart: i) { args in
                        c.addLockPart(command: part.request.command, db: Int(part.request.db), resp: part.request.resp,
                                      arguments: args, sink: part.request.sink, transaction: part.request.transaction,
                                      tag: part.request.tag, shard: Int(part.shard))
                    }
                }
                return c
            }
            records[slot].copy = copy
            records[slot].passBatch = nil
            records[slot].parts = 0..<Int32(range.count)
        }
        addedWhileHeld.clearKeepingCapacity()
        for i in held.indices { send(held[i]) }  // `send` must not reach this store
        held.clearKeepingCapacity()
    }
}

extension Worker {
    /// Runs the eager parts of `lock` for `shard` (record `payload`) as the shard grants it,
    /// their replies and then the grant in the late replies to the coordinator.
    func runEagerParts(_ payload: UInt32, of lock: TransactionLock, shard shardIndex: Int) {
        guard let shard else { return }
        let record = eagerParts.take(payload)
        let late = outbox.lateReplyBatch(to: lock.coordinator)
        record.batch._withUnsafeGuaranteedRef { b in
            for i in Int(record.parts.lowerBound)..<Int(record.parts.upperBound) where b.lockParts[i].shard == shardIndex {
                let r = b.lockParts[i].request
                eagerPartScratch.clear()
                if let handler = table.shardHandlerIfKeyed(r.command) {
                    b.withArguments(ofLockPart: i) { args in
                        CommandTable.run(r.command, handler,
                                         ShardContext(shard: shard, db: Int(r.db), resp: r.resp, clientID: r.sink.id,
                                                      sink: r.sink, origin: record.origin, worker: self,
                                                      transaction: r.transaction, tag: r.tag),
                                         args, &eagerPartScratch, tag: r.tag)
                    }
                }
                // Its reply before the answers of waiters it made ready (a blocking part served
                // at once answers +BLOCKED first: see resumeWaitingOnce).
                late.addReply(command: r.command, sink: r.sink, reply: eagerPartScratch.readable)
                serveReadyKeysAfterCommand()
            }
        }
        late.addGrant(slot: lock.operationSlot, id: lock.id, shard: shardIndex)
        if let copy = record.copy { eagerParts.recycle(copy: copy) }
    }

    /// End of a drain: pass batches kept for their eager parts go back (DEBUG LOCKS' and
    /// busy scripts' paths call it too; nothing to do when none is kept).
    func letGoOfHeldBatches() {
        guard eagerParts.hasHeldBatches else { return }
        eagerParts.letGo { batch in
            outbox.withdrawFromLateReplies(batch)
            send(.replies(batch), to: batch.origin)
        }
    }
}
