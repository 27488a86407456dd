import RESP
import Shards

/// Parsing a client's input and routing each command to where it runs.
extension Worker {
    func process(_ c: Client) {
        if c.isMaster { processMasterStream(c); return }
        // A hung-up client runs its commands one at a time (HangUps.swift).
        parseCommands(c, while: { !c.closeASAP && !c.pausedByOperation && !c.isClosed
                                  && (c.hangUp == .none || !c.hasOutstandingReplies) }) { args in
            if c.chainedStepsInFlight > 0 && waitsForSteps(args) {
                c.pausedForSteps = true
                c.pausedByOperation = true
                return false
            }
            execute(c, args)
            serveReadyKeysAfterCommand()
            return true
        }
        if c.hangUp != .none && !c.isClosed {
            finishHangUpIfDone(c, ranInput: true)
            markForFlush(c)
        }
    }

    /// Whether a command of a client whose chained operations in steps are in flight waits
    /// in its input until they are over (MultiShardOperation.chainsInSteps). All but another
    /// such move do: a command without keys (SCAN, DBSIZE, WAIT, PUBLISH...) could see one
    /// half-done (SCAN's part on the destination's shard ran between the steps and missed
    /// a renamed key), and a keyed one, though its keys' locks keep it in order, would only
    /// be held back on its shard until the move's request is granted there, at a cost
    /// (COPY of random pairs, half of them single-shard commands: 15-25% more CPU per call
    /// than pausing for them). Another move chains behind: a pipeline of them runs at once.
    @inline(never)
    private func waitsForSteps(_ args: Arguments) -> Bool {
        guard case .command(let index) = table.resolve(args) else { return false }  // refused at once
        guard movesInSteps.contains(index) else { return true }
        return shardOf(args[1]) == shardOf(args[2])  // on one shard, no step to chain behind
    }

    /// The RESP frame loop over a client's input, for the event loop (`process`) and a busy
    /// script's pass (`serveClientWhileBusy`): each complete command goes to `run`, which
    /// returns false to leave it and the rest in the input; a protocol error is answered and
    /// closes the client after that reply; what was parsed is dropped at the end. `more` is
    /// asked before each frame. Always inlined with its closures, so `process`, the hottest
    /// loop in the server, compiles to the loop written out (callgrind: the same Ir per SET/GET).
    @inline(__always)
    func parseCommands(_ c: Client, while more: () -> Bool, _ run: (Arguments) -> Bool) {
        var position = 0
        parsing: while position < c.input.count && !c.closeAfterReply && more() {
            let frame = UnsafeRawBufferPointer(start: c.input.base + position, count: c.input.count - position)
            var consumed = 0
            switch c.parser.parse(frame, consumed: &consumed) {
            case .command:
                guard run(c.parser.arguments(in: frame)) else { break parsing }
                position += consumed
            case .empty:
                position += consumed
            case .incomplete:
                break parsing
            case .protocolError(let message):
                withReply(c) { $0.writeError(string: "ERR " + message) }
                c.closeAfterReply = true
                position = c.input.count
            }
        }
        c.input.discardFront(position)
    }

    /// Runs `body` with the buffer the client's next reply belongs in.
    /// Error replies are counted for INFO errorstats; a muted client (CLIENT REPLY OFF/SKIP)
    /// gets nothing.
    @inline(__always)
    func withReply(_ c: Client, _ body: (inout ByteBuffer) -> Void) {
        if c.hasOutstandingReplies {
            replyScratch.clear()
            body(&replyScratch)
            if replyScratch.count > 0 {
                if replyScratch.readable[0] == UInt8(ascii: "-") { commandStats.recordError(replyScratch.readable, command: commandStats.current) }
                if !c.muted { c.queueReadyReply(replyScratch.readable) }
            }
        } else {
            let start = c.output.count
            body(&c.output)
            if c.output.count > start {
                let reply = UnsafeRawBufferPointer(start: c.output.base + start, count: c.output.count - start)
                if reply[0] == UInt8(ascii: "-") { commandStats.recordError(reply, command: commandStats.current) }
                if c.muted { c.output.count = start }
            }
        }
        markForFlush(c)
    }

    func execute(_ c: Client, _ args: Arguments) {
        c.commandsProcessed += 1
        c.beginCommandReplies()
        // Unknown commands and subcommands and wrong arities are refused before anything
        // runs or is queued, and a transaction they were sent in is discarded at EXEC.
        let resolution = table.resolve(args)
        guard case .command(let index) = resolution else {
            c.transaction?.failed = true
            switch resolution {
            case .wrongArity(let index):
                c.lastCommandIndex = index
                commandStats.reject(Int(index))
                if table.specs[Int(index)].name == "exec" {
                    withReply(c) { TransactionCommands.abortExec(self, c, error: "ERR wrong number of arguments for 'exec' command", &$0) }
                    return
                }
            default:
                c.lastCommandIndex = nil
            }
            withReply(c) { out in table.writeRefusal(resolution, args, into: &out) }
            return
        }
        let route = table.routes[Int(index)]
        c.lastCommandIndex = index
        let candidates = route.admission & armedAdmission
        if candidates != 0, !c.loadsAOF, let refusal = admissionRefusal(c, candidates: candidates) {
            commandStats.reject(Int(index))
            c.transaction?.failed = true
            refuse(c, index: index, refusal)
            return
        }
        if route.transactionControl, armedAdmission & Worker.execRules != 0, !c.loadsAOF, let tx = c.transaction, !tx.failed,
           table.specs[Int(index)].name == "exec", let refusal = execAdmissionRefusal(c, tx) {
            commandStats.reject(Int(index))
            withReply(c) { TransactionCommands.abortExec(self, c, error: refusal, &$0) }
            return
        }
        if c.inPubSubMode, c.resp == .resp2, !route.allowedInPubSubMode {
            refuseInPubSubMode(c, index: index)
            return
        }
        if let transaction = c.transaction, !route.transactionControl {
            if route.noMulti {
                transaction.failed = true
                commandStats.reject(Int(index))
                withReply(c) { $0.writeError("ERR Command not allowed inside a transaction") }
            } else {
                transaction.queue(index, args, shard: route.kind == .keyed ? keysShard(route, args) : TransactionQueue.noKeys)
                withReply(c) { $0.append("+QUEUED\r\n") }
            }
            return
        }
        // A command that neither opens nor joins the client's lock group closes it: what the
        // client sends after it must not run before it (Locking.swift, lock groups).
        let joinsBefore = c.openLock != nil && index != multiCommand ? c.lockJoins : -1
        defer { if joinsBefore >= 0 && c.lockJoins == joinsBefore { c.openLock = nil } }
        // appendfsync always: its replies wait for the fsync covering what it writes.
        if holdsWriteReplies && route.awaitsFsync { c.wroteSinceFsyncMark = true }
        // Counted as Redis's call() counts: a command that runs (not one refused or queued).
        // Only this worker writes its counter (RESETSTAT's store too): no atomic add needed.
        stats.commandsProcessed.store(stats.commandsProcessed.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        let started = commandStats.begin(Int(index))
        defer { commandStats.end(Int(index), startedAt: started) }
        switch route.kind {
        case .client:
            let handler = table.clientHandlers[Int(index)].unsafelyUnwrapped
            var call = commandCall(c, args, index: index)
            withReply(c) { out in handler(self, c, args, &call, &out) }
            if route.isAdmin { refreshArmedAdmission() }
        case .keyed:
            let shardIndex = shardOf(args[Int(route.firstKey)])
            if context.shardCount > 1 {
                let last = route.lastKeyIndex(argumentCount: args.count)
                var i = Int(route.firstKey) + Int(route.step)
                while i <= last {
                    let shard = shardOf(args[i])
                    if shard != shardIndex {
                        keyShards.remember(args, route: route, upTo: i, first: shardIndex, at: shard, worker: self)
                        runAcrossShards(c, args, index: index, route: route)
                        keyShards.forget()
                        return
                    }
                    i += Int(route.step)
                }
            }
            runOnShard(shardIndex, command: index, handler: table.shardHandler(index),
                       client: c, args: args)
        case .container:
            let name = table.specs[Int(index)].name
            withReply(c) { $0.writeError(string: "ERR wrong number of arguments for '\(name)' command") }
        }
    }

    /// Redis's processCommand refusal for a RESP2 client in subscribed mode (EXEC answers it
    /// as EXECABORT, as rejectCommand does).
    @inline(never)
    private func refuseInPubSubMode(_ c: Client, index: UInt16) {
        commandStats.reject(Int(index))
        c.transaction?.failed = true
        let name = table.specs[Int(index)].name
        let error = "ERR Can't execute '\(name)': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        if name == "exec" {
            withReply(c) { TransactionCommands.abortExec(self, c, error: error, &$0) }
        } else {
            withReply(c) { $0.writeError(string: error) }
        }
    }

    /// A keyed command whose keys live on several shards: split per key, or its own
    /// cross-shard handler, or (for neither) Redis Cluster's CROSSSLOT error.
    private func runAcrossShards(_ c: Client, _ args: Arguments, index: UInt16, route: CommandTable.Route) {
        guard case .keyed(_, let split, let crossShard) = table.specs[Int(index)].run else { return }
        if let split {
            var call = CommandCall()  // its parts lock and propagate themselves
            withReply(c) { out in
                runSplit(c, args, route: route, part: table.splitPart[Int(index)], stride: split.stride,
                         combine: split.combine, call: &call, out: &out)
            }
        } else if let crossShard {
            var call = commandCall(c, args, index: index, lockingKeysOf: route)
            withReply(c) { out in crossShard(self, c, args, &call, &out) }
        } else {
            withReply(c) { $0.writeError("CROSSSLOT Keys in request don't hash to the same slot") }
        }
    }

    /// min-replicas-to-write on a master: enough replicas acknowledged recently (Redis's
    /// checkGoodReplicasStatus; the sequencer counts them every pass).
    func enoughGoodReplicas() -> Bool {
        let replication = context.replication
        return replication.isReplica.load(ordering: .relaxed)
            || replication.goodReplicas.load(ordering: .relaxed) >= LiveConfig.minReplicasToWrite.load(ordering: .relaxed)
    }

    /// Redis's stop-writes-on-bgsave-error: after a failed background save, with save
    /// rules set, writes are refused until a save succeeds (checked only after a failure).
    func writesStoppedByDiskError() -> Bool {
        context.config.withLock { $0.bool("stop-writes-on-bgsave-error") && !$0.value("save").isEmpty }
    }

    @inline(__always) func shardOf(_ key: UnsafeRawBufferPointer) -> Int {
        KeyHash.shard(of: key, count: context.shardCount)
    }

    /// The shard of key argument `i` of `args`: remembered for the command being dispatched
    /// across shards (its lock list and its parts ask again what `execute` worked out), or
    /// computed.
    @inline(__always) func shardOf(_ args: Arguments, _ i: Int) -> Int {
        keyShards.shard(args, i) ?? shardOf(args[i])
    }

    /// The one shard of a keyed command's keys (TransactionQueue.Command.shard).
    func keysShard(_ route: CommandTable.Route, _ args: Arguments) -> Int {
        let last = min(route.lastKeyIndex(argumentCount: args.count), args.count - 1)
        var i = Int(route.firstKey)
        guard i <= last else { return TransactionQueue.noKeys }
        let home = shardOf(args[i])
        i += max(1, Int(route.step))
        while i <= last {
            if shardOf(args[i]) != home { return TransactionQueue.severalShards }
            i += max(1, Int(route.step))
        }
        return home
    }

    /// Runs a single-shard command: inline if this worker owns the shard, else via its ring.
    @inline(__always)
    func runOnShard(_ shardIndex: Int, command: UInt16, handler: ShardHandler, client c: Client, args: Arguments) {
        let owner = context.owner(ofShard: shardIndex)
        if owner == index, let shardRef = ownShardRef {
            shardRef._withUnsafeGuaranteedRef { shard in
                if commandsMayWait(shard),
                   mustWait(shard, command: command, db: c.db, args: args, origin: index, client: c.id) {
                    let ticket = c.takeTicket()
                    wait(command: command, db: c.db, resp: c.resp, args: args,
                         sink: ReplySink(kind: .client, index: c.fd, id: c.id, ticket: ticket), origin: index)
                    return
                }
                if shard.recordsWrites || !shard.expiryDeletesOnAccess {  // recording, or a replica (CommandTable.run)
                    runRecordingOnOwnShard(shard, command: command, handler: handler, client: c, args: args)
                    return
                }
                let ctx = ShardContext(shard: shard, db: c.db, resp: c.resp, clientID: c.id)
                withReply(c) { out in handler(ctx, args, &out) }
            }
        } else {
            let ticket = c.takeTicket(quick: !table.routes[Int(command)].mayBlock)
            batch(forWorker: owner).add(command: command, db: c.db, resp: c.resp, arguments: args,
                                        sink: ReplySink(kind: .client, index: c.fd, id: c.id, ticket: ticket))
        }
    }

    /// `runOnShard` for a client command's handler (SORT), which runs inside `withReply` and
    /// so writes an inline reply into that call's `out`: a second `withReply` there would
    /// access the client's output while the first still holds it (a debug build stops on
    /// the exclusivity violation). A reply that comes later (the command waits on the
    /// shard, or runs on its owner) is ordered by its ticket, as in `runOnShard`.
    @inline(never)
    func runOnShard(_ shardIndex: Int, command: UInt16, handler: ShardHandler, client c: Client, args: Arguments,
                    out: inout ByteBuffer) {
        guard context.owner(ofShard: shardIndex) == index, let shard else {
            runOnShard(shardIndex, command: command, handler: handler, client: c, args: args)
            return
        }
        if commandsMayWait(shard),
           mustWait(shard, command: command, db: c.db, args: args, origin: index, client: c.id) {
            runOnShard(shardIndex, command: command, handler: handler, client: c, args: args)
            return
        }
        CommandTable.run(command, handler, ShardContext(shard: shard, db: c.db, resp: c.resp, clientID: c.id), args, &out)
    }

    /// runOnShard's inline case while writes are recorded for replicas (kept out of line, so
    /// the common path stays as small as it was).
    @inline(never)
    private func runRecordingOnOwnShard(_ shard: Shard, command: UInt16, handler: ShardHandler, client c: Client,
                                        args: Arguments) {
        let ctx = ShardContext(shard: shard, db: c.db, resp: c.resp, clientID: c.id)
        withReply(c) { out in CommandTable.run(command, handler, ctx, args, &out) }
    }

    /// Runs a multi-key command as one part per key (group of `stride` arguments).
    func runSplit(_ c: Client, _ args: Arguments, route: CommandTable.Route, part: UInt16, stride: Int,
                  combine: SplitCombine, call: inout CommandCall, out: inout ByteBuffer) {
        if combine == .sumIntegers && stride == 1 {
            runSplitPerShard(c, args, route: route, part: part, call: &call, out: &out)
            return
        }
        let op = operations.make(client: c, combine: Worker.splitCombine(combine))
        let name = op.store(args[0])
        let last = route.lastKeyIndex(argumentCount: args.count)
        var i = Int(route.firstKey)
        while i <= last && i + stride <= args.count {  // a short final group is the command's own error
            let first = op.spans.count
            op.spans.append(op.spans[name])
            for j in 0..<stride { op.store(args[i + j]) }
            let shard = shardOf(args, i)
            op.addPart(shard: shard, command: part, spans: first..<op.spans.count, db: op.db, resp: op.resp)
            op.lockKey(args[i], shard: shard)
            i += Int(route.step)
        }
        op.isOneShot = true
        start(op, client: c, call: &call, out: &out)
    }

    /// `runSplit` for the counting commands (DEL, UNLINK, EXISTS, TOUCH): one part per shard
    /// with that shard's keys, in argument order, as the command itself takes them; the
    /// counts add up whatever the grouping. A part per key cost a part's reply, ticket and
    /// lock entry per key.
    private func runSplitPerShard(_ c: Client, _ args: Arguments, route: CommandTable.Route, part: UInt16,
                                  call: inout CommandCall, out: inout ByteBuffer) {
        let op = operations.make(client: c, combine: Worker.splitCombine(.sumIntegers))
        for i in 0..<args.count { op.store(args[i]) }  // span i is argument i
        let first = Int(route.firstKey)
        let last = min(route.lastKeyIndex(argumentCount: args.count), args.count - 1)
        guard first <= last else { start(op, client: c, call: &call, out: &out); return }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: last - first + 1 + context.shardCount) { scratch in
            let shardOfKey = UnsafeMutableBufferPointer(rebasing: scratch[..<(last - first + 1)])
            let seen = UnsafeMutableBufferPointer(rebasing: scratch[(last - first + 1)...])
            seen.initialize(repeating: 0)
            for i in first...last { shardOfKey[i - first] = shardOf(args, i) }
            for i in first...last where seen[shardOfKey[i - first]] == 0 {
                let shard = shardOfKey[i - first]
                seen[shard] = 1
                let start = op.spans.count
                op.spans.append(op.spans[0])
                for j in i...last where shardOfKey[j - first] == shard {
                    op.spans.append(op.spans[j])
                    op.lockKey(args[j], shard: shard)
                }
                op.addPart(shard: shard, command: part, spans: start..<op.spans.count, db: op.db, resp: op.resp)
            }
        }
        op.isOneShot = true
        start(op, client: c, call: &call, out: &out)
    }

    /// A split command's combine. Closures that capture nothing: one that captured `combine`
    /// was an allocation per cross-shard MGET/MSET/DEL.
    static func splitCombine(_ combine: SplitCombine) -> MultiShardOperation.Combine {
        switch combine {
        case .sumIntegers:
            return { op, out in
                if let error = op.firstError() { out.append(error) } else { out.writeInteger(op.sumOfIntegers() ?? 0) }
                return true
            }
        case .ok:
            return { op, out in
                if let error = op.firstError() { out.append(error) } else { out.writeOK() }
                return true
            }
        case .array:
            return { op, out in
                if let error = op.firstError() { out.append(error); return true }
                out.writeArrayHeader(op.parts.count)
                for i in 0..<op.parts.count { out.append(op.reply(i)) }
                return true
            }
        }
    }

    /// A part on every shard with the command's own arguments (DBSIZE, KEYS, FLUSHDB...).
    func fanOut(_ c: Client, _ args: Arguments, part: InternalCommand, call: inout CommandCall, out: inout ByteBuffer,
                combine: @escaping MultiShardOperation.Combine) {
        let partIndex = table.index(of: part)
        let op = MultiShardOperation(client: c, combine: combine)
        var indices: [Int] = []
        for i in 0..<args.count { indices.append(op.store(args[i])) }
        for s in 0..<context.shardCount {
            op.addPart(shard: s, command: partIndex, spanIndices: indices)
            op.lockWholeShard(s)
        }
        start(op, client: c, call: &call, out: &out)
    }

    /// Sends the operation's parts; if they all ran inline, writes the reply to `out` now,
    /// otherwise takes a ticket and finishes when the last remote part returns. `call` is the
    /// command's (CommandCall.swift): its keys to lock, its bytes to propagate, its EXEC.
    func start(_ op: MultiShardOperation, client c: Client, call: inout CommandCall, out: inout ByteBuffer) {
        let slot = register(op)
        // Started by a command flagged readonly (MGET, EXISTS, SINTER, ZUNION...): its locks
        // are shared. Only the command's own flag says so: no such command writes in a later step.
        if op.command >= 0 && table.routes[op.command].readOnly { op.readsOnly = true }
        if !call.locks.isEmpty || call.propagateAs != nil {  // most calls have neither (EXEC, split commands)
            var (locks, propagateAs) = call.takeForOperation()
            for (shard, key) in locks {
                op.lockPlan.add(key: key, shard: shard)
            }
            locks.clearKeepingCapacity()
            lockListScratch = locks
            if let propagateAs { op.propagateAs = propagateAs }
        }
        if let nesting = call.nesting {
            op.propagationParent = operations[nesting.slot]?.propagationTag ?? 0
            // Started by a command inside EXEC: it runs under EXEC's locks and reports to it.
            op.transaction = nesting.transaction
            op.parent = (nesting.slot, nesting.item)
            op.lockPlan.removeAll()
            op.forceLocks = false
        } else if op.needsLocks && !op.lockPlan.isEmpty {
            if canChain(op, client: c) {
                startChained(op, slot: slot, client: c)
                if op.grantsPending > 0 || op.chainPrevious != nil {
                    deferReply(op, client: c)
                    if op.grantsPending == 0 { runLocked(slot: slot, op) }
                    return
                }
            } else {
                op.pausesClient = true
                if c.hasOutstandingReplies {
                    // Earlier commands of this client are still travelling to their shards: a
                    // lock granted before they arrive would make them wait for this operation,
                    // which may need their effects. Ask for the locks once their replies are in.
                    deferReply(op, client: c)
                    c.operationAwaitingTurn = slot
                    return
                }
                requestLocks(op, slot: slot, eager: true)
            }
            if op.grantsPending > 0 {
                deferReply(op, client: c)
                return
            }
            if op.watchDirty {
                op.abortReply?(op, &out)
                finishLocked(op)
                releaseOperation(slot)
                return
            }
        } else if op.propagateAs == nil && !op.forceLocks {
            // No lock keeps other writes off its keys until it finishes (XREADGROUP, reads):
            // its parts' records go out as they are made. Held for a group closed when the
            // last reply is in, they would reach replicas after writes its shards ran in
            // between (a pipelined RENAME of the stream XREADGROUP read: replicas then got
            // the RENAME first, and the XCLAIMs for a key that no longer existed).
            op.propagationTag = 0
        }
        while true {
            sendParts(op, slot: slot)
            if op.remaining > 0 {
                deferReply(op, client: c)
                return
            }
            if op.combine(op, &out) { break }
        }
        finishLocked(op)
        releaseOperation(slot)
        _ = endChained(op)  // nothing waits on an operation that completed at once
    }

    /// Starts `op` to answer in place of the client's earlier command that took `ticket`
    /// (a script run abandoned on its shard: ScriptCommands.rerunIfAbandoned). Its locks are
    /// asked for at once: the client's earlier commands have run (they went before the
    /// script, in order, to their shards; chained ones are numbered below this request);
    /// the client waits for it, as for any operation that locks.
    func startInPlaceOf(ticket: UInt32, _ op: MultiShardOperation, client c: Client) {
        let slot = register(op)
        op.command = Int(rerunnableScript)
        // A client paused already waits for an operation started after the script, which
        // waits for this reply (its turn): that one resumes the client.
        op.pausesClient = !c.pausedByOperation
        op.deferred = true
        op.ticket = ticket
        c.pausedByOperation = true
        requestLocks(op, slot: slot, eager: true)
        if op.grantsPending == 0 { runLocked(slot: slot, op) }
    }

    /// A one-shot operation whose every part runs as its shard grants need not stop its
    /// client: each shard keeps the client's later commands behind the lock request until it
    /// is granted (chainedRequestsPending), so they still come after the operation there.
    /// Only if nothing else of the client is in flight but such operations: an earlier
    /// plain command still in this pass's batch could otherwise arrive after the request.
    /// An operation in steps (COPY, RENAME across shards) chains too: see
    /// MultiShardOperation.chainsInSteps.
    private func canChain(_ op: MultiShardOperation, client c: Client) -> Bool {
        guard op.isOneShot || op.chainsInSteps, op.watchingClient == nil, c.unfilledTickets == c.chainedInFlight,
              !op.unsent.isEmpty else { return false }
        // A later move's first step may run before this one's last: only where no keyspace
        // event can show that order.
        if op.chainsInSteps { return KeyspaceEvent.configured.load(ordering: .relaxed) == 0 }
        // Every locked shard has a part to run at grant.
        for planned in op.lockPlan.shards where !op.parts[op.unsent].contains(where: { $0.shard == planned.index }) {
            return false
        }
        return true
    }

    private func startChained(_ op: MultiShardOperation, slot: Int, client c: Client) {
        op.chained = true
        op.pausesClient = false  // in steps: the client's later commands wait (waitsForSteps)
        if let previous = lastChained {
            op.chainPrevious = previous
            previous.chainNext = op
        }
        lastChained = op
        c.chainedInFlight += 1
        if op.chainsInSteps { c.chainedStepsInFlight += 1 }
        // Numbered even on one shard: a chain makes a later operation wait for an earlier
        // one's completion, and those waits cannot form a cycle only if, like lock waits,
        // they always point down the one global order (a direct request has no place in it).
        requestLocks(op, slot: slot, eager: true, numbered: true)
    }

    /// Completes `op`, whose turn in its chain came, and those after it whose turn comes
    /// with it: in a loop, not by recursion (a chain may be thousands of operations long).
    private func completeInTurn(_ op: MultiShardOperation) {
        chainTurns.append(op)
        guard !completingChainTurns else { return }
        completingChainTurns = true
        while let next = chainTurns.popLast() { continueOperation(slot: next.slot, next) }
        completingChainTurns = false
    }

    /// A chained operation is over: its client may chain anew, and the next one of its
    /// chain may complete (returned, if it was only waiting for this one).
    private func endChained(_ op: MultiShardOperation) -> MultiShardOperation? {
        guard op.chained else { return nil }
        op.chained = false
        if let c = clients.client(fd: op.clientFD, id: op.clientID) {
            c.chainedInFlight -= 1
            if op.chainsInSteps { c.chainedStepsInFlight -= 1 }
        }
        if lastChained === op { lastChained = nil }
        guard let next = op.chainNext else { return nil }
        op.chainNext = nil
        next.chainPrevious = nil
        guard next.completionWaits else { return nil }
        next.completionWaits = false
        return next
    }

    /// Gives the operation a slot in the operation table (replies find it by slot).
    private func register(_ op: MultiShardOperation) -> Int {
        let slot = operations.register(op)
        op.command = commandStats.current
        op.propagationTag = newPropagationTag()
        return slot
    }

    /// Starts an operation of the server's own (no client to answer), under its locks.
    func startInternal(_ op: MultiShardOperation) {
        let slot = register(op)
        op.deferred = true
        if op.needsLocks && !op.lockPlan.isEmpty {
            requestLocks(op, slot: slot, eager: true)
            if op.grantsPending > 0 { return }
        }
        runLocked(slot: slot, op)
    }

    /// The operation's reply will come later: a ticket keeps the client's reply order.
    private func deferReply(_ op: MultiShardOperation, client c: Client) {
        op.deferred = true
        if let parent = op.parent {
            // The EXEC that started it waits for it instead of the client.
            operations[parent.slot]?.remaining += 1
            return
        }
        op.ticket = c.takeTicket()
        if op.pausesClient { c.pausedByOperation = true }
    }

    /// All locks granted for a deferred operation: run it (or abort on a dirty WATCH).
    func runLocked(slot: Int, _ op: MultiShardOperation) {
        if op.watchDirty {
            partScratch.clear()
            op.abortReply?(op, &partScratch)
            complete(slot: slot, op, reply: partScratch.readable)
            return
        }
        sendParts(op, slot: slot)
        if op.remaining == 0 { continueOperation(slot: slot, op) }
    }

    /// Called when an operation's last outstanding part has arrived.
    func continueOperation(slot: Int, _ op: MultiShardOperation) {
        if let reply = op.heldReply {
            // Its turn came with its reply made (below).
            op.heldReply = nil
            reply.withUnsafeBytes { complete(slot: slot, op, reply: $0) }
            return
        }
        if op.chainPrevious != nil && !op.chainsInSteps {
            op.completionWaits = true  // completes right after the one before it in its chain
            return
        }
        while true {
            partScratch.clear()
            if op.combine(op, &partScratch) {
                if op.chainPrevious != nil {
                    // An operation in steps takes them before its turn (its locks hold its
                    // keys, so they come after the earlier operations on any key they share);
                    // only completing waits for it. Taking each step in turn made a worker's
                    // COPYs across shards one hop after the other.
                    op.heldReply = Array(partScratch.readable)
                    op.completionWaits = true
                    return
                }
                complete(slot: slot, op, reply: partScratch.readable)
                return
            }
            sendParts(op, slot: slot)
            if op.remaining > 0 { return }
        }
    }

    /// Delivers a deferred operation's reply (to its client, or to the EXEC that started it).
    /// The reply is delivered before the locks go: releasing may run other operations at
    /// once, and they reuse the scratch buffer `reply` may point into.
    private func complete(slot: Int, _ op: MultiShardOperation, reply: UnsafeRawBufferPointer) {
        if let parent = op.parent {
            let bytes = Array(reply)
            finishLocked(op)
            releaseOperation(slot)
            bytes.withUnsafeBytes { deliverNestedReply($0, toExecAt: parent.slot, item: parent.item) }
            return
        }
        var resumed: Client?
        let client = clients.client(fd: op.clientFD, id: op.clientID)
        if let c = client {
            deliverDeferredReply(to: c, ticket: op.ticket, reply, command: op.command)
            if op.pausesClient && !c.isClosed { c.pausedByOperation = false; resumed = c }
        }
        finishLocked(op)
        releaseOperation(slot)
        if let next = endChained(op) { completeInTurn(next) }
        if let c = client, c.pausedForSteps, c.chainedStepsInFlight == 0, !c.isClosed {
            c.pausedForSteps = false
            c.pausedByOperation = false
            resumed = c
        }
        // Run the commands that arrived while the client waited.
        if let c = resumed, !c.input.isEmpty { process(c) }
    }

    /// The reply of a command inside EXEC that answered later (its own operation, a gather):
    /// EXEC continues once it has them all.
    func deliverNestedReply(_ reply: UnsafeRawBufferPointer, toExecAt slot: Int, item: Int) {
        guard let exec = operations[slot] else { return }
        exec.nestedReply(item: item, reply)
        if exec.remaining == 0 { continueOperation(slot: slot, exec) }
    }

    /// Releases the operation's locks, if it took any.
    private func finishLocked(_ op: MultiShardOperation) {
        // Closes the operation's replication group while its locks still hold, so nothing
        // that conflicts with it can be recorded between its writes and this point (tag 0:
        // no group, its records went out as they came).
        if let log = propagation, op.propagationTag != 0 {
            if let replacement = op.propagateAs {
                replacement.command.withUnsafeBytes {
                    log.complete(tag: op.propagationTag, parent: op.propagationParent, db: replacement.db, replacement: $0)
                }
            } else {
                log.complete(tag: op.propagationTag, parent: op.propagationParent)
            }
        }
        if op.lock != nil { releaseLocks(op) }
        op.onFinish?()
    }

    private func releaseOperation(_ slot: Int) {
        operations.release(slot)
    }

    private func sendParts(_ op: MultiShardOperation, slot: Int) {
        let range = op.unsent
        op.unsent = op.parts.count..<op.parts.count
        for p in range where !op.parts[p].runsAtGrant {
            let part = op.parts[p]
            let owner = context.owner(ofShard: part.shard)
            let sink = ReplySink(kind: .operation, generation: op.generation, index: Int32(slot), id: op.clientID,
                                 ticket: UInt32(p))
            if owner == index, let shard {
                guard table.routes[Int(part.command)].kind == .keyed else { continue }
                let waits = op.withArguments(of: part) { args -> Bool in
                    guard op.transaction == 0, commandsMayWait(shard),
                          mustWait(shard, command: part.command, db: part.db, args: args, origin: index,
                                   client: op.clientID)
                    else { return false }
                    wait(command: part.command, db: part.db, resp: part.resp, args: args, sink: sink, origin: index,
                         tag: op.propagationTag)
                    return true
                }
                if waits { continue }
                runPartHere(op, part: p)
            } else {
                let b = batch(forWorker: owner)
                if table.routes[Int(part.command)].mayBlock { blockingPartSent(to: owner) }
                op.withArguments(of: part) { args in
                    b.add(command: part.command, db: part.db, resp: part.resp, arguments: args, sink: sink,
                          transaction: op.transaction, tag: op.propagationTag)
                }
            }
        }
    }
}

extension Worker {
    /// Runs a command queued in MULTI that is not a single-shard part: as dispatch would,
    /// but writing its reply to `out`; operations it starts join the running EXEC (`nesting`,
    /// which every call made here carries).
    func runInTransaction(_ c: Client, command index: UInt16, args: Arguments, nesting: CommandCall.Nesting,
                          out: inout ByteBuffer) {
        let route = table.routes[Int(index)]
        switch route.kind {
        case .client:
            var call = commandCall(c, args, index: index, nesting: nesting)
            table.clientHandlers[Int(index)].unsafelyUnwrapped(self, c, args, &call, &out)
        case .keyed:
            guard case .keyed(_, let split, let crossShard) = table.specs[Int(index)].run else { return }
            let shards = Set(stride(from: Int(route.firstKey), through: min(route.lastKeyIndex(argumentCount: args.count),
                                                                             args.count - 1),
                                    by: max(1, Int(route.step))).map { shardOf(args[$0]) })
            if shards.count == 1, let shard = shards.first {
                let op = MultiShardOperation(client: c) { op, out in out.append(op.reply(0)); return true }
                op.addPart(shard: shard, command: index, spanIndices: (0..<args.count).map { op.store(args[$0]) })
                var call = CommandCall(nesting: nesting)
                start(op, client: c, call: &call, out: &out)
            } else if let split {
                var call = CommandCall(nesting: nesting)
                runSplit(c, args, route: route, part: table.splitPart[Int(index)], stride: split.stride,
                         combine: split.combine, call: &call, out: &out)
            } else if let crossShard {
                // EXEC's locks cover its keys already: only the bytes to propagate are added.
                var call = commandCall(c, args, index: index, nesting: nesting)
                crossShard(self, c, args, &call, &out)
            } else {
                out.writeError("CROSSSLOT Keys in request don't hash to the same slot")
            }
        case .container:
            out.writeError(string: "ERR wrong number of arguments for '\(table.specs[Int(index)].name)' command")
        }
    }
}

/// Redis's reply to an unknown command, quoting up to 128 bytes of its arguments.
func writeUnknownCommand(_ args: Arguments, into out: inout ByteBuffer) {
    // Redis: '%.128s' for the name, then "'%.*s' " per argument while under 128 bytes,
    // each argument cut to what is left of the 128 (counted before its opening quote).
    var quoted = ErrorText("")
    var i = 1
    while i < args.count && quoted.bytes.count < 128 {
        let room = 128 - quoted.bytes.count
        quoted.append("'")
        quoted.append(argument: args[i], limit: room)
        quoted.append("' ")
        i += 1
    }
    var text = ErrorText("ERR unknown command '")
    text.append(argument: args[0], limit: 128)
    text.append("', with args beginning with: ")
    text.append(bytes: quoted.bytes)
    out.writeError(text)
}
