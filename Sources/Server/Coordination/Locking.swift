import RESP
import Shards

/// A command that arrived while a lock it conflicts with was held: it waits on the shard,
/// with its own copy of its arguments, and runs when the lock is released.
struct WaitingCommand {
    let command: UInt16
    let db: Int
    let resp: RESPVersion
    let bytes: [UInt8]
    let spans: [ArgSpan]
    let sink: ReplySink
    let origin: Int
    let client: UInt64
    let tag: UInt64
}

/// A grant of the worker's shard waiting to be acted on (Worker.actOnGrants).
struct PendingGrant {
    let grant: IntentLocks.Grant
    let shard: Int
}

/// The commands waiting on a worker's shard, in arrival order, and how many each client has
/// there: a client's later command for the shard waits behind its earlier one, so its order
/// holds.
struct WaitingCommands {
    private(set) var queue: [WaitingCommand] = []
    private var perClient = IDMap<Int>()

    var isEmpty: Bool { queue.isEmpty }
    func hasCommand(of client: UInt64) -> Bool { perClient[client] != nil }

    mutating func append(_ w: WaitingCommand) {
        queue.append(w)
        perClient[w.client, default: 0] += 1
    }

    /// Moves every waiting command into `taken` (empty; those still blocked are appended
    /// again). Swapped, not copied, and the per-client counts keep their table: a client
    /// whose chained requests hold its commands back sends them through here all the time.
    mutating func takeAll(into taken: inout [WaitingCommand]) {
        swap(&queue, &taken)
        perClient.removeAll(keepingCapacity: true)
    }
}

/// Intent locks on the worker side: requesting and releasing them for multi-shard
/// operations, granting them on the owned shard, and holding back single commands that
/// touch locked keys (so no client sees a transaction half-applied).
extension Worker {
    /// Commands wait on this shard, or chained lock requests not yet granted hold back
    /// their clients' next commands: single commands must be checked (mustWait).
    var hasWaitingCommands: Bool { !waiting.isEmpty || !chainedRequestsPending.isEmpty }

    /// Whether a single command on `shard` must be checked (mustWait) before it runs: a lock
    /// is held, commands wait, or ready keys are held unserved (BlockedClients.swift).
    @inline(__always)
    func commandsMayWait(_ shard: Shard) -> Bool {
        !shard.locks.isIdle || hasWaitingCommands || readyKeysHeld
    }

    /// A command of `client` waits on this shard, or a chained lock request of it is not
    /// granted here yet: the client's next command here must come after them.
    func hasQueuedWork(of client: UInt64) -> Bool {
        waiting.hasCommand(of: client) || chainedRequestsPending[client] != nil
    }

    // MARK: Single commands

    /// Whether a command must wait: a granted lock holds one of its keys (or the whole
    /// shard; a command that only reads passes locks that only read), an earlier command of
    /// the same client is already waiting here, or one of its keys was made ready and its
    /// blocked clients are not served yet. That last hold lasts
    /// until requests received before the write are known to be here (earlierBlockingRequestsArrived);
    /// Redis serves the blocked clients right after the write, so a command run in between
    /// would take (or see) what they are owed. Blocking commands queue behind the waiters
    /// themselves (awaitsServing), so they never wait here for that.
    @inline(never)
    func mustWait(_ shard: Shard, command: UInt16, db: Int, args: Arguments, origin: Int, client: UInt64) -> Bool {
        if !commandsMayWait(shard) { return false }
        if hasQueuedWork(of: client) { return true }
        // Forgetting watches touches no data: no lock holds it. Held behind one, it let a
        // transaction granted at the lock's release find a watch UNWATCH had dropped.
        if command == unwatchAllPart { return false }
        if shard.locks.wholeShardHeld { return true }
        let route = table.routes[Int(command)]
        let checkReady = readyKeysHeld && !route.mayBlock
        let reading = route.readOnly
        @inline(__always) func waitsFor(_ key: UnsafeRawBufferPointer) -> Bool {
            shard.locks.blocks(key: key, reading: reading) || (checkReady && shard.blocked.awaitsServing(db: db, key: key))
        }
        if route.firstKey == 0 {
            // No key positions: movable keys (ZMPOP, LMPOP, ZUNION... on one shard). Every
            // argument is checked as a key (at worst it waits when it need not). They ran at
            // once: a pop then went out to replicas before the group of the operation holding
            // its key, though it ran after that operation's part (ZMPOP between a cross-shard
            // ZUNIONSTORE's read of its source and the store: replicas stored the set without
            // the popped member).
            // The parts of blocking pops (`__bzpop`, `__blpop`) too.
            for i in 1..<args.count where waitsFor(args[i]) { return true }
            return false
        }
        guard args.count > Int(route.firstKey) else { return false }
        let last = min(route.lastKeyIndex(argumentCount: args.count), args.count - 1)
        var i = Int(route.firstKey)
        while i <= last {
            if waitsFor(args[i]) { return true }
            i += max(1, Int(route.step))
        }
        return false
    }

    @inline(never)  // the cold path of runOnShard: keep it out of the hot one
    func wait(command: UInt16, db: Int, resp: RESPVersion, args: Arguments, sink: ReplySink, origin: Int,
              tag: UInt64 = 0) {
        var bytes: [UInt8] = []
        var spans: [ArgSpan] = []
        var total = 0
        for i in 0..<args.count { total += args[i].count }
        bytes.reserveCapacity(total)  // one allocation each, not one per growth
        spans.reserveCapacity(args.count)
        for i in 0..<args.count {
            spans.append(ArgSpan(offset: bytes.count, count: args[i].count))
            bytes.append(contentsOf: args[i])
        }
        waiting.append(WaitingCommand(command: command, db: db, resp: resp, bytes: bytes, spans: spans,
                                      sink: sink, origin: origin, client: sink.id, tag: tag))
    }

    /// Runs the waiting commands that no lock blocks any more, in arrival order; a client's
    /// command stays behind its earlier one that still waits.
    /// A command run from here can end a hold on ready keys (serveReadyKeys) and so ask
    /// for this again: the inner call only asks the running one for another round.
    func resumeWaiting() {
        guard !waiting.isEmpty else { return }
        if resumingWaiting {
            resumeWaitingAgain = true
            return
        }
        resumingWaiting = true
        defer { resumingWaiting = false }
        repeat {
            resumeWaitingAgain = false
            resumeWaitingOnce()
        } while resumeWaitingAgain && !waiting.isEmpty
    }

    private func resumeWaitingOnce() {
        guard let shard else { return }
        var queue: [WaitingCommand] = []
        swap(&queue, &waitingScratch)  // empty, with the capacity of the last pass
        waiting.takeAll(into: &queue)
        defer {
            queue.removeAll(keepingCapacity: true)
            swap(&queue, &waitingScratch)
        }
        for w in queue {
            let blocked = w.bytes.withUnsafeBytes { bytes in
                w.spans.withUnsafeBufferPointer { spans in
                    mustWait(shard, command: w.command, db: w.db,
                             args: Arguments(base: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!,
                                             spans: spans.baseAddress!, count: spans.count),
                             origin: w.origin, client: w.client)
                }
            }
            if blocked {
                waiting.append(w)
                continue
            }
            waitScratch.clear()
            if let handler = table.shardHandlerIfKeyed(w.command) {
                w.bytes.withUnsafeBytes { bytes in
                    w.spans.withUnsafeBufferPointer { spans in
                        let args = Arguments(base: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!,
                                             spans: spans.baseAddress!, count: spans.count)
                        CommandTable.run(w.command, handler, ShardContext(shard: shard, db: w.db, resp: w.resp,
                                                                          clientID: w.client, sink: w.sink, origin: w.origin,
                                                                          worker: self),
                                         args, &waitScratch, tag: w.tag)
                    }
                }
            }
            // The command's reply goes out before the answers of the waiters it made ready, as
            // from a batch: a blocking part that blocked here and was served at once must answer
            // +BLOCKED first, or its operation takes the +BLOCKED for its last word and the
            // element promised to it is never popped (the key stalls for every later waiter).
            // Answers for this worker are queued, never delivered inline, so here the waiters
            // are served first, as after any command, and then the reply is delivered (inline:
            // from a copy, since what it continues may resume waiting commands again).
            if w.origin == index {
                serveReadyKeysAfterCommand()
                let reply = Array(waitScratch.readable)
                reply.withUnsafeBytes { deliverReply(w.sink, command: w.command, $0) }
            } else {
                outbox.lateReplyBatch(to: w.origin).addReply(command: w.command, sink: w.sink, reply: waitScratch.readable)
                serveReadyKeysAfterCommand()
            }
        }
    }

    // MARK: Coordinator side

    /// Asks for the operation's locks from each shard's owner, numbered in the global order
    /// (LockOrder) when several shards are involved. May grant synchronously.
    /// `eager`: every part runs as its shard grants (those for other workers travel with the
    /// lock request), unless a WATCH must be checked first. Only when the client has nothing
    /// else in flight: an earlier command of it still waiting in this pass's batch (sent at
    /// the end of the pass) or queued on a shard could otherwise run after these parts.
    /// `numbered`: take a number in the global order even for a single shard (chains).
    func requestLocks(_ op: MultiShardOperation, slot: Int, eager: Bool, numbered: Bool = false) {
        let groupable = op.chained && op.isOneShot && eager && numbered && op.watchingClient == nil && !op.partsAfterAllGrants
        let client = groupable ? clients.client(fd: op.clientFD, id: op.clientID) : nil
        if let client, let group = client.openLock, canJoin(op, group) {
            join(op, slot: slot, group: group, client: client)
            return
        }
        nextTransactionID += 1
        let id = UInt64(index) << 48 | nextTransactionID
        let lock = lockPool.take()
        lock.fill(id: id, coordinator: index, operationSlot: slot, watchingClient: op.watchingClient, plan: &op.lockPlan,
                  chain: op.chained && op.isOneShot ? UInt64(index + 1) : 0, chainedClient: op.chained ? op.clientID : 0,
                  shared: op.readsOnly)
        // A client's chained requests are granted on each shard in the order it made them,
        // whatever keys they name.
        if op.chained, let c = clients.client(fd: op.clientFD, id: op.clientID) { lock.follow(clientsLatest: &c.latestChainedLocks) }
        op.lock = lock
        op.transaction = id
        op.grantsPending = op.lockPlan.count
        if eager && op.watchingClient == nil && !op.partsAfterAllGrants {
            // Without a WATCH to check first, every shard runs its parts when it grants.
            addPartsRunAtGrant(op, slot: slot, lock: lock)
        }
        if let client, !lock.locksAWholeShard, !op.unsent.contains(where: { table.routes[Int(op.parts[$0].command)].mayBlock }) {
            // The client's next chained operations of this pass may join it.
            if client.openLock == nil { clientsWithOpenLocks.append(client) }
            client.openLock = lock
            client.lockJoins &+= 1
        }
        // Requests for other workers' shards travel in this pass's batch for their owner
        // (LockMessage), handled there before the batch's commands: one ring message per
        // target per pass, not one per request.
        if op.lockPlan.count == 1 && !numbered, let shard = op.lockPlan.first {
            let owner = context.owner(ofShard: shard)
            if owner == index {
                lockArrived(lock, shard: shard, order: 0)
            } else {
                outbox.batch(for: owner).addLockRequest(lock, shard: shard, order: 0)
            }
        } else {
            // Numbered, then to every shard's owner (our own shard's request waits for the
            // next drain, like everyone else's: see LockOrder). The floor stays published
            // until the batches carrying the request are in their rings (sendBatches).
            let order = context.lockOrder.take(worker: index, floorHeld: lockFloorHeld, reserved: &lockNumbers)
            lockFloorHeld = true
            for position in 0..<lock.shardCount {
                let shard = lock.shard(at: position)
                let owner = context.owner(ofShard: shard)
                if owner == index {
                    lockArrived(lock, shard: shard, order: order)
                } else {
                    outbox.batch(for: owner).addLockRequest(lock, shard: shard, order: order)
                }
            }
        }
    }

    /// Makes `op`'s unsent parts run as each shard grants `lock`: those on this worker's
    /// shard from the operation (runPartsAtGrant), the others in the pass's batch for their
    /// shard's owner, with the lock request (EagerParts.swift); `added` is told of each.
    @inline(__always)
    private func addPartsRunAtGrant(_ op: MultiShardOperation, slot: Int, lock: TransactionLock,
                                    added: (_ owner: Int, _ batch: Batch) -> Void = { _, _ in }) {
        for p in op.unsent {
            let part = op.parts[p]
            let owner = context.owner(ofShard: part.shard)
            op.parts[p].runsAtGrant = true
            if owner == index {
                lock.localPartsAtGrant = true
                continue
            }
            if table.routes[Int(part.command)].mayBlock { blockingPartSent(to: owner) }
            let sink = ReplySink(kind: .operation, generation: op.generation, index: Int32(slot), id: op.clientID,
                                 ticket: UInt32(p))
            let batch = outbox.batch(for: owner)
            op.withArguments(of: part) { args in
                batch.addLockPart(command: part.command, db: part.db, resp: part.resp, arguments: args, sink: sink,
                                  transaction: lock.id, tag: op.propagationTag, shard: part.shard)
            }
            added(owner, batch)
        }
    }

    // MARK: Lock groups

    /// Whether `op`, the next chained operation of the client whose lock request `group` is
    /// still open (made this pass, not sent nor queued anywhere yet, nothing of the client
    /// in between), can share that request: nothing to check first, the same kind of
    /// request, no shard beyond the group's and none whole, no part that may block, and its
    /// parts can follow the group's in every batch they travel in.
    private func canJoin(_ op: MultiShardOperation, _ group: TransactionLock) -> Bool {
        guard !group.sealed, group.holders < TransactionLock.maxHolders, group.shared == op.readsOnly else { return false }
        for planned in op.lockPlan.shards where planned.wholeShard || !group.names(shard: planned.index) { return false }
        for p in op.unsent {
            let part = op.parts[p]
            if table.routes[Int(part.command)].mayBlock { return false }
            let owner = context.owner(ofShard: part.shard)
            if owner != index && outbox.batchBeingFilled(for: owner)?.lockPartsEnd(with: group.id) != true { return false }
        }
        return true
    }

    /// `op` shares the client's open request `group`: its keys join the request, its parts
    /// follow the group's in the batches (they run at the same grants, in order), and it takes
    /// the group's grants and releases with the others (the last one out releases).
    /// A pipeline of cross-shard EXECs costs one request, grant and release per shard and
    /// pass instead of one per transaction.
    private func join(_ op: MultiShardOperation, slot: Int, group: TransactionLock, client: Client) {
        group.join(slot: slot, plan: &op.lockPlan)
        op.lock = group
        op.transaction = group.id
        op.grantsPending = group.shardCount
        var ownersExtended = 0  // bit per owner whose batch got parts (owners < 64 here)
        addPartsRunAtGrant(op, slot: slot, lock: group) { owner, batch in
            if owner < 64 { ownersExtended |= 1 << owner } else { batch.extendLockParts(of: group) }
        }
        var owners = ownersExtended
        while owners != 0 {
            let owner = owners.trailingZeroBitCount
            owners &= owners - 1
            outbox.batch(for: owner).extendLockParts(of: group)
        }
        client.lockJoins &+= 1
    }

    /// Queues, in number order, the numbered lock requests nothing numbered lower can still
    /// precede.
    func queueOrderedLocks(below bound: UInt64) {
        guard !orderedLocks.isEmpty else { return }
        var ready = readyLocksScratch
        readyLocksScratch = []  // a lock queued below may queue others: they get a new list
        orderedLocks.take(below: bound, into: &ready)
        for r in ready {
            // Not counted: its operation holds the lock until every shard has granted it.
            Unmanaged.passUnretained(r.lock)._withUnsafeGuaranteedRef { queueLock($0, shard: r.shard, eagerParts: r.eagerParts) }
        }
        ready.clearKeepingCapacity()
        readyLocksScratch = ready
    }

    /// Asks for the locks of the client's operation that waited for its earlier replies,
    /// once they are all in.
    func startOperationAwaitingTurn(_ c: Client) {
        if c.publishAwaitingTurn != nil { startPublishAwaitingTurn(c) }
        guard let slot = c.operationAwaitingTurn else { return }
        guard let op = operations[slot] else { c.operationAwaitingTurn = nil; return }
        guard c.isNextReply(op.ticket) else { return }
        c.operationAwaitingTurn = nil
        requestLocks(op, slot: slot, eager: true)
    }

    /// A shard granted `lock`; when the last one has, the operation runs.
    func lockGranted(_ lock: TransactionLock, shard: Int, watchDirty: Bool) {
        lockGranted(slot: lock.operationSlot, transaction: lock.id, watchDirty: watchDirty)
    }

    /// A shard granted the lock of `transaction`, whose operation is in `slot` (with those
    /// that joined it: every one takes the grant before any of them runs on).
    func lockGranted(slot: Int, transaction: UInt64, watchDirty: Bool) {
        guard let op = operations[slot], op.transaction == transaction else { return }
        if let group = op.lock, !group.joinedSlots.isEmpty {
            groupGranted(group, slot: slot, transaction: transaction, watchDirty: watchDirty)
            return
        }
        op.grantsPending -= 1
        if watchDirty { op.watchDirty = true }
        if op.grantsPending == 0 && op.deferred { runLocked(slot: slot, op) }
    }

    @inline(never)
    private func groupGranted(_ group: TransactionLock, slot: Int, transaction: UInt64, watchDirty: Bool) {
        var ready: [(slot: Int, generation: UInt16)] = []
        swap(&ready, &groupReadyScratch)  // a member run on may grant another group: it gets a new list
        defer {
            ready.clearKeepingCapacity()
            swap(&ready, &groupReadyScratch)
        }
        func take(_ s: Int) {
            guard let member = operations[s], member.transaction == transaction else { return }
            member.grantsPending -= 1
            if watchDirty { member.watchDirty = true }
            if member.grantsPending == 0 && member.deferred { ready.append((s, member.generation)) }
        }
        take(slot)
        for s in group.joinedSlots { take(s) }
        // In join order; one run on may have finished the next (its chain's turn).
        for r in ready {
            guard let member = operations.operation(slot: r.slot, generation: r.generation),
                  member.transaction == transaction, member.grantsPending == 0 else { continue }
            runLocked(slot: r.slot, member)
        }
    }

    func releaseLocks(_ op: MultiShardOperation) {
        guard let lock = op.lock else { return }
        op.lock = nil
        if lock.holders > 1 {
            lock.holders -= 1  // other operations of its group still hold it
            return
        }
        for position in 0..<lock.shardCount {
            let shard = lock.shard(at: position)
            let owner = context.owner(ofShard: shard)
            if owner == index {
                releaseLock(id: lock.id, shard: shard)
            } else {
                outbox.batch(for: owner).addLockRelease(LockRelease(id: lock.id, shard: shard))
            }
        }
        lockPool.retire(lock)
    }

    // MARK: Shard side

    /// The lock releases and requests a batch brought for this shard, taken before its
    /// commands (they were made before those commands were sent). Eager parts stay in the
    /// batch, which the worker keeps until the end of its drain (EagerParts.swift).
    func takeLockMessages(_ batch: Batch) {
        for m in batch.lockReleases { releaseLock(id: m.id, shard: m.shard) }
        for m in batch.lockRequests {
            let parts = m.parts.isEmpty ? 0 : eagerParts.add(batch, parts: m.parts)
            Unmanaged.passUnretained(m.lock)._withUnsafeGuaranteedRef {
                lockArrived($0, shard: m.shard, order: m.order, eagerParts: parts)
            }
        }
        batch.clearLockMessages()
    }

    /// A lock request reached this shard: queued now, or once nothing numbered below it can
    /// still come (LockOrder). A chained one holds back its client's later commands here
    /// until it is granted and its parts have run.
    /// `eagerParts`: the record of its parts for this shard (0: none).
    func lockArrived(_ lock: TransactionLock, shard: Int, order: UInt64, eagerParts: UInt32 = 0) {
        if lock.chainedClient != 0 { chainedRequestsPending[lock.chainedClient] = (chainedRequestsPending[lock.chainedClient] ?? 0) + 1 }
        if order == 0 {
            queueLock(lock, shard: shard, eagerParts: eagerParts)
        } else {
            orderedLocks.add(lock, shard: shard, order: order, eagerParts: eagerParts)
        }
    }

    func queueLock(_ lock: TransactionLock, shard shardIndex: Int, eagerParts: UInt32 = 0) {
        guard let shardRef = ownShardRef else { return }
        if lock.coordinator == index { lock.sealed = true }  // its keys are read here now
        var granted = takeGrantScratch()
        shardRef._withUnsafeGuaranteedRef {
            lock.enqueue(on: $0.locks, shard: shardIndex, eagerParts: eagerParts, into: &granted)
        }
        actOnGrants(granted, shard: shardIndex)
        returnGrantScratch(&granted)
    }

    func releaseLock(id: UInt64, shard shardIndex: Int) {
        guard let shardRef = ownShardRef else { return }
        var granted = takeGrantScratch()
        shardRef._withUnsafeGuaranteedRef { $0.locks.release(id, into: &granted) }
        // Keys the operation made ready are served before the commands that waited for it.
        serveReadyKeys()
        actOnGrants(granted, shard: shardIndex)
        resumeWaiting()
        returnGrantScratch(&granted)
    }

    /// Acts on grants the shard's lock table just made, after those it made earlier that are
    /// still being acted on. A grant's work can finish an operation here, whose release
    /// grants more: acted on at once, from inside the loop, those could run their parts
    /// before earlier grants ran theirs. The lock table granted them behind the earlier ones
    /// taking their work as done (a chain behind its own holders): an MGET granted behind an
    /// EXEC of its chain then read one key before the EXEC and the other after it.
    private func actOnGrants(_ granted: [IntentLocks.Grant], shard shardIndex: Int) {
        guard !granted.isEmpty else { return }
        for g in granted { pendingGrants.append(PendingGrant(grant: g, shard: shardIndex)) }
        guard !actingOnGrants else { return }
        actingOnGrants = true
        while grantsHead < pendingGrants.count {
            let p = pendingGrants[grantsHead]
            grantsHead += 1
            grant(p.grant, shard: p.shard)
        }
        pendingGrants.clearKeepingCapacity()
        grantsHead = 0
        actingOnGrants = false
        // A chained grant may free its client's commands that waited behind it.
        if !waiting.isEmpty { resumeWaiting() }
    }

    /// The worker's grant list, emptied and owned by the caller until it gives it back (a
    /// grant that runs parts may queue or release other locks meanwhile: they get a new one).
    private func takeGrantScratch() -> [IntentLocks.Grant] {
        var list: [IntentLocks.Grant] = []
        swap(&list, &grantScratch)  // moved, not copied: no count taken and dropped
        list.clearKeepingCapacity()
        return list
    }

    /// Gives the list back (emptied) for the next `takeGrantScratch`.
    private func returnGrantScratch(_ list: inout [IntentLocks.Grant]) {
        list.clearKeepingCapacity()
        swap(&list, &grantScratch)
    }

    private func grant(_ g: IntentLocks.Grant, shard shardIndex: Int) {
        // queueLock's holders are all locks, alive until every shard has granted them (their
        // operation holds them): read without counting, since the lock's count is also
        // written by its coordinator's thread (a cache line moved between cores twice).
        guard let address = g.holderAddress else { return }
        Unmanaged<TransactionLock>.fromOpaque(address)._withUnsafeGuaranteedRef { lock in
            grant(lock, shard: shardIndex, eagerParts: g.payload)
        }
    }

    private func grant(_ lock: TransactionLock, shard shardIndex: Int, eagerParts: UInt32) {
        guard let shardRef = ownShardRef else { return }
        var dirty = false
        if let client = lock.watchingClient {
            dirty = shardRef._withUnsafeGuaranteedRef { watchIsDirty(client: client, on: $0) }
        }
        if lock.localPartsAtGrant && lock.coordinator == index { runPartsAtGrant(lock, shard: shardIndex) }
        if lock.chainedClient != 0, let n = chainedRequestsPending[lock.chainedClient] {
            chainedRequestsPending[lock.chainedClient] = n > 1 ? n - 1 : nil
        }
        if eagerParts != 0 {
            // The grant follows the parts' replies: one message, not two.
            runEagerParts(eagerParts, of: lock, shard: shardIndex)
            return
        }
        if lock.coordinator == index {
            lockGranted(lock, shard: shardIndex, watchDirty: dirty)
        } else {
            send(.granted(lock, shard: shardIndex, watchDirty: dirty), to: lock.coordinator)
        }
    }

    /// Whether `client`'s watches on `shard` fail its EXEC: a watched key changed, or one
    /// expired since (Redis's isWatchedKeyExpired; not one already expired when watched:
    /// Redis skips those).
    private func watchIsDirty(client: UInt64, on shard: Shard) -> Bool {
        if shard.watches.isDirty(client) { return true }
        for k in shard.watches.keys(of: client) where !shard.watches.watchedExpired(client, k)
            && k.key.withUnsafeBytes({ shard.isLogicallyExpired(db: k.db, key: $0) }) {
            return true
        }
        return false
    }

    /// Runs the parts of the operation holding `lock` that are on this worker's own shard,
    /// in part order, as the shard grants it.
    private func runPartsAtGrant(_ lock: TransactionLock, shard shardIndex: Int) {
        runPartsAtGrant(slot: lock.operationSlot, transaction: lock.id, shard: shardIndex)
        for slot in lock.joinedSlots { runPartsAtGrant(slot: slot, transaction: lock.id, shard: shardIndex) }
    }

    private func runPartsAtGrant(slot: Int, transaction: UInt64, shard shardIndex: Int) {
        guard let op = operations[slot], op.transaction == transaction else { return }
        for p in 0..<op.parts.count where op.parts[p].shard == shardIndex && op.parts[p].runsAtGrant {
            runPartHere(op, part: p)
        }
    }

    /// Runs part `p` of `op` on this worker's shard and records its reply.
    func runPartHere(_ op: MultiShardOperation, part p: Int) {
        guard let shard else { return }
        let part = op.parts[p]
        guard let handler = table.shardHandlerIfKeyed(part.command) else { return }
        let sink = ReplySink(kind: .operation, generation: op.generation, index: Int32(op.slot), id: op.clientID,
                             ticket: UInt32(p))
        inlinePartScratch.clear()
        op.withArguments(of: part) { args in
            CommandTable.run(part.command, handler, ShardContext(shard: shard, db: part.db, resp: part.resp,
                                                                 clientID: op.clientID, sink: sink, origin: index,
                                                                 worker: self, transaction: op.transaction,
                                                                 tag: op.propagationTag),
                             args, &inlinePartScratch, tag: op.propagationTag)
        }
        op.record(part: p, reply: inlinePartScratch.readable)
    }

    // MARK: WATCH bookkeeping

    /// Forgets every key the client watches, on every shard that has some, in the client's
    /// order there: another worker's shard gets it in the batch that carries the client's
    /// earlier commands, and a shard where a command of the client waits (a WATCH part
    /// behind a lock) forgets after that command ran; it never waits for a lock itself
    /// (`mustWait`). Pushed on the ring at once, as it was, it overtook a WATCH part still
    /// in the pass's batch: a pipelined `WATCH k; UNWATCH` left k watched, so a later EXEC
    /// watching another key of that shard failed when k changed, and the stale watch stayed
    /// until the client closed.
    func unwatchAll(_ c: Client) {
        guard !c.watchedShards.isEmpty else { return }
        let sink = ReplySink(kind: .dropped, index: 0, id: c.id, ticket: 0)
        Worker.unwatchAllName.withUnsafeBytes { name in
            withUnsafePointer(to: ArgSpan(offset: 0, count: name.count)) { span in
                let args = Arguments(base: name.baseAddress!, spans: span, count: 1)
                for s in c.watchedShards {
                    let owner = context.owner(ofShard: s)
                    if owner != index {
                        batch(forWorker: owner).add(command: unwatchAllPart, db: c.db, resp: c.resp, arguments: args, sink: sink)
                    } else if let shard {
                        if mustWait(shard, command: unwatchAllPart, db: c.db, args: args, origin: index, client: c.id) {
                            wait(command: unwatchAllPart, db: c.db, resp: c.resp, args: args, sink: sink, origin: index)
                        } else {
                            shard.watches.unwatchAll(client: c.id)
                        }
                    }
                }
            }
        }
        c.watchedShards.removeAll()
    }

    static let unwatchAllName = Array(InternalCommand.unwatchAll.name.utf8)
}
