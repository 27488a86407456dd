import RESP
import Shards
import Values

/// XREAD and XREADGROUP, blocking included.
///
/// The client's worker parses the command and runs it as a multi-shard operation: XREAD
/// has one part per stream (`__xread key id count deadline`), XREADGROUP one part for all
/// its streams (they must live on one shard: its reads change the group, so they are not
/// split). A part that finds nothing to serve and may block registers a waiter on its
/// shard and answers `+BLOCKED`; the operation then waits for one more reply from each
/// blocked part: the answer when a write makes its key ready (BlockedClients.swift), a null
/// on timeout or cancellation. The first data reply cancels the operation's other waiters
/// (XREAD over several shards).
enum StreamReads {
    static let blockedMarker: StaticString = "+BLOCKED\r\n"
    static let xreadPartIndex = CommandTable.shared.index(of: .xread)

    struct ReadArgs {
        var count = 0
        var blockMs: Int64?
        var group: Int?      // index of the group name (the consumer follows)
        var noack = false
        var streamsAt = 0
        var streams = 0
    }

    /// Redis's xreadCommand option parsing (the part before looking at keys).
    static func parse(_ args: Arguments, from first: Int, xreadgroup: Bool, _ out: inout ByteBuffer) -> ReadArgs? {
        var r = ReadArgs()
        var i = first
        while i < args.count {
            let more = args.count - i - 1
            let o = args[i]
            if argIs(o, "block") && more > 0 {
                i += 1
                guard let t = parseStrictInt(args[i]) else {
                    out.writeError("ERR timeout is not an integer or out of range"); return nil
                }
                guard t >= 0 else { out.writeError("ERR timeout is negative"); return nil }
                r.blockMs = Int64(t)
            } else if argIs(o, "count") && more > 0 {
                i += 1
                guard let n = parseStrictInt(args[i]) else { out.writeError(Errors.notInteger); return nil }
                r.count = max(n, 0)
            } else if argIs(o, "streams") && more > 0 {
                r.streamsAt = i + 1
                let n = args.count - r.streamsAt
                if n % 2 != 0 {
                    let name = xreadgroup ? "xreadgroup" : "xread", symbol = xreadgroup ? ">" : "$"
                    out.writeError(string: "ERR Unbalanced '\(name)' list of streams: for each stream key an ID or '\(symbol)' must be specified.")
                    return nil
                }
                r.streams = n / 2
                break
            } else if argIs(o, "group") && more >= 2 {
                guard xreadgroup else {
                    out.writeError("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.")
                    return nil
                }
                r.group = i + 1
                i += 2
            } else if argIs(o, "noack") {
                guard xreadgroup else {
                    out.writeError("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.")
                    return nil
                }
                r.noack = true
            } else {
                out.writeError(Errors.syntax)
                return nil
            }
            i += 1
        }
        if r.streamsAt == 0 { out.writeError(Errors.syntax); return nil }
        if xreadgroup && r.group == nil { out.writeError("ERR Missing GROUP option for XREADGROUP"); return nil }
        return r
    }

    // MARK: XREAD

    /// The deadline of a BLOCK timeout (0: forever). A timeout too large to add to the clock
    /// blocks forever, as it does in Redis 7.0 (no range error there).
    static func deadline(after ms: Int64, now: Int64) -> Int64 {
        guard ms != 0 else { return 0 }
        let (sum, overflow) = now.addingReportingOverflow(ms)
        return overflow ? 0 : sum
    }

    static func xread(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard let r = parse(args, from: 1, xreadgroup: false, &out) else { return }
        // Inside MULTI a read never blocks (Redis: a timeout at once).
        let deadline: Int64 = r.blockMs.map { StreamReads.deadline(after: $0, now: w.nowMs) } ?? -1
        let canBlock = r.blockMs != nil && call.nesting == nil
        let op = MultiShardOperation(client: c) { [unowned w] op, out in combine(op, w, &out) }
        let name = op.store(string: InternalCommand.xread.name)
        let count = op.store(string: String(r.count))
        let dl = op.store(string: BlockingTurn.argument(canBlock ? deadline : -1, w))
        for k in 0..<r.streams {
            let key = args[r.streamsAt + k]
            op.addPart(shard: w.shardOf(key), command: xreadPartIndex,
                       spanIndices: [name, op.store(key), op.store(args[r.streamsAt + r.streams + k]), count, dl])
        }
        prepareBlocking(w, op, canBlock: canBlock)
        w.start(op, client: c, call: &call, out: &out)
    }

    /// Combines the parts: the streams with data as a map (RESP3) or array of pairs, a
    /// null array if none, or (first round, some part blocked) waits for the waiters.
    static func combine(_ op: MultiShardOperation, _ w: Worker, _ out: inout ByteBuffer) -> Bool {
        if op.state == 0 {
            let blocked = (0..<op.parts.count).filter { isBlockedMarker(op.reply($0)) }
            let answered = op.firstError() != nil || (0..<op.parts.count).contains(where: { hasData(op.reply($0)) })
            if !blocked.isEmpty && !answered {
                w.waitForBlockedParts(op, count: blocked.count)
                return false
            }
            // Some stream had data (or an error): the waiters registered meanwhile must go
            // before the operation ends, or their late replies would find its slot reused.
            if !blocked.isEmpty { op.state = 2; op.remaining = blocked.count; cancelOthers(op, w: w); return false }
        }
        if let error = op.firstError() { out.append(error); return true }
        var withData: [Int] = []
        for i in 0..<op.parts.count where hasData(op.reply(i)) { withData.append(i) }
        if withData.isEmpty {
            if op.unblockedWithError { out.writeError(Worker.unblockedError) } else { out.writeNullArray(op.resp) }
            return true
        }
        if op.resp == .resp3 { out.writeMapHeader(withData.count, .resp3) } else { out.writeArrayHeader(withData.count) }
        for i in withData {
            let r = op.reply(i)
            // Parts reply `*2 key entries`; a RESP3 map entry is the key and entries alone.
            out.append(op.resp == .resp3 ? UnsafeRawBufferPointer(rebasing: r[4...]) : r)
        }
        return true
    }

    static func isBlockedMarker(_ r: UnsafeRawBufferPointer) -> Bool { r.count == 10 && r[0] == UInt8(ascii: "+") }
    static func hasData(_ r: UnsafeRawBufferPointer) -> Bool { r.count > 4 && r[0] == UInt8(ascii: "*") && r[1] != UInt8(ascii: "-") }

    /// `__xread key id count deadline`: the stream's entries after `id`, or a null array,
    /// or a waiter and `+BLOCKED` (deadline -1: never block; 0: block forever).
    static func xreadPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        ctx.blockingPartArrived()
        let key = args[1]
        var stream: Stream?
        if let e = ctx.shard.lookupForRead(db: ctx.db, key: key) {
            guard e.kind == .object, let s = e.object as? Stream else { out.writeError(Errors.wrongType); return }
            stream = s
        }
        let idArg = args[2]
        let after: StreamID
        if idArg.count == 1 && idArg[0] == UInt8(ascii: "$") {
            after = stream?.lastID ?? .zero
        } else if idArg.count == 1 && idArg[0] == UInt8(ascii: ">") {
            out.writeError("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")
            return
        } else {
            guard let id = StreamCommands.strictID(idArg, &out) else { return }
            after = id
        }
        let count = parseStrictInt(args[3]) ?? 0
        if let s = stream, serveXRead(s, key: key, after: after, count: count, &out) { return }
        let deadline = BlockingTurn.parse(args[4])
        if deadline.mayBlock, let sink = ctx.sink {
            ctx.block(xreadPartIndex, on: [Array(key)], sink: sink, request: StreamWait.xread(after: after, count: count),
                      deadline: deadline)
            out.append(blockedMarker)
            return
        }
        out.writeNullArray(.resp2)
    }

    /// Writes `*2 key entries` if the stream has entries after `after`.
    static func serveXRead(_ s: Stream, key: UnsafeRawBufferPointer, after: StreamID, count: Int,
                           _ out: inout ByteBuffer) -> Bool {
        guard s.length > 0, s.lastID > after, let start = after.successor else { return false }
        var probe = false
        s.forEach(from: start, to: .max) { _ in probe = true; return false }
        guard probe else { return false }
        out.writeArrayHeader(2)
        out.writeBulk(key)
        StreamCommands.writeRange(s, from: start, to: .max, count: count, reverse: false, &out)
        return true
    }

    // MARK: XREADGROUP

    static let xreadgroupPartIndex = CommandTable.shared.index(of: .xreadgroup)
    static let xreadgroupNowPartIndex = CommandTable.shared.index(of: .xreadgroupNow)
    static let xreadgroupCheckIndex = CommandTable.shared.index(of: .xreadgroupCheck)

    /// XREADGROUP GROUP g c [COUNT n] [BLOCK ms] [NOACK] STREAMS key... id...: one part per
    /// stream, as XREAD. With several streams every one is checked first (type, group, ID),
    /// as Redis does before serving any: a later stream's error must not follow reads that
    /// already moved an earlier stream's group.
    static func xreadgroup(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        // Replicas get the XCLAIM/XGROUP forms the parts propagate, never XREADGROUP itself.
        call.propagateAs = nil
        guard let r = parse(args, from: 1, xreadgroup: true, &out), let groupAt = r.group else { return }
        let deadline: Int64 = r.blockMs.map { StreamReads.deadline(after: $0, now: w.nowMs) } ?? -1
        let canBlock = r.blockMs != nil && call.nesting == nil
        let op = MultiShardOperation(client: c) { _, _ in true }
        let group = op.store(args[groupAt]), consumer = op.store(args[groupAt + 1])
        let count = op.store(string: String(r.count)), noack = op.store(string: r.noack ? "1" : "0")
        let dl = op.store(string: BlockingTurn.argument(canBlock ? deadline : -1, w))
        var keys: [(shard: Int, key: Int, id: Int)] = []
        for k in 0..<r.streams {
            let key = args[r.streamsAt + k]
            keys.append((w.shardOf(key), op.store(key), op.store(args[r.streamsAt + r.streams + k])))
        }
        let part = canBlock ? InternalCommand.xreadgroup : InternalCommand.xreadgroupNow
        let partIndex = canBlock ? xreadgroupPartIndex : xreadgroupNowPartIndex
        let serveName = op.store(string: part.name)
        let addServeParts = { (op: MultiShardOperation) in
            for k in keys {
                op.addPart(shard: k.shard, command: partIndex,
                           spanIndices: [serveName, k.key, k.id, group, consumer, count, noack, dl])
            }
        }
        op.combine = { [unowned w] op, out in
            if op.state == -1 {
                if let error = op.firstError() { out.append(error); return true }
                op.state = 0
                addServeParts(op)
                return false
            }
            return combine(op, w, &out)
        }
        if keys.count > 1 {
            op.state = -1
            let checkName = op.store(string: InternalCommand.xreadgroupCheck.name)
            for k in keys {
                op.addPart(shard: k.shard, command: xreadgroupCheckIndex, spanIndices: [checkName, k.key, k.id, group])
            }
        } else {
            addServeParts(op)
        }
        prepareBlocking(w, op, canBlock: canBlock)
        w.start(op, client: c, call: &call, out: &out)
    }

    // MARK: Blocking bookkeeping on the client's worker

    static func prepareBlocking(_ w: Worker, _ op: MultiShardOperation, canBlock: Bool) {
        // As in Redis, a blocked client runs nothing more until answered.
        if canBlock { op.pausesClient = true }
        let clientID = op.clientID
        op.onRecord = { [unowned w, unowned op] part in
            // Blocked, and a part brought data or an error (XREADGROUP's group or key gone):
            // cancel the other waiters.
            let r = op.reply(part)
            if op.state == 1 && (hasData(r) || (r.count > 0 && r[0] == UInt8(ascii: "-"))) {
                op.state = 2
                cancelOthers(op, w: w)
            }
        }
        op.onFinish = { [unowned w] in w.blockedClients.operationOf[clientID] = nil }
        _ = w
    }

    static func cancelOthers(_ op: MultiShardOperation, w: Worker) {
        let shards = Set(op.parts.map(\.shard))
        for s in shards { w.cancelBlockedRequest(of: op, shard: s) }
    }
}
