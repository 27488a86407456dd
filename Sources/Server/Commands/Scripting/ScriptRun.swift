#if canImport(Glibc)
import Glibc
#endif
import CShim
import RESP
import Shards

/// A script running on its shard's owner: what redis.call/pcall needs to run a command
/// there. Commands go through the same table and handlers, and `CommandTable.run` (its
/// replication record, tagged with the script's group), as EXEC's single-owner path; the
/// reply bytes go back to vk_lua.c, which turns them into Lua values.
///
/// A script runs on one shard's owner. Its calls on keys of another shard reach that shard
/// only when the script runs under an operation that locked it whole (ScriptCommands'
/// runAcrossShards: `lockedShards`); they then go to its owner and this thread waits for
/// the reply (callRemote). Elsewhere they answer an error (Redis Cluster's wording).
final class ScriptRun {
    unowned let worker: Worker
    private(set) var ctx: ShardContext?
    private var readOnly = false
    private var tag: UInt64 = 0
    private var db = 0
    /// The reply of the last command, read by the C side until the next call.
    private var reply = ByteBuffer(capacity: 1024)
    private var spans: UnsafeMutablePointer<ArgSpan>
    private var spanCapacity = 16
    /// The run's timing and state for busy-reply-threshold (BusyScript.swift).
    var busy = BusyRun()
    /// The tag of a remote call made under redis.set_repl without REPL_REPLICA: the owner
    /// runs it unrecorded (no propagation tag is ever this large).
    static let unrecordedTag = UInt64.max
    /// Set while the script runs under an operation holding these shards whole.
    var lockedShards: [Int]?
    private var transaction: UInt64 = 0
    private let remoteReply = SyncReplySlot()
    /// Set around a single-shard run that may be abandoned for a multi-shard rerun
    /// (`__eval_rerunnable`, lua-allow-undeclared-keys): a call on another shard's key then
    /// abandons it (`abandoned`), and its writes are undone from `undo`.
    var mayAbandon = false
    private(set) var abandoned = false
    /// The keys this run's writes may change, as they were (only while `mayAbandon`).
    let undo = WriteUndoLog()
    /// A write the undo log cannot cover ran: the run can no longer be abandoned.
    private var undoIncomplete = false
    private var savesForUndo = true
    /// Something was saved for undo in this run (it must be settled at its end).
    private(set) var saved = false
    private let moveCommand: UInt16?
    private let copyCommand: UInt16?
    private let mgetCommand: UInt16?
    private let msetCommand: UInt16?

    init(worker: Worker) {
        self.worker = worker
        spans = .allocate(capacity: spanCapacity)
        moveCommand = worker.table.index(of: "move")
        copyCommand = worker.table.index(of: "copy")
        mgetCommand = worker.table.index(of: "mget")
        msetCommand = worker.table.index(of: "mset")
    }

    deinit { spans.deallocate() }

    /// `savesForUndo`: a run that may be abandoned keeps its keys' prior states; one of a
    /// script that names only its declared keys cannot be abandoned after a write (it
    /// cannot meet another shard) and keeps nothing.
    func begin(ctx: ShardContext, readOnly: Bool, tag: UInt64, savesForUndo: Bool = true) {
        self.savesForUndo = savesForUndo
        self.ctx = ctx
        self.readOnly = readOnly
        self.tag = tag
        transaction = lockedShards != nil ? ctx.transaction : 0
        db = ctx.db
        abandoned = false
        undoIncomplete = false
        saved = false
    }

    func end() {
        endBusy()
        ctx = nil
        reply.clear()
    }

    /// Gives up the run: the script stops at once (vk_lua.c raises at every line after) and
    /// the caller undoes its writes and runs it again under locks on every shard.
    private func abandon(_ out: UnsafeMutablePointer<UnsafePointer<CChar>?>, _ length: UnsafeMutablePointer<Int>) -> Int32 {
        abandoned = true
        _ = answer(error: "Script attempted to access keys that do not hash to the same slot", out, length)
        return 2
    }

    /// Before a write command of a run that may be abandoned (its keys on this shard or not:
    /// keys of another shard are saved as absent, and the run is abandoned before it runs):
    /// keeps what its keys hold, or notes that the run can no longer be abandoned. A run
    /// already abandoned (a pcall caught it and the hook has not fired yet) runs nothing more.
    @inline(never)
    private func prepareUndo(_ index: UInt16, _ route: CommandTable.Route, _ args: Arguments, shard: Shard,
                             _ out: UnsafeMutablePointer<UnsafePointer<CChar>?>,
                             _ length: UnsafeMutablePointer<Int>) -> Int32? {
        if abandoned { return abandon(out, length) }
        saved = true
        saveForUndo(index, route: route, args, shard: shard)
        return nil
    }

    /// Keeps the prior state of every key a write command may change. MOVE and COPY ... DB
    /// also write the key in another database.
    private func saveForUndo(_ index: UInt16, route: CommandTable.Route, _ args: Arguments, shard: Shard) {
        let argc = args.count
        guard route.firstKey > 0 else {
            undoIncomplete = true  // a write naming no key: its effects are not known here
            return
        }
        let last = min(route.lastKeyIndex(argumentCount: argc), argc - 1)
        var k = Int(route.firstKey)
        while k <= last {
            undo.save(shard, db: db, key: args[k])
            k += max(1, Int(route.step))
        }
        if index == moveCommand, argc == 3, let target = Int(String(decoding: args[2], as: UTF8.self)),
           target >= 0, target < shard.databaseCount {
            undo.save(shard, db: target, key: args[1])
        } else if index == copyCommand {
            var i = 3
            while i + 1 < argc {
                if argIs(args[i], "db"), let target = Int(String(decoding: args[i + 1], as: UTF8.self)),
                   target >= 0, target < shard.databaseCount {
                    undo.save(shard, db: target, key: args[2])
                }
                i += 1
            }
        }
    }

    /// Runs one redis.call: 0 and the reply's bytes, or 1 and an error text (vk_lua.h).
    func call(resp: Int32, argc: Int, argv: UnsafePointer<UnsafePointer<CChar>?>, lens: UnsafePointer<Int>,
              reply out: UnsafeMutablePointer<UnsafePointer<CChar>?>, replyLength: UnsafeMutablePointer<Int>) -> Int32 {
        guard let ctx else { return answer(error: "redis.call/pcall can only be called inside a script invocation", out, replyLength) }
        if argc > spanCapacity {
            spans.deallocate()
            spanCapacity = max(argc, spanCapacity * 2)
            spans = .allocate(capacity: spanCapacity)
        }
        // The arguments stay where Lua keeps them: spans are offsets from the first one.
        let base = UnsafeRawPointer(argv[0]!)
        for i in 0..<argc {
            spans[i] = ArgSpan(offset: UnsafeRawPointer(argv[i]!) - base, count: lens[i])
        }
        let args = Arguments(base: base, spans: spans, count: argc)
        let table = worker.table
        reply.clear()
        let index: UInt16
        switch table.resolve(args) {
        case .command(let i): index = i
        case .wrongArity: return answer(error: "Wrong number of args calling Redis command from script", out, replyLength)
        default: return answer(error: "Unknown Redis command called from script", out, replyLength)
        }
        let spec = table.specs[Int(index)]
        if spec.flags.contains(.noscript) {
            return answer(error: "This Redis command is not allowed from script", out, replyLength)
        }
        let writes = spec.flags.contains(.write)
        if writes {
            if readOnly { return answer(error: "Write commands are not allowed from read-only scripts.", out, replyLength) }
            if let refusal = writeRefusal() { return answer(error: refusal, out, replyLength) }
            if !mayWrite() { return answer(error: "Script killed by user with SCRIPT KILL...", out, replyLength) }
        }
        let version: RESPVersion = resp == 3 ? .resp3 : .resp2
        let route = table.routes[Int(index)]
        // scriptVerifyAllowStale: an allow-stale script on a stale replica runs only the
        // commands that may run there.
        let stale = !spec.flags.contains(.stale) && AdmissionRule.staleReplica.isArmed(worker.context)
        switch route.kind {
        case .keyed:
            guard let handler = table.shardHandlers[Int(index)] else {
                return answer(error: "This Redis command is not allowed from script", out, replyLength)
            }
            let last = min(route.lastKeyIndex(argumentCount: argc), argc - 1)
            var k = Int(route.firstKey)
            var target = -1
            var spread: SpreadReply?
            while k > 0 && k <= last {
                let s = worker.shardOf(args[k])
                if target < 0 { target = s }
                if s != target {
                    // MSET with a value missing: its handler refuses it before any write.
                    if index == msetCommand && argc % 2 == 0 { break }
                    guard let how = spreadReply(index) else {
                        return answer(error: "Script attempted to access keys that do not hash to the same slot", out, replyLength)
                    }
                    spread = how
                    break
                }
                k += max(1, Int(route.step))
            }
            if stale { return answer(error: "Can not execute the command on a stale replica", out, replyLength) }
            if writes && mayAbandon && savesForUndo,
               let refusal = prepareUndo(index, route, args, shard: ctx.shard, out, replyLength) {
                return refusal
            }
            if let spread {
                return runSpread(spread, index, handler, route, args, version, ctx: ctx, out, replyLength)
            }
            if target >= 0 && target != ctx.shard.index {
                if let refusal = refuseUnheld(shard: target, out, replyLength) { return refusal }
                callRemote(index, shard: target, args, version)
                TransactionCommands.countRun(worker, index, reply: reply.readable)
                out.pointee = UnsafeRawPointer(reply.base).assumingMemoryBound(to: CChar.self)
                replyLength.pointee = reply.count
                return 0
            }
            let commandContext = ShardContext(shard: ctx.shard, db: db, resp: version, clientID: ctx.clientID, worker: worker)
            if vk_lua_replicates() != 0 {
                CommandTable.run(index, handler, commandContext, args, &reply, tag: tag)
            } else {
                handler(commandContext, args, &reply)  // redis.set_repl without REPL_REPLICA: not recorded
            }
        case .client:
            if stale { return answer(error: "Can not execute the command on a stale replica", out, replyLength) }
            guard runHere(spec.name, args, version) else {
                return answer(error: "This command is not supported from scripts on this server yet", out, replyLength)
            }
        case .container:
            return answer(error: "Wrong number of args calling Redis command from script", out, replyLength)
        }
        TransactionCommands.countRun(worker, index, reply: reply.readable)
        out.pointee = UnsafeRawPointer(reply.base).assumingMemoryBound(to: CChar.self)
        replyLength.pointee = reply.count
        return 0
    }

    /// A call reaching `shard`, another than the run's: nil if the run's operation holds it,
    /// else the run is abandoned (to run again across shards) or the call refused.
    private func refuseUnheld(shard: Int, _ out: UnsafeMutablePointer<UnsafePointer<CChar>?>,
                              _ replyLength: UnsafeMutablePointer<Int>) -> Int32? {
        if transaction != 0, let locked = lockedShards, locked.contains(shard) { return nil }
        // A run that saves nothing for undo may be abandoned only before it wrote.
        if mayAbandon && !(savesForUndo ? undoIncomplete : busy.wrote) { return abandon(out, replyLength) }
        return answer(error: "Script attempted to access keys that do not hash to the same slot", out, replyLength)
    }

    /// Runs a command on another shard this script's operation holds whole: sent to the
    /// owner at once as a request of the operation (its transaction id passes the locks, its
    /// tag puts the writes in the script's group), then this thread waits for the reply.
    /// No deadlock: the owner is in its loop, since every worker that runs a script spanning
    /// shards holds its own shard whole, and two such scripts never hold a shard in common
    /// (docs/ARCHITECTURE.md, Scripting).
    private func callRemote(_ command: UInt16, shard: Int, _ args: Arguments, _ version: RESPVersion) {
        let context = worker.context
        let owner = context.owner(ofShard: shard)
        let batch = worker.outbox.spareBatch(for: owner)
        batch.syncReply = remoteReply
        remoteReply.clear()
        batch.add(command: command, db: db, resp: version, arguments: args,
                  sink: ReplySink(kind: .dropped, index: -1, id: ctx?.clientID ?? 0, ticket: 0),
                  transaction: transaction, tag: vk_lua_replicates() != 0 ? tag : Self.unrecordedTag)
        // Straight onto the ring, past anything of this pass still waiting for room: the
        // owner has granted this operation's lock, so nothing queued before it matters to it.
        let ring = context.ring(from: worker.index, to: owner)
        var spins = 0
        while true {
            if case .pushed = ring.push(.requests(batch)) { break }
            Self.pause(&spins)
        }
        context.wakers[owner].wakeIfAsleep()
        remoteReply.wait()
        reply.clear()
        reply.append(batch.reply(0))
        batch.syncReply = nil
        worker.outbox.recycle(batch)
    }

    /// Spins briefly, then yields the core (the owner needs room in its ring).
    private static func pause(_ spins: inout Int) {
        spins += 1
        if spins > 200 { sched_yield() }
    }

    /// scriptVerifyWriteCommandAllow: a write inside a script meets the refusals a write
    /// command would (a read-only replica, a failed background save, too few replicas).
    private func writeRefusal() -> String? {
        if AdmissionRule.readOnlyReplica.isArmed(worker.context) { return "-" + AdmissionRule.readOnlyReplica.error }
        if AdmissionRule.diskError.isArmed(worker.context) && worker.writesStoppedByDiskError() {
            return "-" + AdmissionRule.diskError.error
        }
        if AdmissionRule.minReplicas.isArmed(worker.context) && !worker.enoughGoodReplicas() {
            return "-" + AdmissionRule.minReplicas.error
        }
        return nil
    }

    /// processCommand's refusals of a write command, in its order (MISCONF, NOREPLICAS,
    /// READONLY), for a script whose shebang lets it write.
    func commandWriteRefusal() -> String? {
        let context = worker.context
        if AdmissionRule.diskError.isArmed(context) && worker.writesStoppedByDiskError() {
            return AdmissionRule.diskError.error
        }
        if AdmissionRule.minReplicas.isArmed(context) && !worker.enoughGoodReplicas() { return AdmissionRule.minReplicas.error }
        if AdmissionRule.readOnlyReplica.isArmed(context) { return AdmissionRule.readOnlyReplica.error }
        return nil
    }

    /// The few connection and server commands scripts use that need no client: answered
    /// here as their handlers would. False for the others (not yet supported in scripts).
    private func runHere(_ name: String, _ args: Arguments, _ version: RESPVersion) -> Bool {
        switch name {
        case "ping":
            if args.count == 1 { reply.append("+PONG\r\n") } else { reply.writeBulk(args[1]) }
        case "echo":
            reply.writeBulk(args[1])
        case "select":
            // The script's own database from here on (the client's stays), as in Redis.
            guard let n = Int(String(decoding: args[1], as: UTF8.self)) else {
                reply.writeError(Errors.notInteger)
                return true
            }
            guard let shard = ctx?.shard, n >= 0, n < shard.databaseCount else {
                reply.writeError("ERR DB index is out of range")
                return true
            }
            db = n
            reply.writeOK()
        case "time":
            var tv = timeval()
            gettimeofday(&tv, nil)
            reply.writeArrayHeader(2)
            reply.writeBulkDecimal(Int(tv.tv_sec))
            reply.writeBulkDecimal(Int(tv.tv_usec))
        default:
            return false
        }
        return true
    }

    // MARK: Multi-key commands whose keys span shards

    /// How a multi-key command whose keys live on several shards answers when a script runs
    /// it as one call per shard (Redis runs it whole: a script outside Redis Cluster may
    /// name keys of any slots in one command).
    enum SpreadReply {
        /// The sum of the calls' counts (DEL, UNLINK, EXISTS, TOUCH).
        case count
        /// +OK (MSET).
        case ok
        /// Each key's value from its shard's array, in argument order (MGET).
        case values
    }

    private func spreadReply(_ index: UInt16) -> SpreadReply? {
        if index == mgetCommand { return .values }
        if index == msetCommand { return .ok }
        if case .keyed(_, let split?, _) = worker.table.specs[Int(index)].run, split.combine == .sumIntegers,
           split.stride == 1 {
            return .count
        }
        return nil
    }

    /// Runs `index` once per shard its keys live on, each call with that shard's keys (key
    /// groups of the command's step: MSET's pairs) in argument order: on this run's shard
    /// inline, on another one this run's operation holds as callRemote does; then answers
    /// as the command would. Every shard must be held, as for a single remote call.
    private func runSpread(_ how: SpreadReply, _ index: UInt16, _ handler: ShardHandler, _ route: CommandTable.Route,
                           _ args: Arguments, _ version: RESPVersion, ctx: ShardContext,
                           _ out: UnsafeMutablePointer<UnsafePointer<CChar>?>,
                           _ replyLength: UnsafeMutablePointer<Int>) -> Int32 {
        let argc = args.count
        let first = Int(route.firstKey)
        let step = max(1, Int(route.step))
        let last = min(route.lastKeyIndex(argumentCount: argc), argc - 1)
        var shardOfGroup: [Int] = []
        var shards: [Int] = []
        var k = first
        while k <= last {
            let s = worker.shardOf(args[k])
            shardOfGroup.append(s)
            if !shards.contains(s) { shards.append(s) }
            k += step
        }
        for s in shards where s != ctx.shard.index {
            if let refusal = refuseUnheld(shard: s, out, replyLength) { return refusal }
        }
        var replies: [[UInt8]] = []
        withUnsafeTemporaryAllocation(of: ArgSpan.self, capacity: argc) { sub in
            for s in shards {
                sub[0] = args.spans[0]
                var n = 1
                var group = 0
                var k = first
                while k <= last {
                    if shardOfGroup[group] == s {
                        for j in k..<min(k + step, argc) {
                            sub[n] = args.spans[j]
                            n += 1
                        }
                    }
                    group += 1
                    k += step
                }
                let part = Arguments(base: args.base, spans: UnsafePointer(sub.baseAddress!), count: n)
                reply.clear()
                if s == ctx.shard.index {
                    let commandContext = ShardContext(shard: ctx.shard, db: db, resp: version, clientID: ctx.clientID,
                                                      worker: worker)
                    if vk_lua_replicates() != 0 {
                        CommandTable.run(index, handler, commandContext, part, &reply, tag: tag)
                    } else {
                        handler(commandContext, part, &reply)
                    }
                } else {
                    callRemote(index, shard: s, part, version)
                }
                replies.append(Array(reply.readable))
            }
        }
        reply.clear()
        if let error = replies.first(where: { $0.first == UInt8(ascii: "-") }) {
            reply.append(error)
        } else {
            switch how {
            case .count:
                var total = 0
                for r in replies {
                    r.withUnsafeBytes { b in
                        if let end = RESPScan.lineEnd(b, from: 0), let n = parseStrictInt(b, from: 1, to: end - 2) {
                            total += n
                        }
                    }
                }
                reply.writeInteger(total)
            case .ok:
                reply.writeOK()
            case .values:
                // Each shard's array answers its keys in argument order: a cursor into each.
                var cursors = replies.map { r in r.withUnsafeBytes { RESPScan.lineEnd($0, from: 0) ?? r.count } }
                reply.writeArrayHeader(shardOfGroup.count)
                for s in shardOfGroup {
                    let p = shards.firstIndex(of: s)!
                    replies[p].withUnsafeBytes { b in
                        let end = RESPScan.elementEnd(b, from: cursors[p]) ?? b.count
                        reply.append(UnsafeRawBufferPointer(rebasing: b[cursors[p]..<end]))
                        cursors[p] = end
                    }
                }
            }
        }
        TransactionCommands.countRun(worker, index, reply: reply.readable)
        out.pointee = UnsafeRawPointer(reply.base).assumingMemoryBound(to: CChar.self)
        replyLength.pointee = reply.count
        return 0
    }

    private func answer(error text: String, _ out: UnsafeMutablePointer<UnsafePointer<CChar>?>,
                        _ length: UnsafeMutablePointer<Int>) -> Int32 {
        reply.clear()
        reply.append(string: text)
        out.pointee = UnsafeRawPointer(reply.base).assumingMemoryBound(to: CChar.self)
        length.pointee = reply.count
        return 1
    }
}
