import RESP
import Shards
import Values

/// BZPOPMIN, BZPOPMAX and BZMPOP (blockingGenericZpopCommand) on the generic blocking
/// machinery (BlockedClients.swift): the client's worker checks the arguments and runs one
/// part on the keys' shard; the part pops from the first non-empty sorted set or, if none,
/// leaves a waiter on every key and answers `+BLOCKED`. A write that makes a key ready
/// serves the waiter (`ZSetWait`). Keys on several shards wait without consuming and pop
/// the first key's members once decided (BlockingPopAcrossShards), as the list pops do.
/// Replicas get what was popped as ZPOPMIN/ZPOPMAX (with COUNT for BZMPOP), as Redis
/// rewrites it. Inside MULTI nothing blocks: a null array at once.
extension SortedSetCommands {
    static let blockingPopPart = CommandTable.shared.index(of: .bzpop)

    /// getTimeoutFromObjectOrReply in seconds: a long double, milliseconds rounded up; a
    /// value that does not fit is negative, as Redis's conversion makes it. Returns the
    /// timeout in ms (0: forever).
    static func parseTimeout(_ b: UnsafeRawBufferPointer, _ out: inout ByteBuffer) -> Int64? {
        guard let seconds = StringCommands.parseLongDouble(b) else {
            out.writeError("ERR timeout is not a float or out of range")
            return nil
        }
        let ms = (seconds * 1000).rounded(.up)
        let t: Int64 = ms.isFinite && ms >= -9.223372036854775808e18 && ms < 9.223372036854775808e18 ? Int64(ms) : .min
        guard t >= 0 else { out.writeError("ERR timeout is negative"); return nil }
        return t
    }

    static func bzpop(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer,
                      max: Bool) {
        guard let timeout = parseTimeout(args[args.count - 1], &out) else { return }
        startBlockingPop(w, c, args, &call, &out, keys: Array(1..<(args.count - 1)), max: max, count: -1, timeout: timeout)
    }

    /// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]: the timeout is parsed after
    /// the rest, as zmpopGenericCommand does.
    static func bzmpop(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard let parsed = parseZmpop(args, countAt: 2, &out) else { return }
        guard let timeout = parseTimeout(args[1], &out) else { return }
        startBlockingPop(w, c, args, &call, &out, keys: Array(parsed.keys), max: parsed.side, count: parsed.count,
                         timeout: timeout)
    }

    /// The modes of `__bzpop`: `pop` serves or waits; `wakeAny` (keys of several shards)
    /// promises an element and consumes nothing; `take` pops what `wakeAny` promised;
    /// `release` gives a promise back.
    enum BlockingPopMode: String { case pop, wakeAny, take, release }

    /// `count` -1: BZPOPMIN/BZPOPMAX's reply (`key member score`); else BZMPOP's.
    static func startBlockingPop(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall,
                                 _ out: inout ByteBuffer, keys: [Int], max: Bool, count: Int, timeout: Int64) {
        call.propagateAs = nil  // the part propagates what it popped
        let deadline: Int64 = call.nesting == nil ? StreamReads.deadline(after: timeout, now: w.nowMs) : -1
        let shard = w.shardOf(args[keys[0]])
        if keys.contains(where: { w.shardOf(args[$0]) != shard }) {
            BlockingPopAcrossShards.start(w, c, keys: keys.map { Array(args[$0]) }, deadline: deadline, &call, &out) { op in
                let name = op.store(string: InternalCommand.bzpop.name)
                let side = op.store(string: max ? "max" : "min")
                let countSpan = op.store(string: String(count))
                let never = op.store(string: "-1")
                return BlockingPopAcrossShards.Parts(
                    command: blockingPopPart,
                    wait: [name, op.store(string: BlockingPopMode.wakeAny.rawValue), side, countSpan,
                           op.store(string: BlockingTurn.argument(deadline, w))],
                    consume: [name, op.store(string: BlockingPopMode.take.rawValue), side, countSpan, never],
                    releaseCommand: blockingPopPart,
                    release: [name, op.store(string: BlockingPopMode.release.rawValue), side, countSpan, never],
                    releaseAfter: [])
            }
            return
        }
        let resp = c.resp
        let clientID = c.id
        let op = MultiShardOperation(client: c) { [unowned w] op, out in
            let r = op.reply(0)
            if op.state == 0 && StreamReads.isBlockedMarker(r) {
                w.waitForBlockedParts(op, count: 1)
                return false
            }
            if r.elementsEqual(BlockedClient.noAnswer) {
                if op.unblockedWithError { out.writeError(Worker.unblockedError) } else { out.writeNullArray(resp) }
            } else {
                out.append(r)
            }
            return true
        }
        op.onFinish = { [unowned w] in w.blockedClients.operationOf[clientID] = nil }
        op.pausesClient = true  // as in Redis, a blocked client runs nothing more until answered
        var spans = [op.store(string: InternalCommand.bzpop.name), op.store(string: BlockingPopMode.pop.rawValue),
                     op.store(string: max ? "max" : "min"), op.store(string: String(count)),
                     op.store(string: BlockingTurn.argument(deadline, w))]
        for k in keys { spans.append(op.store(args[k])) }
        op.addPart(shard: shard, command: blockingPopPart, spanIndices: spans)
        w.start(op, client: c, call: &call, out: &out)
    }

    /// `__bzpop mode min|max count deadline key...`: pops from the first non-empty key (its
    /// members not promised to a woken request), or blocks (deadline -1: never; 0: forever)
    /// answering `+BLOCKED`, or replies `*-1`. `wakeAny` promises instead of popping; `take`
    /// and `release` name one key.
    static func blockingPopPartRun(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        ctx.blockingPartArrived()
        let mode = BlockingPopMode(rawValue: String(decoding: args[1], as: UTF8.self)) ?? .pop
        let max = argIs(args[2], "max")
        let count = parseStrictInt(args[3]) ?? -1
        let deadline = BlockingTurn.parse(args[4])
        let keys = 5..<args.count
        switch mode {
        case .wakeAny:
            for k in keys where BlockingPopAcrossShards.promiseFirst(
                ctx.shard.lookup(db: ctx.db, key: args[k]), as: SortedSet.self, key: args[k], ctx, deadline, &out) { return }
        case .take, .release:
            if let e = ctx.shard.lookup(db: ctx.db, key: args[5]), e.kind == .object, let z = e.object as? SortedSet {
                BlockingPopAcrossShards.takePromise(z, ctx, key: args[5])
            }
            if mode == .release { out.writeInteger(1); return }
        case .pop:
            break
        }
        for k in keys where mode != .wakeAny {
            guard let e = ctx.shard.lookup(db: ctx.db, key: args[k]) else { continue }
            guard e.kind == .object, let z = e.object as? SortedSet else { out.writeError(Errors.wrongType); return }
            // Members promised to woken requests on several shards are theirs.
            if z.count <= z.promisedToWaiters { continue }
            if deadline.mayBlock && ctx.shard.blocked.awaitsServing(db: ctx.db, key: args[k]) { continue }
            popServingBlocked(ctx, args[k], z, max: max, count: count, &out)
            return
        }
        if deadline.mayBlock, let sink = ctx.sink {
            ctx.block(blockingPopPart, on: keys.map { Array(args[$0]) }, sink: sink,
                      request: ZSetWait(wakeAny: mode == .wakeAny, max: max, count: count), deadline: deadline)
            out.append(StreamReads.blockedMarker)
            return
        }
        out.append(BlockedClient.noAnswer)
    }

    /// Pops for a blocking pop and propagates it as ZPOPMIN/ZPOPMAX key [count].
    static func popServingBlocked(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, _ z: SortedSet, max: Bool,
                                  count: Int, _ out: inout ByteBuffer) {
        let resp = ctx.resp
        let taken = count == -1 ? 1 : min(count, z.count)
        if count == -1 {
            out.writeArrayHeader(3)
            out.writeBulk(key)
        } else {
            out.writeArrayHeader(2)
            out.writeBulk(key)
            out.writeArrayHeader(taken)
        }
        var written = 0
        z.forEach(fromRank: max ? z.count - 1 : 0, reverse: max) { m, s in
            if count != -1 { out.writeArrayHeader(2) }
            out.writeBulk(m)
            writeScore(s, &out, resp)
            written += 1
            return written < taken
        }
        ctx.shard.noteModified(db: ctx.db, key: key)
        z.removeRanks(max ? (z.count - taken)..<z.count : 0..<taken)
        let name = max ? "ZPOPMAX" : "ZPOPMIN"
        // BZMPOP's count as Redis rewrites it: what was there to pop, if less than asked.
        if count == -1 { ctx.propagate(.text(name), .bytes(key)) } else { ctx.propagate(.text(name), .bytes(key), .text(String(taken))) }
        ctx.notify(KeyspaceEvent.zset, max ? "zpopmax" : "zpopmin", key)
        deleteIfEmpty(ctx, key, z)
    }
}

/// What a blocked BZPOPMIN/BZPOPMAX/BZMPOP waits for: a non-empty sorted set at its key (its
/// members not all promised to woken requests). A key that holds something else keeps it
/// waiting, as in Redis. `wakeAny`: a request over several shards, answered with a promise.
struct ZSetWait: BlockingRequest {
    let wakeAny: Bool
    let max: Bool
    let count: Int

    func serve(_ waiter: BlockedClient, key: UnsafeRawBufferPointer, shard: Shard, _ out: inout ByteBuffer) -> Bool {
        guard let e = shard.lookup(db: waiter.db, key: key), e.kind == .object, let z = e.object as? SortedSet,
              z.count > z.promisedToWaiters, !wakeAny || z.promisedToWaiters == 0 else { return false }
        if wakeAny {
            z.promisedToWaiters += 1
            out.writeBulk(BlockingPopAcrossShards.tagged("R", key))
            return true
        }
        let ctx = ShardContext(shard: shard, db: waiter.db, resp: waiter.resp, clientID: waiter.clientID)
        SortedSetCommands.popServingBlocked(ctx, key, z, max: max, count: count, &out)
        return true
    }
}

extension SortedSet: BlockingPopSource {}
