import RESP
import Shards
import Synchronization

/// What a blocked request waits for and how it is answered: one conformance per blocking
/// family (streams' XREAD/XREADGROUP, lists' BLPOP and the like, sorted sets' BZPOP*).
/// Everything else (waiting per key, deadlines, ready keys, cancellation,
/// routing the reply) is common and lives here and in `BlockedKeys`.
protocol BlockingRequest {
    /// Looks at `key` as it is now (it was made ready): writes the reply and returns true
    /// when the waiter is answered (data, or an error such as NOGROUP), or returns false
    /// and writes nothing to keep waiting.
    func serve(_ waiter: BlockedClient, key: UnsafeRawBufferPointer, shard: Shard, _ out: inout ByteBuffer) -> Bool
}

/// A blocked request's wait on this shard's keys: where its answer goes.
final class BlockedClient: BlockedKeys.Waiter {
    /// The operation part (on worker `origin`) the answer is the reply of, and its command.
    let sink: ReplySink
    let origin: Int
    let command: UInt16
    let resp: RESPVersion
    let request: any BlockingRequest

    init(_ ctx: ShardContext, command: UInt16, sink: ReplySink, keys: [[UInt8]], request: any BlockingRequest,
         deadline: BlockingTurn) {
        self.sink = sink
        origin = ctx.origin
        self.command = command
        resp = ctx.resp
        self.request = request
        super.init(clientID: ctx.clientID, db: ctx.db, keys: keys, deadline: deadline.deadline, turn: deadline.turn)
    }

    /// The part reply of a wait that ended without an answer (timeout, cancellation).
    static let noAnswer: [UInt8] = Array("*-1\r\n".utf8)
}

/// The client side, per worker: which operation each blocked client of this worker waits
/// in (INFO's blocked_clients, cancellation when it closes).
final class BlockedClientsOfWorker {
    var operationOf: [UInt64: Int] = [:]
    /// Blocking parts received from each worker (counted by the parts themselves), and, while
    /// ready keys are held for parts in flight, how many must have arrived from each.
    var partsReceived: [UInt64] = []
    var partsAwaited: [UInt64]? = nil
    /// While ready keys wait for other workers to read (ReadProgress): the iterations each had
    /// started when that began, and the loop pass it was last asked in.
    var readsAwaited: [UInt64]? = nil
    var readsAskedInPass: UInt64 = .max
    /// Answers of this worker's shard to blocked requests of this worker, for the loop to deliver.
    var answers: [(sink: ReplySink, command: UInt16, bytes: [UInt8])] = []
}

/// A blocking part's deadline argument: the deadline (unix ms; 0: none; -1: the part must not
/// block) and, for a part that may block, the request's turn, `deadline/turn`. The waiters of
/// a key are served in turn order, as Redis's one thread serves them in the order the kernel
/// received their commands, although a command read by another worker reaches the key's shard
/// later than one its own worker read after it. With one connection worker the turn is a
/// counter taken as commands are read; with several, the kernel's receive time of the bytes
/// (ReadProgress.swift: a worker may read a command late), or the time it is dispatched for a
/// command that waited in the client's buffer. Only blocking commands take a turn.
struct BlockingTurn {
    let deadline: Int64
    let turn: UInt64

    /// The argument for a part of a request with `deadline` (-1: it never blocks).
    static func argument(_ deadline: Int64, _ w: Worker) -> String {
        guard deadline >= 0 else { return "-1" }
        let turn = !w.publishesReadProgress ? w.context.nextBlockingTurn.add(1, ordering: .relaxed).oldValue
            : w.readTimestamp != 0 ? w.readTimestamp : Clock.unixNanoseconds()
        return "\(deadline)/\(turn)"
    }

    /// Reads the argument `argument` wrote (a bare deadline takes turn 0).
    static func parse(_ bytes: UnsafeRawBufferPointer) -> BlockingTurn {
        guard let slash = bytes.firstIndex(of: UInt8(ascii: "/")) else {
            return BlockingTurn(deadline: Int64(parseStrictInt(bytes) ?? -1), turn: 0)
        }
        let deadline = parseStrictInt(UnsafeRawBufferPointer(rebasing: bytes[..<slash])) ?? -1
        let turn = parseStrictInt(UnsafeRawBufferPointer(rebasing: bytes[(slash + 1)...])) ?? 0
        return BlockingTurn(deadline: Int64(deadline), turn: UInt64(max(turn, 0)))
    }

    var mayBlock: Bool { deadline >= 0 }
}

/// One counter written only by its sending worker (a blocking part put in a batch for the
/// target's shard), read by the target.
final class BlockingPartsSent: Sendable {
    let count = Atomic<UInt64>(0)
}

extension ShardContext {
    /// Every blocking part counts itself when it runs: a part from another worker has
    /// arrived (BlockingPartsInFlight).
    @inline(__always) func blockingPartArrived() {
        guard let worker, origin != worker.index, origin >= 0 else { return }
        worker.blockingPartArrived(from: origin)
    }

    /// Blocks the request (shard command `command`, answering `sink`) on `keys` of this shard
    /// until `request.serve` answers it, its deadline passes (0: never) or it is cancelled.
    func block(_ command: UInt16, on keys: [[UInt8]], sink: ReplySink, request: any BlockingRequest, deadline: BlockingTurn) {
        shard.blocked.add(BlockedClient(self, command: command, sink: sink, keys: keys, request: request,
                                        deadline: deadline))
    }
}

extension Worker {
    func nextBlockedDeadline() -> Int64? { shard?.blocked.earliestDeadline() }

    /// `op`'s client blocked on `parts` of its parts: the operation now waits for their
    /// answers (state 1), and the client is known blocked in it (INFO, CLIENT UNBLOCK, close).
    func waitForBlockedParts(_ op: MultiShardOperation, count parts: Int) {
        op.state = 1
        op.remaining = parts
        blockedClients.operationOf[op.clientID] = op.slot
        guard let c = clients.client(fd: op.clientFD, id: op.clientID), !c.isClosed else {
            // Closed by the server (CLIENT KILL, output limits) while its request was on its
            // way: the close found nothing to cancel, so its waits go now (one left waiting
            // would take a later push's element for nobody).
            for s in Set(op.parts.map(\.shard)) { cancelBlockedRequest(of: op, shard: s) }
            return
        }
        // Blocked after its peer hung up: it closes, as redis-server frees a blocked client
        // when its read returns 0 (HangUps.swift). Looked at later in the pass: this may run
        // while the client's output is lent to the command that blocked.
        if c.hangUp != .none { hungUpToRun.append(c) }
    }

    /// Once per loop iteration, after the commands that ran: serves the waiters of the keys
    /// made ready, times out waiters past their deadline, and delivers the answers.
    func serveBlockedClients() {
        deliverBlockedAnswers()
        guard let shard else { return }
        blockedClients.readsAskedInPass = .max  // the loop's own look, after the pass's reads
        serveReadyKeys()
        while let waiter = shard.blocked.popTimedOut(now: nowMs) as? BlockedClient {
            answer(waiter, BlockedClient.noAnswer)
        }
        deliverBlockedAnswers()
    }

    /// After every command that ran on this worker's shard (from a connection, a batch or the
    /// commands that waited for a lock): the waiters of the keys it made ready are served
    /// before the next command runs, as Redis's processCommand calls handleClientsBlockedOnKeys
    /// after each call. Otherwise a command run in between (a pipelined LPOP, another client's
    /// BLPOP arriving on the ring) takes the element a client blocked earlier is owed.
    /// While nobody is blocked this is one load and a branch.
    @inline(__always)
    func serveReadyKeysAfterCommand() {
        if let shard, shard.blocked.hasReadyKeys { serveReadyKeys() }
    }

    /// Serves the waiters of the keys made ready: keys in the order they were signalled, each
    /// key's waiters in the order they blocked (serving may make more keys ready). Runs from
    /// the loop, and when a lock is released (before the commands that waited for it, as
    /// Redis serves blocked clients right after EXEC). Answers are only queued here.
    func serveReadyKeys() {
        guard let shard, shard.blocked.hasReadyKeys else { return }
        guard earlierBlockingRequestsArrived() else {
            readyKeysHeld = true
            return
        }
        let blocked = shard.blocked
        var heldBack: [BlockedKeys.Key] = []
        while blocked.hasReadyKeys {
            for k in blocked.takeReadyKeys() {
                // A key that a transaction or multi-shard command still holds is served once it
                // lets go: no waiter may see that operation half done.
                if !shard.locks.isIdle && k.key.withUnsafeBytes({ shard.locks.blocks(key: $0) }) {
                    heldBack.append(k)
                    continue
                }
                for case let waiter as BlockedClient in blocked.waiters(on: k) where !waiter.done {
                    var out = ByteBuffer(capacity: 256)
                    let answered = k.key.withUnsafeBytes { waiter.request.serve(waiter, key: $0, shard: shard, &out) }
                    if answered {
                        blocked.remove(waiter)
                        answer(waiter, Array(out.readable))
                    }
                }
            }
        }
        for k in heldBack { blocked.signal(k) }
        // Commands that touched the keys while they were held (mustWait) run now, after the
        // waiters they would have overtaken.
        if readyKeysHeld {
            readyKeysHeld = false
            resumeWaiting()
        }
    }

    // MARK: Blocking requests read by other workers

    /// Ready keys are served once every blocking request received before them is on this
    /// shard: the workers have read their sockets (ReadProgress.swift), then the
    /// blocking parts they sent have arrived (below). While either is awaited the keys stay
    /// ready and unserved; the loop looks again when woken, and at least every millisecond.
    /// Asked at most once per loop pass while commands run, and once more at its end: a
    /// pipeline run meanwhile does not pay a system call per command.
    func earlierBlockingRequestsArrived() -> Bool {
        if publishesReadProgress && blockedClients.partsAwaited == nil {
            let pass = context.readProgress[index].iterationsStarted.load(ordering: .relaxed)
            if blockedClients.readsAwaited != nil && blockedClients.readsAskedInPass == pass { return false }
            blockedClients.readsAskedInPass = pass
            if !workersHaveRead(since: &blockedClients.readsAwaited) { return false }
        }
        return blockingPartsInFlightArrived()
    }

    // MARK: Blocking parts in flight

    /// A blocking command read by another worker before a push was read here may still be
    /// on its way to this shard (in that worker's batch or the ring) when the push runs;
    /// Redis, reading both on one thread, would block it first and serve it first. So when
    /// keys become ready while other workers have sent this shard blocking parts it has not
    /// received yet, the keys are held (left ready, unserved) until those parts are in, and
    /// then served in turn order; later parts are not awaited, so a stream of them cannot
    /// hold the keys forever. The parts come with the sender's next ring push, which wakes
    /// this worker. While nothing is in flight this is one atomic load per other worker,
    /// and only when ready keys are served.
    func blockingPartsInFlightArrived() -> Bool {
        let bc = blockedClients
        let workers = context.workerCount
        if workers == 1 { return true }
        if bc.partsReceived.isEmpty { bc.partsReceived = Array(repeating: 0, count: workers) }
        if let awaited = bc.partsAwaited {
            for n in 0..<workers where bc.partsReceived[n] < awaited[n] { return false }
            bc.partsAwaited = nil
            return true
        }
        var awaited: [UInt64]? = nil
        for n in 0..<workers where n != index {
            let sent = context.blockingPartsSent[n * workers + index].count.load(ordering: .acquiring)
            if sent > bc.partsReceived[n] {
                if awaited == nil { awaited = Array(repeating: 0, count: workers) }
                awaited![n] = sent
            }
        }
        guard let awaited else { return true }
        bc.partsAwaited = awaited
        return false
    }

    func blockingPartArrived(from origin: Int) {
        let bc = blockedClients
        if bc.partsReceived.isEmpty { bc.partsReceived = Array(repeating: 0, count: context.workerCount) }
        bc.partsReceived[origin] += 1
    }

    /// A blocking part put in the batch for worker `target` (the sender's side of the count).
    @inline(never)
    func blockingPartSent(to target: Int) {
        let sent = context.blockingPartsSent[index * context.workerCount + target]
        sent.count.store(sent.count.load(ordering: .relaxed) + 1, ordering: .releasing)
    }

    /// The reply of a blocked request woken by CLIENT UNBLOCK ... ERROR.
    static let unblockedError: StaticString = "UNBLOCKED client unblocked via CLIENT UNBLOCK"

    /// CLIENT UNBLOCK on this worker: if client `id` of this worker waits in a blocked
    /// request or in WAIT, its waits are cancelled (it answers its timeout reply, or UNBLOCKED
    /// with `error`) and true is returned.
    func unblockClient(_ id: UInt64, error: Bool) -> Bool {
        if let c = clients.open.first(where: { $0.id == id && !$0.isClosed }), c.inWait {
            context.postToSequencer(.unblockWait(clientID: id, error: error))
            return true
        }
        guard let slot = blockedClients.operationOf[id], let op = operations[slot], op.clientID == id,
              op.state == 1 else { return false }
        op.unblockedWithError = error
        for s in Set(op.parts.map(\.shard)) { cancelBlockedRequest(of: op, shard: s) }
        return true
    }

    /// Whether `c`, a connection of this worker, waits in a blocking command or in WAIT
    /// (CLIENT LIST's flag 'b', Redis's CLIENT_BLOCKED).
    func isBlocked(_ c: Client) -> Bool {
        c.inWait || blockedClients.operationOf[c.id] != nil
    }

    /// Cancels the waits of `c` (it closed) on every shard it blocked on.
    func cancelBlockedRequest(of c: Client) {
        guard let slot = blockedClients.operationOf.removeValue(forKey: c.id) else { return }
        guard let op = operations[slot], op.clientID == c.id else { return }
        for s in Set(op.parts.map(\.shard)) { cancelBlockedRequest(of: op, shard: s) }
    }

    /// Cancels the waits of operation `op` on `shard`, on the worker owning it.
    func cancelBlockedRequest(of op: MultiShardOperation, shard: Int) {
        let (clientID, slot, generation) = (op.clientID, op.slot, op.generation)
        let owner = context.owner(ofShard: shard)
        if owner == index {
            cancelBlockedClient(clientID, slot: slot, generation: generation)
        } else {
            send(.control({ w in w.cancelBlockedClient(clientID, slot: slot, generation: generation) }), to: owner)
        }
    }

    /// Cancels the waiters of `clientID` for operation `slot` on this worker's shard (another
    /// key served it, or the client closed).
    func cancelBlockedClient(_ clientID: UInt64, slot: Int, generation: UInt16) {
        guard let blocked = shard?.blocked else { return }
        for case let waiter as BlockedClient in blocked.waiters(ofClient: clientID)
            where waiter.sink.index == Int32(slot) && waiter.sink.generation == generation {
            blocked.remove(waiter)
            answer(waiter, BlockedClient.noAnswer)
        }
    }

    /// Sends a waiter's answer to its operation part: to another worker with this
    /// iteration's batches; on this worker, queued for the loop. Never delivered inline: a
    /// serve or cancel may run while an operation records a reply, combines or releases
    /// its locks, and delivering then would finish that operation underneath it.
    private func answer(_ waiter: BlockedClient, _ bytes: [UInt8]) {
        if waiter.origin == index {
            blockedClients.answers.append((waiter.sink, waiter.command, bytes))
            return
        }
        let batch = outbox.lateReplyBatch(to: waiter.origin)
        bytes.withUnsafeBytes { batch.addReply(command: waiter.command, sink: waiter.sink, reply: $0) }
    }

    /// Delivering one may cancel more (a served read cancels its other waits): until none is left.
    private func deliverBlockedAnswers() {
        while !blockedClients.answers.isEmpty {
            let pending = blockedClients.answers
            blockedClients.answers.removeAll()
            for a in pending { a.bytes.withUnsafeBytes { deliverReply(a.sink, command: a.command, $0) } }
        }
    }
}
