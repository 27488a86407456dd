import RESP
import Shards

/// Commands queued by MULTI: owned copies of their arguments.
final class TransactionQueue {
    struct Command {
        let index: UInt16
        let firstSpan: Int
        let count: Int
        /// Where its keys live, worked out once as it is queued (EXEC asks three times: can
        /// it run inline, on one other worker, or how to plan it): their one shard, or
        /// `noKeys` / `severalShards`.
        let shard: Int
    }
    static let noKeys = -1
    static let severalShards = -2
    /// The arguments' bytes (a byte buffer: emptying an Array of bytes is a generic call of
    /// ~85 instructions, appending to it another of ~50).
    var storage = ByteBuffer(capacity: 256)
    var spans: [ArgSpan] = []
    var commands: [Command] = []
    /// A queue-time error happened: EXEC answers EXECABORT.
    var failed = false
    /// Keys on more than one shard (two commands on different shards, or one spanning
    /// several): EXEC then needs locks, and skips the paths that run without them.
    private(set) var spansShards = false
    private var homeShard = TransactionQueue.noKeys

    /// Empties the queue for the client's next MULTI, keeping what it allocated.
    func reset() {
        storage.clear()
        storage.shrinkIfEmpty(to: 16 * 1024)
        spans.clearKeepingCapacity()
        commands.clearKeepingCapacity()
        failed = false
        spansShards = false
        homeShard = TransactionQueue.noKeys
    }

    /// The queued arguments' bytes, which `spans` index.
    func withArgumentBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { try body(storage.readable) }

    func queue(_ index: UInt16, _ args: Arguments, shard: Int) {
        let first = spans.count
        for i in 0..<args.count {
            spans.append(ArgSpan(offset: storage.count, count: args[i].count))
            storage.append(args[i])
        }
        commands.append(Command(index: index, firstSpan: first, count: args.count, shard: shard))
        if shard == TransactionQueue.severalShards {
            spansShards = true
        } else if shard >= 0 {
            if homeShard == TransactionQueue.noKeys { homeShard = shard } else if homeShard != shard { spansShards = true }
        }
    }
}

/// MULTI, EXEC, DISCARD, WATCH, UNWATCH (Redis's multi.c).
///
/// EXEC runs the queued commands as one operation under intent locks on every key they
/// touch (the whole shard for commands without key positions), taken through the
/// sequencer when several shards are involved, so no client sees the transaction half
/// done. Commands whose keys sit on one shard run as parts of the operation; the others
/// (cross-shard and server commands) run one at a time in between, in queue order.
enum TransactionCommands {
    static let specs: [CommandSpec] = [
        CommandSpec("multi", arity: 1, flags: [.noscript, .loading, .stale, .fast, .allowBusy], inMulti: .runsAtOnce, group: "transactions",
                    summary: "Begins queueing commands for EXEC.", run: .client(multi))
            .described(since: "1.2.0", acl: [.fast, .transaction]),
        CommandSpec("exec", arity: 1, flags: [.noscript, .loading, .stale, .skipSlowlog], inMulti: .runsAtOnce, group: "transactions",
                    summary: "Runs the queued commands as one unit, unless a watched key changed.", run: .client(exec))
            .described(since: "1.2.0", acl: [.slow, .transaction]),
        CommandSpec("discard", arity: 1, flags: [.noscript, .loading, .stale, .fast, .allowBusy], inMulti: .runsAtOnce, group: "transactions",
                    summary: "Drops the queued commands.", run: .client(discard))
            .described(since: "2.0.0", acl: [.fast, .transaction]),
        CommandSpec("watch", arity: -2, flags: [.noscript, .loading, .stale, .fast, .allowBusy], keys: (1, -1, 1),
                    inMulti: .runsAtOnce, group: "transactions", summary: "Makes the next EXEC fail if any of these keys changes first.",
                    run: .client(watch))
            .described(since: "2.2.0", acl: [.fast, .transaction], keySpecs: [KeySpec(["RO"], index: 1, lastKey: -1)],
                       arguments: [.key("key").multiple]),
        CommandSpec("unwatch", arity: 1, flags: [.noscript, .loading, .stale, .fast, .allowBusy], group: "transactions",
                    summary: "Stops watching every key.", run: .client(unwatch))
            .described(since: "2.2.0", acl: [.fast, .transaction]),
        CommandSpec(part: .watch, arity: 2, keys: (1, 1, 1), group: "transactions",
                    run: .keyed({ ctx, args, out in
                        ctx.shard.watches.watch(client: ctx.clientID, db: ctx.db, key: args[1],
                                                expired: ctx.shard.isLogicallyExpired(db: ctx.db, key: args[1]))
                        out.writeOK()
                    }, split: nil, crossShard: nil)),
        // No keys, and no lock holds it: it waits only for the client's commands still
        // waiting on the shard (a WATCH part behind a lock), in its turn (Worker.unwatchAll).
        CommandSpec(part: .unwatchAll, arity: 1, group: "transactions",
                    run: .keyed({ ctx, _, out in
                        ctx.shard.watches.unwatchAll(client: ctx.clientID)
                        out.writeOK()
                    }, split: nil, crossShard: nil)),
    ]

    static func multi(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard c.transaction == nil else { out.writeError("ERR MULTI calls can not be nested"); return }
        if let spare = c.spareTransaction {
            c.spareTransaction = nil
            c.transaction = spare
        } else {
            c.transaction = TransactionQueue()
        }
        out.writeOK()
    }

    static func discard(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard let tx = c.transaction else { out.writeError("ERR DISCARD without MULTI"); return }
        c.transaction = nil
        tx.reset()
        c.spareTransaction = tx
        w.unwatchAll(c)
        out.writeOK()
    }

    static func unwatch(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        w.unwatchAll(c)
        out.writeOK()
    }

    static func watch(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard c.transaction == nil else { out.writeError("ERR WATCH inside MULTI is not allowed"); return }
        let part = w.table.index(of: .watch)
        let op = MultiShardOperation(client: c) { op, out in
            if let error = op.firstError() { out.append(error) } else { out.writeOK() }
            return true
        }
        let name = op.store(args[0])
        for i in 1..<args.count {
            let shard = w.shardOf(args[i])
            c.watchedShards.insert(shard)
            op.addPart(shard: shard, command: part, spanIndices: [name, op.store(args[i])])
        }
        w.start(op, client: c, call: &call, out: &out)
    }

    /// Redis's execCommandAbort: a rejected EXEC discards the transaction and its watches.
    static func abortExec(_ w: Worker, _ c: Client, error: String, _ out: inout ByteBuffer) {
        c.transaction = nil
        w.unwatchAll(c)
        let reason = error.hasPrefix("ERR ") ? String(error.dropFirst(4)) : error
        out.writeError(string: "EXECABORT Transaction discarded because of: " + reason)
    }

    // MARK: EXEC

    /// A queued command in EXEC's plan: its arguments (spans stored in the operation), its
    /// database, and the shard it runs on whole, if it has one.
    struct ExecItem {
        var command: UInt16
        var spans: Range<Int>
        var db: Int
        var shard: Int?
    }

    private enum Step {
        case parts([Int])      // items that run as parts, in parallel
        case nested(Int)       // an item that runs on its own, at the coordinator
    }

    private final class ExecState {
        var items: [ExecItem] = []
        var steps: [Step] = []
        var next = 0
        var replies: [[UInt8]] = []
        /// The part each item ran as (-1: it ran nested, its reply is in `replies`). Part
        /// replies stay in the operation's reply buffer until EXEC answers: no copies.
        var partOfItem: [Int] = []
    }

    /// Runs the transaction as steps: runs of single-shard commands as parts, the others
    /// (server commands, several shards) one at a time in between, in queue order.
    private static func planSteps(_ w: Worker, _ c: Client, _ op: MultiShardOperation, items: [ExecItem]) {
        let state = ExecState()
        state.items = items
        var pending: [Int] = []
        for (item, it) in items.enumerated() {
            if it.shard != nil {
                pending.append(item)
            } else {
                if !pending.isEmpty { state.steps.append(.parts(pending)); pending = [] }
                state.steps.append(.nested(item))
            }
        }
        if !pending.isEmpty { state.steps.append(.parts(pending)) }
        state.replies = Array(repeating: [], count: items.count)
        state.partOfItem = Array(repeating: -1, count: items.count)
        let client = c
        op.nestedReplyHandler = { item, bytes in state.replies[item] = Array(bytes) }
        op.combine = { [unowned w] op, out in
            while state.next < state.steps.count {
                let step = state.steps[state.next]
                state.next += 1
                switch step {
                case .parts(let items):
                    for item in items {
                        let it = state.items[item]
                        // HELLO inside the transaction changes the protocol of the replies after it.
                        op.addPart(shard: it.shard!, command: it.command, spans: it.spans, db: it.db,
                                   resp: client.resp)
                        state.partOfItem[item] = op.parts.count - 1
                    }
                    return false
                case .nested(let item):
                    runNested(w, client, op, item: item, state: state)
                    if op.remaining > 0 { return false }
                }
            }
            out.writeArrayHeader(state.items.count)
            for item in state.items.indices {
                let part = state.partOfItem[item]
                if part >= 0 {
                    let r = op.reply(part)
                    out.append(r)
                    countRun(w, state.items[item].command, reply: r)
                } else {
                    let r = state.replies[item]
                    out.append(r)
                    r.withUnsafeBytes { countRun(w, state.items[item].command, reply: $0) }
                }
            }
            return true
        }
    }

    /// Commands that answer once every worker has (`askEveryWorker`): with several workers
    /// they cannot run in the inline path, which writes every reply at once.
    private static let gathering: Set<String> = ["info", "client|list", "client|kill", "config|resetstat", "config|set"]

    /// What EXEC asks about each queued command, by table index, worked out once: reading a
    /// `CommandSpec` copies it (strings and arrays: a retain and release each) per command.
    private struct QueuedCommandTraits {
        var connectionLocal: [Bool] = []
        var gathers: [Bool] = []
        var isSelect: [Bool] = []
    }
    private static let traits: QueuedCommandTraits = {
        var t = QueuedCommandTraits()
        for spec in CommandTable.shared.specs {
            t.connectionLocal.append(isConnectionLocal(spec))
            t.gathers.append(gathering.contains(spec.name))
            t.isSelect.append(spec.name == "select")
        }
        return t
    }()

    /// Commands inside EXEC that touch no keys and need no locks.
    private static func isConnectionLocal(_ spec: CommandSpec) -> Bool {
        if spec.group == "connection" || spec.group == "transactions" { return true }
        let base = spec.name.split(separator: "|").first.map(String.init) ?? spec.name
        return ["info", "config", "command", "time", "lastsave", "client"].contains(base)
    }

    static func exec(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard let tx = c.transaction else { out.writeError("ERR EXEC without MULTI"); return }
        c.transaction = nil
        // Everything below copies what it keeps out of the queue (runInline runs from it).
        defer {
            tx.reset()
            c.spareTransaction = tx
        }
        if tx.failed {
            w.unwatchAll(c)
            out.writeError("EXECABORT Transaction discarded because of previous errors.")
            return
        }
        if tx.commands.isEmpty && c.watchedShards.isEmpty {
            out.writeArrayHeader(0)
            return
        }
        // Keys on two shards: one worker owns one shard, so neither runs without locks.
        if !tx.spansShards {
            if runInline(w, c, tx, &call, &out) { return }
            if runOnOwner(w, c, tx) { return }
        }
        let op = w.operations.make(client: c) { _, _ in true }  // combine set below
        op.forceLocks = true
        op.abortReply = { op, out in out.writeNullArray(op.resp) }
        if !c.watchedShards.isEmpty {
            op.watchingClient = c.id
            for s in c.watchedShards { op.lockPlan.include(shard: s) }
            let client = c
            op.onFinish = { [unowned w] in w.unwatchAll(client) }
        }

        op.reserve(parts: tx.commands.count, spans: tx.spans.count, bytes: tx.storage.count)
        // A transaction of reads takes shared locks: it waits only for writers.
        op.readsOnly = tx.commands.allSatisfy {
            w.table.routes[Int($0.index)].readOnly || traits.connectionLocal[Int($0.index)]
        }
        if tx.commands.allSatisfy({ $0.shard >= 0 }) {
            // Every queued command runs on one shard (the common transaction): its parts are
            // known now, so each shard runs its own as it grants the locks, one hop instead
            // of a grant and a round trip, and part i answers item i. (No SELECT among them:
            // every part runs in the client's db.)
            planParts(w, c, op, tx)
        } else {
            planItems(w, c, op, tx)
        }
        w.start(op, client: c, call: &call, out: &out)
    }

    /// EXEC's plan when every queued command names keys of one shard: each is part i, run
    /// as its shard grants; its keys are locked there.
    private static func planParts(_ w: Worker, _ c: Client, _ op: MultiShardOperation, _ tx: TransactionQueue) {
        // The queue's arguments, copied whole: its bytes hold exactly the spans' bytes.
        let spanBase = op.spans.count
        tx.withArgumentBytes { op.storeAll($0, spans: tx.spans) }
        let db = c.db, resp = c.resp
        tx.withArgumentBytes { bytes in
            tx.spans.withUnsafeBufferPointer { spans in
                for n in 0..<tx.commands.count {
                    let command = tx.commands[n]
                    let queued = Arguments(base: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!,
                                           spans: spans.baseAddress! + command.firstSpan, count: command.count)
                    let route = w.table.routes[Int(command.index)]
                    let last = min(route.lastKeyIndex(argumentCount: queued.count), queued.count - 1)
                    var i = Int(route.firstKey)
                    while i <= last {
                        op.lockKey(queued[i], shard: command.shard)
                        i += max(1, Int(route.step))
                    }
                    let first = spanBase + command.firstSpan
                    op.addPart(shard: command.shard, command: command.index, spans: first..<first + command.count,
                               db: db, resp: resp)
                }
            }
        }
        op.isOneShot = true
        op.combine = w.execPartsCombine
    }

    /// EXEC's general plan: one item per queued command, with its db (SELECT inside MULTI
    /// moves it) and the shard it runs on whole, if it has one; steps of parts and nested
    /// commands (`planSteps`) unless every item has a shard.
    private static func planItems(_ w: Worker, _ c: Client, _ op: MultiShardOperation, _ tx: TransactionQueue) {
        var items = w.execPlanScratch
        w.execPlanScratch = []  // taken, not shared: clearing a shared buffer copies it (an allocation per EXEC)
        items.clearKeepingCapacity()
        defer { w.execPlanScratch = items }
        var db = c.db
        var allOnOneShardEach = true
        // The queue's arguments, copied whole: its bytes hold exactly the spans' bytes (an
        // append per argument was ~20 uniqueness checks and appends per transaction).
        let spanBase = op.spans.count
        tx.withArgumentBytes { op.storeAll($0, spans: tx.spans) }
        tx.withArgumentBytes { bytes in
            tx.spans.withUnsafeBufferPointer { spans in
                for command in tx.commands {
                    let queued = Arguments(base: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!,
                                           spans: spans.baseAddress! + command.firstSpan, count: command.count)
                    let spanRange = spanBase + command.firstSpan..<spanBase + command.firstSpan + command.count
                    let route = w.table.routes[Int(command.index)]
                    var home: Int?
                    if route.kind == .keyed {
                        let last = min(route.lastKeyIndex(argumentCount: queued.count), queued.count - 1)
                        var i = Int(route.firstKey)
                        while i <= last {
                            op.lockKey(queued[i], shard: command.shard >= 0 ? command.shard : w.shardOf(queued[i]))
                            i += max(1, Int(route.step))
                        }
                        if command.shard >= 0 { home = command.shard }
                    } else if !traits.connectionLocal[Int(command.index)] {
                        for s in 0..<w.context.shardCount { op.lockWholeShard(s) }
                    }
                    if traits.isSelect[Int(command.index)], queued.count == 2, let n = queued.integer(1), n >= 0, n < w.context.databases {
                        db = n
                    }
                    if home == nil { allOnOneShardEach = false }
                    items.append(ExecItem(command: command.index, spans: spanRange, db: db, shard: home))
                }
            }
        }
        if allOnOneShardEach {
            // Every queued command runs on one shard (the common transaction): its parts are
            // known now, so each shard runs its own as it grants the locks, one hop instead
            // of a grant and a round trip, and part i answers item i.
            for it in items {
                op.addPart(shard: it.shard!, command: it.command, spans: it.spans, db: it.db, resp: c.resp)
            }
            op.isOneShot = true
            op.combine = w.execPartsCombine
        } else {
            planSteps(w, c, op, items: items)
        }
    }

    /// The common case needs no locks: every queued command runs on this worker's own shard
    /// (or touches no keys), no granted lock holds one of its keys, and nothing of the
    /// client waits on the shard. Then the transaction runs here and now, in one go:
    /// nothing else can interleave on this thread, which is all the atomicity it needs (a
    /// lock request still queued for one of its keys just comes after it). Returns false to
    /// take the general path.
    private static func runInline(_ w: Worker, _ c: Client, _ tx: TransactionQueue, _ call: inout CommandCall,
                                  _ out: inout ByteBuffer) -> Bool {
        // Keys held by a granted lock belong to an operation in flight (as for single
        // commands, mustWait); the client's own commands queued on the shard come first.
        guard let shard = w.shard, !shard.locks.wholeShardHeld, !w.hasQueuedWork(of: c.id) else { return false }
        let checkLocks = !shard.locks.isIdle
        let own = w.index
        for s in c.watchedShards where w.context.owner(ofShard: s) != own { return false }
        let fits = tx.withArgumentBytes { bytes in
            tx.spans.withUnsafeBufferPointer { spans in
                tx.commands.allSatisfy { command in
                    let route = w.table.routes[Int(command.index)]
                    switch route.kind {
                    case .keyed:
                        if command.shard == TransactionQueue.noKeys { return true }
                        guard command.shard >= 0, w.context.owner(ofShard: command.shard) == own else { return false }
                        guard checkLocks else { return true }
                        let args = Arguments(base: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!,
                                             spans: spans.baseAddress! + command.firstSpan, count: command.count)
                        let last = min(route.lastKeyIndex(argumentCount: args.count), args.count - 1)
                        var i = Int(route.firstKey)
                        while i <= last {
                            if shard.locks.blocks(key: args[i]) { return false }
                            i += max(1, Int(route.step))
                        }
                        return true
                    case .client:
                        let i = Int(command.index)
                        return traits.connectionLocal[i] && (w.context.workerCount == 1 || !traits.gathers[i])
                    case .container:
                        return false
                    }
                }
            }
        }
        guard fits else { return false }
        defer { w.unwatchAll(c) }
        if !c.watchedShards.isEmpty {
            var dirty = shard.watches.isDirty(c.id)
            for k in shard.watches.keys(of: c.id) where !dirty && !shard.watches.watchedExpired(c.id, k) {
                dirty = k.key.withUnsafeBytes { shard.isLogicallyExpired(db: k.db, key: $0) }
            }
            if dirty {
                out.writeNullArray(c.resp)
                return true
            }
        }
        out.writeArrayHeader(tx.commands.count)
        // One replication group: the transaction reaches replicas as MULTI ... EXEC.
        let tag = w.propagation != nil ? w.newPropagationTag() : 0
        tx.withArgumentBytes { bytes in
            tx.spans.withUnsafeBufferPointer { spans in
                for command in tx.commands {
                    let args = Arguments(base: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!,
                                         spans: spans.baseAddress! + command.firstSpan, count: command.count)
                    let start = out.count
                    if let handler = w.table.shardHandlerIfKeyed(command.index) {
                        CommandTable.run(command.index, handler,
                                    ShardContext(shard: shard, db: c.db, resp: c.resp, clientID: c.id), args, &out, tag: tag)
                    } else if let handler = w.table.clientHandlers[Int(command.index)] {
                        // Connection-local, starting no operation: it runs within EXEC's own call.
                        handler(w, c, args, &call, &out)
                    }
                    countRun(w, command.index, reply: UnsafeRawBufferPointer(start: out.base + start, count: out.count - start))
                }
            }
        }
        if tag != 0 { w.propagation?.complete(tag: tag) }
        return true
    }

    /// Counts a command EXEC ran, as Redis's call() counts each command of a transaction
    /// (INFO commandstats, errorstats, total_commands_processed).
    /// Combines a transaction whose item i is part i (EXEC's common case). Made once per
    /// worker (Worker.execPartsCombine): a closure capturing the worker, made per EXEC, was
    /// an allocation per cross-shard transaction.
    static func partsCombine(_ w: Worker) -> MultiShardOperation.Combine {
        { [unowned w] op, out in
            out.writeArrayHeader(op.parts.count)
            for p in 0..<op.parts.count {
                let r = op.reply(p)
                out.append(r)
                countRun(w, op.parts[p].command, reply: r)
            }
            return true
        }
    }

    static func countRun(_ w: Worker, _ command: UInt16, reply: UnsafeRawBufferPointer) {
        w.stats.commandsProcessed.add(1, ordering: .relaxed)
        w.commandStats.countQueued(Int(command), reply: reply)
    }

    /// Runs one queued command that is not a single-shard part (a server command, or keys
    /// on several shards) as the client would, under the transaction's locks.
    private static func runNested(_ w: Worker, _ c: Client, _ op: MultiShardOperation, item: Int, state: ExecState) {
        let it = state.items[item]
        var reply = ByteBuffer(capacity: 64)
        let savedDB = c.db
        c.db = it.db
        op.spans.withUnsafeBufferPointer { spans in
            let args = Arguments(base: UnsafeRawPointer(op.storage.base), spans: spans.baseAddress! + it.spans.lowerBound,
                                 count: it.spans.count)
            w.runInTransaction(c, command: it.command, args: args, nesting: (op.transaction, op.slot, item), out: &reply)
        }
        // SELECT inside the transaction moves the client; other nested commands leave db alone.
        if !traits.isSelect[Int(it.command)] { c.db = savedDB }
        if reply.count > 0 { state.replies[item] = reply.bytes }
    }
}
