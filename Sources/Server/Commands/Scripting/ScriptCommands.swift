import RESP
import Shards

/// EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT.
///
/// A script runs in one go on the thread that owns its keys' shard, in that worker's
/// interpreter (ScriptEngine): on the client's own worker inline, or sent whole to the
/// owner as one request (`__eval`), as EXEC's single-owner path sends a transaction
/// (TransactionOnOwner.swift): one hop there and back, no locks, waiting like a single
/// command while a granted lock may hold one of its keys. Nothing else runs on that thread
/// meanwhile, which is all the atomicity one shard needs.
///
/// A script whose declared keys span shards, or one without keys on a multi-shard server
/// (lua-allow-undeclared-keys), locks those shards whole first (runAcrossShards; see
/// docs/ARCHITECTURE.md, Scripting).
enum ScriptCommands {
    static let specs: [CommandSpec] = [
        evalRow("eval", readOnly: false, since: "2.6.0", first: .string("script")),
        evalRow("evalsha", readOnly: false, since: "2.6.0", first: .string("sha1")),
        evalRow("eval_ro", readOnly: true, since: "7.0.0", first: .string("script")),
        evalRow("evalsha_ro", readOnly: true, since: "7.0.0", first: .string("sha1")),
        CommandSpec(part: .evalHere, arity: -4, keys: (1, -1, 1), group: "scripting",
                    run: .keyed(evalHere, split: nil, crossShard: nil)),
        CommandSpec(part: .evalLocked, arity: -4, keys: (1, -1, 1), group: "scripting",
                    run: .keyed(evalLocked, split: nil, crossShard: nil)),
        CommandSpec(part: .evalRerunnable, arity: -4, keys: (1, -1, 1), group: "scripting",
                    run: .keyed(evalRerunnable, split: nil, crossShard: nil)),
        CommandSpec(part: .evalEverywhere, arity: -4, keys: (1, -1, 1), group: "scripting",
                    run: .keyed(evalEverywhere, split: nil, crossShard: nil)),
        CommandSpec("script", arity: -2, group: "scripting", summary: "Manage the server's cache of Lua scripts.",
                    run: .container, subcommands: [
                        CommandSpec("script|load", arity: 3, flags: [.noscript, .stale], group: "scripting",
                                    summary: "Compile a script and keep it in the cache; answers its SHA1.",
                                    run: .client(scriptLoad))
                            .described(since: "2.6.0", acl: [.slow, .scripting],
                                       tips: ["request_policy:all_nodes", "response_policy:all_succeeded"],
                                       arguments: [.string("script")]),
                        CommandSpec("script|exists", arity: -3, flags: [.noscript], group: "scripting",
                                    summary: "For each SHA1 given, whether the cache holds that script.",
                                    run: .client(scriptExists))
                            .described(since: "2.6.0", acl: [.slow, .scripting],
                                       tips: ["request_policy:all_shards", "response_policy:agg_logical_and"],
                                       arguments: [.string("sha1").multiple]),
                        CommandSpec("script|flush", arity: -2, flags: [.noscript], group: "scripting",
                                    summary: "Empty the script cache (every worker's interpreter starts afresh).",
                                    run: .client(scriptFlush))
                            .described(since: "2.6.0", acl: [.slow, .scripting],
                                       tips: ["request_policy:all_nodes", "response_policy:all_succeeded"],
                                       arguments: [.oneOf("async", [.token("ASYNC"), .token("SYNC")]).optional]),
                        CommandSpec("script|kill", arity: 2, flags: [.noscript, .allowBusy], group: "scripting",
                                    summary: "Stop the script that is running, if it has not written.",
                                    run: .client(scriptKill))
                            .described(since: "2.6.0", acl: [.slow, .scripting],
                                       tips: ["request_policy:all_shards", "response_policy:one_succeeded"]),
                        CommandSpec("script|help", arity: 2, flags: [.loading, .stale], group: "scripting",
                                    summary: "List the SCRIPT subcommands.", run: .client(scriptHelp))
                            .described(since: "5.0.0", acl: [.slow, .scripting]),
                    ])
            .described(since: "2.6.0", acl: [.slow]),
    ]

    private static func evalRow(_ name: String, readOnly: Bool, since: String, first: CommandArgument) -> CommandSpec {
        var flags: CommandFlags = [.noscript, .stale, .skipMonitor, .noMandatoryKeys, .movableKeys]
        if readOnly { flags.insert(.readonly) }
        let notes = name.hasPrefix("evalsha") ? nil
            : readOnly ? "We cannot tell how the keys will be used so we assume the worst, RO and ACCESS"
            : "We cannot tell how the keys will be used so we assume the worst, RW and UPDATE"
        let keyFlags = readOnly ? ["RO", "access"] : ["RW", "access", "update"]
        let summary = readOnly ? "Run a Lua script that may only read." : "Run a Lua script on the server."
        return CommandSpec(name, arity: -3, flags: flags, group: "scripting",
                           summary: name.hasPrefix("evalsha") ? summary.replacingOccurrences(of: "Run a", with: "Run a cached")
                               : summary,
                           run: .client(eval))
            .described(since: since, acl: [.slow, .scripting],
                       keySpecs: [KeySpec(keyFlags, index: 2, keyCountAt: 0, firstKeyAt: 1, notes: notes)],
                       arguments: [first, .integer("numkeys"), .key("key").optional.multiple,
                                   .string("arg").optional.multiple])
    }

    // MARK: EVAL and friends

    /// Checks numkeys, finds the shard of the declared keys and runs the script there.
    static func eval(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard let numkeys = Self.numkeys(args, notInteger: Errors.notInteger, &out) else { return }
        runOnHome(w, c, args, numkeys: numkeys, &call, &out)
    }

    /// EVAL's and FCALL's numkeys (`args[2]`, keys from `args[3]`), checked in Redis's order;
    /// nil after writing the error. Only the text for a non-integer differs between them.
    static func numkeys(_ args: Arguments, notInteger: StaticString, _ out: inout ByteBuffer) -> Int? {
        guard let numkeys = parseStrictInt(args[2]) else {
            out.writeError(notInteger)
            return nil
        }
        if numkeys > args.count - 3 {
            out.writeError("ERR Number of keys can't be greater than number of args")
            return nil
        }
        if numkeys < 0 {
            out.writeError("ERR Number of keys can't be negative")
            return nil
        }
        return numkeys
    }

    /// Runs EVAL's or FCALL's request (`__eval` with the command's own arguments) on the
    /// shard of its declared keys, inline or on the owner's thread. `reachesOtherShards`:
    /// FCALL of a function flagged allow-cross-slot-keys.
    static func runOnHome(_ w: Worker, _ c: Client, _ args: Arguments, numkeys: Int, reachesOtherShards: Bool = false,
                          _ call: inout CommandCall, _ out: inout ByteBuffer) {
        // A script without keys runs on this worker's shard (any shard would do).
        var home = w.shard?.index ?? 0
        var spansShards = false
        var everyShard = false
        // Several shards, undeclared keys allowed: a run on one shard may be abandoned for
        // a rerun on every shard (ScriptRerun), or go there at once when known to need it.
        let rerunnable = w.context.shardCount > 1 && LiveConfig.luaAllowUndeclaredKeys.load(ordering: .relaxed)
        if numkeys > 0 {
            home = w.shardOf(args[3])
            for i in 4..<(3 + numkeys) where w.shardOf(args[i]) != home {
                spansShards = true
                break
            }
        } else if rerunnable {
            spansShards = keylessScriptMayCall(w, args)  // its keys are unknown: every shard
        }
        if rerunnable && !spansShards && call.nesting == nil
            && (reachesOtherShards || knownToReachOtherShards(args)) {
            spansShards = true
            everyShard = true
        }
        if spansShards {
            if call.nesting != nil {
                // Inside EXEC the script is one part under EXEC's key locks: one shard only.
                if numkeys > 0 {
                    out.writeError("CROSSSLOT Keys in request don't hash to the same slot")
                    return
                }
            } else {
                runAcrossShards(w, c, args, numkeys: numkeys, home: home, everyShard: everyShard, &call, &out)
                return
            }
        }
        if call.nesting != nil {
            // Inside EXEC: one part on the home shard, under the transaction's locks.
            let op = MultiShardOperation(client: c) { op, out in out.append(op.reply(0)); return true }
            op.addPart(shard: home, command: w.table.index(of: .evalHere),
                       spanIndices: (0..<args.count).map { op.store(args[$0]) })
            w.start(op, client: c, call: &call, out: &out)
            return
        }
        let part = w.table.index(of: rerunnable ? .evalRerunnable : .evalHere)
        let owner = w.context.owner(ofShard: home)
        if owner == w.index, let shard = w.shard {
            if w.commandsMayWait(shard),
               w.mustWait(shard, command: part, db: c.db, args: args, origin: w.index, client: c.id) {
                let ticket = c.takeTicket()
                w.wait(command: part, db: c.db, resp: c.resp, args: args,
                       sink: ReplySink(kind: .client, index: c.fd, id: c.id, ticket: ticket), origin: w.index)
                return
            }
            let start = out.count
            let ctx = ShardContext(shard: shard, db: c.db, resp: c.resp, clientID: c.id, worker: w)
            if rerunnable {
                evalRerunnable(ctx, args, &out)
                if out.count > start && out.readable[start] == ScriptRerun.markerByte {
                    // Abandoned, its effects undone: the client has seen nothing of it yet.
                    out.count = start
                    runAcrossShards(w, c, args, numkeys: numkeys, home: home, everyShard: true, &call, &out)
                }
            } else {
                evalHere(ctx, args, &out)
            }
        } else {
            let ticket = c.takeTicket(quick: true)
            w.batch(forWorker: owner).add(command: part, db: c.db, resp: c.resp, arguments: args,
                                          sink: ReplySink(kind: .client, index: c.fd, id: c.id, ticket: ticket))
        }
    }

    /// Whether the script of EVAL/EVALSHA/FCALL `args` is known to reach other shards
    /// (ScriptsAcrossShards), or says so in its shebang (`allow-cross-slot-keys`, EVAL:
    /// read here; EVALSHA: learned when any worker compiled it). One relaxed load while
    /// nothing is known.
    private static func knownToReachOtherShards(_ args: Arguments) -> Bool {
        let name = args[0]
        let known = ScriptsAcrossShards.shared
        let body = args[1]
        if (name[0] | 0x20) == UInt8(ascii: "f") {
            return !known.isEmpty && known.contains(ScriptsAcrossShards.key(function: body))
        }
        let bySHA = name.count >= 7 && (name[4] | 0x20) == UInt8(ascii: "s")  // evalsha, evalsha_ro
        if !bySHA && body.count > 2 && body[0] == UInt8(ascii: "#") && body[1] == UInt8(ascii: "!"),
           case .success(let (flags, _)) = ScriptEngine.shebang(body), flags.contains(.allowCrossSlotKeys) {
            return true
        }
        guard !known.isEmpty else { return false }
        return known.contains(bySHA ? ScriptsAcrossShards.key(sha: body) : ScriptsAcrossShards.key(body: body))
    }

    /// The reply of a rerunnable run that another worker ran (or that waited for a lock):
    /// if it is the abandonment marker, the script runs again across every shard and its
    /// reply takes the abandoned run's place (`ticket`) in the client's reply order.
    static func rerunIfAbandoned(_ w: Worker, _ c: Client, ticket: UInt32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard ScriptRerun.isMarker(bytes) else { return false }
        let started: Bool? = ScriptRerun.withArguments(of: bytes) { args -> Bool in
            guard args.count >= 3, let numkeys = parseStrictInt(args[2]), numkeys >= 0, numkeys <= args.count - 3
            else { return false }
            let home = numkeys > 0 ? w.shardOf(args[3]) : (w.shard?.index ?? 0)
            let op = acrossShardsOperation(w, c, args, numkeys: numkeys, home: home, everyShard: true)
            w.startInPlaceOf(ticket: ticket, op, client: c)
            return true
        }
        if started != true {
            var error = ByteBuffer(capacity: 64)
            error.writeError("ERR internal script request malformed")
            w.deliverDeferredReply(to: c, ticket: ticket, error.readable)
        }
        return true
    }

    /// Whether a script without declared keys may run commands, so must lock every shard:
    /// EVAL's body, or EVALSHA's script as this worker compiled it, never saying `call`
    /// (`return 1`, arithmetic on ARGV) runs on one shard as before. Unknown here (an
    /// EVALSHA this worker has not compiled, a function): assumed to.
    private static func keylessScriptMayCall(_ w: Worker, _ args: Arguments) -> Bool {
        let name = args[0]
        guard name.count >= 4, (name[0] | 0x20) == UInt8(ascii: "e") else { return true }  // FCALL
        let bySHA = name.count >= 7 && (name[4] | 0x20) == UInt8(ascii: "s")  // evalsha, evalsha_ro
        guard bySHA else { return ScriptEngine.bodyMayCall(args[1]) }
        guard args[1].count == 40, let engine = w.scripting else { return true }
        let sha = String(decoding: args[1].map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
        return engine.compiled(sha)?.mayCall ?? true
    }

    /// A script whose declared keys live on several shards, or (lua-allow-undeclared-keys)
    /// one without declared keys: an operation that locks those shards whole, in the global
    /// order, and once all have granted runs the script as one part on `home` (a shard of
    /// the plan), whose redis.call reaches the other locked shards synchronously
    /// (ScriptRun.callRemote). Its writes form the operation's replication group.
    /// `everyShard`: the keyless path's plan, whatever the declared keys (a script known to
    /// reach undeclared keys of other shards).
    private static func runAcrossShards(_ w: Worker, _ c: Client, _ args: Arguments, numkeys: Int, home: Int,
                                        everyShard: Bool, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        let op = acrossShardsOperation(w, c, args, numkeys: numkeys, home: home, everyShard: everyShard)
        w.start(op, client: c, call: &call, out: &out)
    }

    private static func acrossShardsOperation(_ w: Worker, _ c: Client, _ args: Arguments, numkeys: Int, home: Int,
                                              everyShard: Bool) -> MultiShardOperation {
        let op = MultiShardOperation(client: c) { op, out in out.append(op.reply(0)); return true }
        op.forceLocks = true
        op.partsAfterAllGrants = true
        for shard in lockedShards(w, args, numkeys: everyShard ? 0 : numkeys) { op.lockWholeShard(shard) }
        op.addPart(shard: home, command: w.table.index(of: everyShard ? .evalEverywhere : .evalLocked),
                   spanIndices: (0..<args.count).map { op.store(args[$0]) })
        return op
    }

    /// The shards a script spanning shards locks: those of its declared keys, or every shard
    /// when it declares none. Computed alike by the coordinator and the shard running it.
    static func lockedShards(_ w: Worker, _ args: Arguments, numkeys: Int) -> [Int] {
        if numkeys == 0 { return Array(0..<w.context.shardCount) }
        var shards: [Int] = []
        for i in 3..<(3 + numkeys) {
            let s = w.shardOf(args[i])
            if !shards.contains(s) { shards.append(s) }
        }
        return shards
    }

    /// `__eval_locked`: the script part of runAcrossShards, on the home shard under the
    /// operation's locks (`__eval_everywhere`: locks on every shard).
    private static func evalLocked(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        evalLocked(ctx, args, everyShard: false, &out)
    }

    private static func evalEverywhere(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        evalLocked(ctx, args, everyShard: true, &out)
    }

    private static func evalLocked(_ ctx: ShardContext, _ args: Arguments, everyShard: Bool, _ out: inout ByteBuffer) {
        guard let w = ctx.worker, let engine = ScriptEngine.of(w), let numkeys = parseStrictInt(args[2]),
              ctx.transaction != 0 else {
            out.writeError("ERR internal script request malformed")
            return
        }
        engine.run.lockedShards = lockedShards(w, args, numkeys: everyShard ? 0 : numkeys)
        defer { engine.run.lockedShards = nil }
        evalHere(ctx, args, &out)
    }

    /// `__eval_rerunnable`: a single-shard run that a call on another shard's key abandons
    /// (its effects undone, its reply the rerun marker: ScriptRerun).
    private static func evalRerunnable(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        eval(ctx, args, mayAbandon: true, &out)
    }

    /// The owner's side: finds or compiles the script in this worker's interpreter and runs
    /// it. Arguments are EVAL's own (argument 0 says which of the four commands it is).
    private static func evalHere(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        eval(ctx, args, mayAbandon: false, &out)
    }

    @inline(__always)
    private static func eval(_ ctx: ShardContext, _ args: Arguments, mayAbandon: Bool, _ out: inout ByteBuffer) {
        guard let w = ctx.worker, let engine = ScriptEngine.of(w), let numkeys = parseStrictInt(args[2]) else {
            out.writeError("ERR internal script request malformed")
            return
        }
        engine.run.mayAbandon = mayAbandon
        defer { if mayAbandon { engine.run.mayAbandon = false } }
        let name = args[0]
        if name[0] | 0x20 == UInt8(ascii: "f") {
            FunctionCommands.fcallHere(engine, ctx, args, numkeys: numkeys, &out)
            return
        }
        let bySHA = name.count >= 7 && (name[4] | 0x20) == UInt8(ascii: "s")  // evalsha, evalsha_ro
        let readOnly = name.count == 7 + (bySHA ? 3 : 0)  // eval_ro, evalsha_ro
        let script: ScriptEngine.Compiled
        let sha: String
        if bySHA {
            guard args[1].count == 40 else {
                out.writeError("NOSCRIPT No matching script. Please use EVAL.")
                return
            }
            sha = String(decoding: args[1].map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
            if let known = engine.compiled(sha) {
                script = known
            } else {
                guard let body = ScriptCache.shared.body(of: sha) else {
                    out.writeError("NOSCRIPT No matching script. Please use EVAL.")
                    return
                }
                guard let compiled = body.withUnsafeBytes({ compile(engine, sha: sha, body: $0, &out) }) else { return }
                script = compiled
            }
        } else {
            sha = scriptSHA(args[1])
            if let known = engine.compiled(sha) {
                script = known
            } else {
                guard let compiled = compile(engine, sha: sha, body: args[1], &out) else { return }
                ScriptCache.shared.add(sha: sha, body: Array(args[1]))
                script = compiled
            }
        }
        engine.execute(script, sha: sha, readOnlyCommand: readOnly, ctx: ctx, args: args, numkeys: numkeys, &out)
    }

    private static func compile(_ engine: ScriptEngine, sha: String, body: UnsafeRawBufferPointer,
                                _ out: inout ByteBuffer) -> ScriptEngine.Compiled? {
        switch engine.compile(sha: sha, body: body) {
        case .success(let script): return script
        case .failure(let error):
            out.writeError(string: error.text)
            return nil
        }
    }

    // MARK: SCRIPT

    /// Compiles the script in this worker's interpreter (for its errors) and caches it for all.
    private static func scriptLoad(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall,
                                   _ out: inout ByteBuffer) {
        guard let engine = ScriptEngine.of(w) else {
            out.writeError("ERR Lua interpreter unavailable")
            return
        }
        let sha = scriptSHA(args[2])
        guard compile(engine, sha: sha, body: args[2], &out) != nil else { return }
        ScriptCache.shared.add(sha: sha, body: Array(args[2]))
        out.writeBulk(string: sha)
    }

    private static func scriptExists(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall,
                                     _ out: inout ByteBuffer) {
        out.writeArrayHeader(args.count - 2)
        for i in 2..<args.count {
            let sha = String(decoding: args[i].map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
            out.writeInteger(ScriptCache.shared.contains(sha) ? 1 : 0)
        }
    }

    private static func scriptFlush(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall,
                                    _ out: inout ByteBuffer) {
        guard args.count == 2 || (args.count == 3 && (argIs(args[2], "sync") || argIs(args[2], "async"))) else {
            out.writeError("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
            return
        }
        ScriptCache.shared.flush()
        ScriptsAcrossShards.shared.forgetAll()
        out.writeOK()
    }

    /// Kills a busy script that has not written (BusyScript.swift); on the busy worker
    /// itself the count hook answers it.
    private static func scriptKill(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall,
                                   _ out: inout ByteBuffer) {
        if let error = BusyScripts.shared.kill(function: false, from: w.index) {
            out.writeError(string: error)
        } else {
            out.writeOK()
        }
        w.refreshArmedAdmission()  // the killed script has ended: the killer's next command runs
    }

    private static func scriptHelp(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall,
                                   _ out: inout ByteBuffer) {
        writeHelp("SCRIPT", [
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ], &out)
    }
}
