import RESP
import Shards

/// A command whose parts run on several shards: MGET/DEL/EXISTS over keys of different
/// shards, DBSIZE/KEYS/FLUSHDB over all shards, and two-step moves like a cross-shard
/// RENAME. It lives on the client's worker; each part is an ordinary shard request whose
/// reply comes back to the operation, and when the last part is in, `combine` writes the
/// client's one reply (or queues a next step).
final class MultiShardOperation {
    struct Part {
        var shard: Int
        var command: UInt16
        var firstSpan: Int
        var argumentCount: Int
        var db: Int
        var resp: RESPVersion
        /// Sent with the lock request, or on the coordinator's own shard: run by the shard
        /// when it grants.
        var runsAtGrant = false
    }

    /// Combines the parts' replies into the client's reply and returns true, or adds the
    /// parts of a next step and returns false.
    typealias Combine = (MultiShardOperation, inout ByteBuffer) -> Bool

    private(set) var clientFD: Int32
    private(set) var clientID: UInt64
    private(set) var db: Int
    private(set) var resp: RESPVersion
    var ticket: UInt32 = 0
    var deferred = false

    /// Owned copies of the bytes the parts' arguments refer to.
    var storage = ByteBuffer(capacity: 256)
    var spans: [ArgSpan] = []
    var parts: [Part] = []
    /// Parts of the current step not yet sent.
    var unsent = 0..<0
    var remaining = 0
    var replies = ByteBuffer(capacity: 256)
    var replyRanges: [Range<Int>?] = []
    var combine: Combine
    /// Scratch state for multi-step operations.
    var state = 0
    /// For an operation that groups a command's keys by shard (MGET): the part that holds
    /// each key, in argument order.
    var shardPart: [Int] = []
    /// Set by multi-step operations (a step waits for the previous one's replies): the
    /// client's next commands run only once the operation has finished.
    var pausesClient = false
    /// A blocked request woken by CLIENT UNBLOCK ... ERROR: it answers UNBLOCKED instead of
    /// its timeout reply.
    var unblockedWithError = false

    // Replication (see PropagationLog): the group its parts' writes are recorded in, the
    // group it folds into (an operation started inside EXEC), and the command to propagate
    // in place of its parts' records (a cross-shard RENAME, MSET, FLUSHALL... as itself).
    var propagationTag: UInt64 = 0
    var propagationParent: UInt64 = 0
    var propagateAs: (db: Int, command: [UInt8])?

    // Locking (see Locking.swift). An operation whose lock plan names more than one shard,
    // that forces locking (EXEC), or that propagates as itself runs only once every shard
    // has granted its locks. The last even on one shard: its replication group is emitted
    // when it finishes, so the locks must keep later writes on that shard from reaching
    // replicas first (a FLUSHDB from a worker without the only shard, then a SET).
    var lockPlan = LockPlan()
    var forceLocks = false
    /// Its parts run only once every shard has granted (a script spanning shards calls the
    /// other shards while it runs), never as each shard grants.
    var partsAfterAllGrants = false
    /// Every part only reads: its locks are shared, so readers of a key do not queue behind
    /// each other. Set by `start` when the command that started it is a pure reader
    /// (Route.readOnly: its later steps never write either), and by EXEC for a queue of
    /// such commands.
    var readsOnly = false
    var lock: TransactionLock?
    var grantsPending = 0
    /// EXEC after WATCH: the client whose watches the shards check, and whether one was dirty.
    var watchingClient: UInt64?
    var watchDirty = false
    /// Reply when a WATCH turned out dirty (EXEC: a null array).
    var abortReply: ((MultiShardOperation, inout ByteBuffer) -> Void)?
    /// An operation started by a command inside EXEC reports to the EXEC operation.
    var parent: (slot: Int, item: Int)?
    /// The transaction whose locks this operation runs under (0: none).
    var transaction: UInt64 = 0
    /// Its slot in the worker's operation table, once started, and what tells it apart from
    /// the operations that had the slot before (ReplySink.generation).
    var slot = -1
    var generation: UInt16 = 0
    /// The command that started it (table index, -1 for none): a late error reply counts as
    /// its failed call, as Redis counts a blocked XREADGROUP woken by NOGROUP.
    var command = -1

    var needsLocks: Bool { forceLocks || lockPlan.count > 1 || propagateAs != nil }
    /// Every part is known when it starts and `combine` answers once they are in (EXEC of
    /// single-shard commands, MGET/MSET/DEL... across shards): its parts can run as each
    /// shard grants, and its client need not wait for it (see chains below).
    var isOneShot = false
    /// Its first parts are known when it starts and the later ones come from their replies
    /// (COPY and RENAME across shards): it may chain too, so that a client's pipeline of
    /// them runs at once. The client's other commands wait in its input until its moves are
    /// over (Worker.waitsForSteps); only further moves chain behind it. Not with keyspace
    /// events on: a later move's first step may run before this one's last, and the events'
    /// order would show it. Its request follows no other (IntentLocks' chains) and no other
    /// follows it, since its later steps have not run where it was granted; it joins no
    /// lock group.
    var chainsInSteps = false

    // Chains (TransactionLock.chain): a one-shot operation whose client goes on meanwhile.
    // It completes (closes its replication group, releases, answers) only after the
    // previous chained operation of its worker, as later ones may follow it on shared keys.
    var chained = false
    var chainPrevious: MultiShardOperation?
    var chainNext: MultiShardOperation?
    /// Everything is in, but `chainPrevious` has not completed yet.
    var completionWaits = false
    /// The reply of an operation in steps that finished them before its turn to complete.
    var heldReply: [UInt8]?
    /// Runs once the operation is over (EXEC forgets the client's WATCHes here).
    var onFinish: (() -> Void)?
    /// EXEC: receives the reply of a command of the transaction that ran as its own operation.
    var nestedReplyHandler: ((Int, UnsafeRawBufferPointer) -> Void)?

    func nestedReply(item: Int, _ bytes: UnsafeRawBufferPointer) {
        remaining -= 1
        nestedReplyHandler?(item, bytes)
    }

    func lockKey(_ key: UnsafeRawBufferPointer, shard: Int) {
        lockPlan.add(key: IntentLocks.lockKey(key), shard: shard)
    }

    func lockWholeShard(_ shard: Int) {
        lockPlan.lockWholeShard(shard)
    }

    init(client: Client, combine: @escaping Combine) {
        clientFD = client.fd
        clientID = client.id
        db = client.db
        resp = client.resp
        self.combine = combine
    }

    /// Makes a finished operation new for `client` (OperationTable keeps finished ones for
    /// reuse: a pipelining client starts one per transaction). Every stored property is set
    /// back here; buffers keep their capacity unless it grew large.
    func reuse(client: Client, combine: @escaping Combine) {
        clientFD = client.fd
        clientID = client.id
        db = client.db
        resp = client.resp
        self.combine = combine
        ticket = 0
        deferred = false
        storage.clear()
        storage.shrinkIfEmpty(to: 16 * 1024)
        replies.clear()
        replies.shrinkIfEmpty(to: 16 * 1024)
        let keep = spans.capacity <= 1024
        // Each removeAll is a generic call even on an empty array: skipped when empty.
        if keep {
            spans.clearKeepingCapacity()
            parts.clearKeepingCapacity()
            replyRanges.clearKeepingCapacity()
            shardPart.clearKeepingCapacity()
        } else {
            spans.removeAll()
            parts.removeAll()
            replyRanges.removeAll()
            shardPart.removeAll()
        }
        unsent = 0..<0
        remaining = 0
        state = 0
        pausesClient = false
        unblockedWithError = false
        propagationTag = 0
        propagationParent = 0
        propagateAs = nil
        if !lockPlan.isEmpty { lockPlan.removeAll() }
        forceLocks = false
        partsAfterAllGrants = false
        readsOnly = false
        lock = nil
        grantsPending = 0
        watchingClient = nil
        watchDirty = false
        abortReply = nil
        parent = nil
        transaction = 0
        slot = -1
        generation = 0
        command = -1
        isOneShot = false
        chainsInSteps = false
        chained = false
        chainPrevious = nil
        chainNext = nil
        completionWaits = false
        heldReply = nil
        onFinish = nil
        nestedReplyHandler = nil
        onRecord = nil
    }

    /// An operation of the server's own (a save-rule snapshot, a shutdown save): no client.
    init(internalWithDB db: Int, combine: @escaping Combine) {
        clientFD = -1
        clientID = 0
        self.db = db
        resp = .resp2
        self.combine = combine
    }

    /// Room for what the operation will hold, when it is known up front (EXEC's plan): one
    /// allocation each instead of a doubling series.
    func reserve(parts: Int, spans spanCount: Int, bytes: Int) {
        self.parts.reserveCapacity(parts)
        replyRanges.reserveCapacity(parts)
        spans.reserveCapacity(spanCount)
        storage.reserve(bytes)
    }

    /// Copies `bytes` into the operation and returns its span.
    @discardableResult
    func store(_ bytes: UnsafeRawBufferPointer) -> Int {
        spans.append(ArgSpan(offset: storage.count, count: bytes.count))
        storage.append(bytes)
        return spans.count - 1
    }

    /// Copies `bytes` and the spans into them (relative to `bytes`) into the operation; the
    /// spans keep their order, from the current `spans.count` on.
    func storeAll(_ bytes: UnsafeRawBufferPointer, spans added: [ArgSpan]) {
        let shift = storage.count
        storage.append(bytes)
        if shift == 0 {
            spans.append(contentsOf: added)
        } else {
            for s in added { spans.append(ArgSpan(offset: s.offset + shift, count: s.count)) }
        }
    }

    func store(string: String) -> Int {
        var s = string
        return s.withUTF8 { store(UnsafeRawBufferPointer($0)) }
    }

    /// Adds a part whose arguments are the stored spans `spanIndices` (contiguous copies are made).
    func addPart(shard: Int, command: UInt16, spanIndices: [Int], db: Int? = nil, resp: RESPVersion? = nil) {
        let first = spans.count
        for i in spanIndices { spans.append(spans[i]) }
        addPart(shard: shard, command: command, spans: first..<spans.count, db: db ?? self.db, resp: resp ?? self.resp)
    }

    /// Adds a part whose arguments are the stored spans `spans`, already contiguous.
    func addPart(shard: Int, command: UInt16, spans range: Range<Int>, db: Int, resp: RESPVersion) {
        parts.append(Part(shard: shard, command: command, firstSpan: range.lowerBound, argumentCount: range.count,
                          db: db, resp: resp))
        replyRanges.append(nil)
        remaining += 1
        unsent = unsent.lowerBound..<parts.count
    }

    func reply(_ part: Int) -> UnsafeRawBufferPointer {
        guard let r = replyRanges[part] else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: replies.base + r.lowerBound, count: r.count)
    }

    func record(part: Int, reply: UnsafeRawBufferPointer) {
        let start = replies.count
        replies.append(reply)
        replyRanges[part] = start..<replies.count
        remaining -= 1
        onRecord?(part)
    }

    /// Called after each part reply is recorded (a blocked XREAD cancels its other waits).
    var onRecord: ((Int) -> Void)?

    func withArguments<R>(of part: Part, _ body: (Arguments) -> R) -> R {
        spans.withUnsafeBufferPointer { sp in
            body(Arguments(base: UnsafeRawPointer(storage.base), spans: sp.baseAddress! + part.firstSpan,
                           count: part.argumentCount))
        }
    }

    // Helpers for combiners.

    /// Sum of the parts' integer replies (`:n`); nil if one is not an integer (an error).
    func sumOfIntegers() -> Int? {
        var total = 0
        for i in 0..<parts.count {
            let r = reply(i)
            guard r.count >= 4, r[0] == UInt8(ascii: ":"),
                  let n = parseStrictInt(r, from: 1, to: r.count - 2) else { return nil }
            total += n
        }
        return total
    }

    /// The first part reply that is an error, if any.
    func firstError() -> UnsafeRawBufferPointer? {
        for i in 0..<parts.count {
            let r = reply(i)
            if r.count > 0 && r[0] == UInt8(ascii: "-") { return r }
        }
        return nil
    }
}
