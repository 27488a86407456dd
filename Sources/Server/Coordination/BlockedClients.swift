import RESP
import Shards

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
         deadline: Int64) {
        self.sink = sink
        origin = ctx.origin
        self.command = command
        resp = ctx.resp
        self.request = request
        super.init(clientID: ctx.clientID, db: ctx.db, keys: keys, deadline: deadline)
    }

    /// The part reply of a wait that ended without an answer (timeout, cancellation).
    static let noAnswer: [UInt8] = Array("*-1\r\n".utf8)
}

/// The client side, per worker: which operation each blocked client of this worker waits
/// in (INFO's blocked_clients, cancellation when it closes).
final class BlockedClientsOfWorker {
    var operationOf: [UInt64: Int] = [:]
    /// Answers of this worker's shard to blocked requests of this worker, for the loop to deliver.
    var answers: [(sink: ReplySink, command: UInt16, bytes: [UInt8])] = []
}

extension ShardContext {
    /// Blocks the request (shard command `command`, answering `sink`) on `keys` of this shard
    /// until `request.serve` answers it, its deadline passes (0: never) or it is cancelled.
    func block(_ command: UInt16, on keys: [[UInt8]], sink: ReplySink, request: any BlockingRequest, deadline: Int64) {
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
    }

    /// Once per loop iteration, after the commands that ran: serves the waiters of the keys
    /// made ready, times out waiters past their deadline, and delivers the answers.
    func serveBlockedClients() {
        deliverBlockedAnswers()
        guard let shard else { return }
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
