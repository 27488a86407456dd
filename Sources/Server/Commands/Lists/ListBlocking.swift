import RESP
import Shards
import Values

/// BLPOP, BRPOP, BLMPOP, BLMOVE and BRPOPLPUSH (blockingPopGenericCommand,
/// blmoveGenericCommand) on the generic blocking machinery (BlockedClients.swift), as the
/// sorted sets' BZPOP* do: the client's worker checks the arguments in Redis's order and runs
/// one part on the keys' shard; the part serves from the first non-empty list or leaves a
/// waiter on every key (`ListWait`) and answers `+BLOCKED`. A push that creates a waited-on
/// key makes it ready; waiters are served in the order they blocked. Keys on several
/// shards wait without consuming, then pop (`popAcrossShards`); BLMOVE with its
/// destination on another shard waits, then moves under locks (`moveAcrossShards`).
/// Replicas get the non-blocking effect: LPOP/RPOP key (with the count taken, for BLMPOP),
/// LMOVE or RPOPLPUSH. Inside MULTI nothing blocks: a null array at once (a null bulk for
/// BLMOVE/BRPOPLPUSH, as Redis's CLIENT_DENY_BLOCKING paths answer).
enum ListBlocking {
    static let part = CommandTable.shared.index(of: .blockingListPop)

    /// `wake`: BLMOVE across shards only waits for the source here (nothing is consumed);
    /// the move itself is a locked operation (`moveAcrossShards`).
    /// `wakeAny`: BLPOP/BRPOP/BLMPOP over keys of several shards wait on each shard for any
    /// of its keys, answering `R<key>` (an element promised) or `W<key>` (another type).
    enum Mode: String { case pop, mpop, move, rpoplpush, wake, wakeAny }

    /// BLPOP/BRPOP key [key ...] timeout.
    static func bpop(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer,
                     head: Bool) {
        guard let timeout = SortedSetCommands.parseTimeout(args[args.count - 1], &out) else { return }
        start(w, c, args, &call, &out, mode: .pop, head: head, count: -1, destination: nil, destinationHead: false,
              keys: Array(1..<(args.count - 1)), timeout: timeout)
    }

    /// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]: the timeout is parsed
    /// after the rest, as lmpopGenericCommand does.
    static func blmpop(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard let parsed = ListAcrossShards.parseMpop(args, countAt: 2, &out) else { return }
        guard let timeout = SortedSetCommands.parseTimeout(args[1], &out) else { return }
        start(w, c, args, &call, &out, mode: .mpop, head: parsed.side, count: parsed.count, destination: nil,
              destinationHead: false, keys: Array(parsed.keys), timeout: timeout)
    }

    /// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout, BRPOPLPUSH source destination timeout.
    static func blmove(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard let (from, to) = ListCommands.moveSides(args, &out) else { return }
        guard let timeout = SortedSetCommands.parseTimeout(args[args.count - 1], &out) else { return }
        let mode: Mode = argIs(args[0], "blmove") ? .move : .rpoplpush
        if w.shardOf(args[1]) != w.shardOf(args[2]) {
            // Inside MULTI nothing blocks: LMOVE's cross-shard operation answers (null if empty).
            if call.nesting != nil { ListAcrossShards.lmove(w, c, args, &call, &out); return }
            moveAcrossShards(w, c, args, &call, &out, from: from, to: to, timeout: timeout)
            return
        }
        start(w, c, args, &call, &out, mode: mode, head: from, count: -1, destination: 2, destinationHead: to,
              keys: [1], timeout: timeout)
    }

    static let readyMarker: [UInt8] = Array("+READY\r\n".utf8)
    static let emptyMarker: [UInt8] = Array("+EMPTY\r\n".utf8)

    /// BLMOVE/BRPOPLPUSH with source and destination on two shards, atomic as on one: the
    /// request waits (without locks) on the source's shard until it holds a list, then an
    /// operation of the server's own moves the element under both keys' locks
    /// (`ListAcrossShards.lockedMove`) and hands its reply back; if another client emptied
    /// the source first, it waits again (behind the waiters that came meanwhile).
    static func moveAcrossShards(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall,
                                 _ out: inout ByteBuffer, from: Bool, to: Bool, timeout: Int64) {
        call.propagateAs = nil  // the locked move propagates as LMOVE/RPOPLPUSH
        let srcShard = w.shardOf(args[1])
        let deadline = StreamReads.deadline(after: timeout, now: w.nowMs)
        let resp = c.resp
        let clientID = c.id
        let db = c.db
        let src = Array(args[1]), dst = Array(args[2])
        let rpoplpush = argIs(args[0], "brpoplpush")
        var waitSpans: [Int] = []
        let op = MultiShardOperation(client: c) { [unowned w] op, out in
            let last = op.parts.count - 1
            let r = op.reply(last)
            if op.state == 2 {
                // The locked move's answer.
                if r.elementsEqual(emptyMarker) {
                    op.state = 0
                    op.addPart(shard: srcShard, command: part, spanIndices: waitSpans)
                    return false
                }
                out.append(r)
                return true
            }
            if StreamReads.isBlockedMarker(r) {
                w.waitForBlockedParts(op, count: 1)
                return false
            }
            if r.elementsEqual(BlockedClient.noAnswer) {
                if op.unblockedWithError { out.writeError(Worker.unblockedError) } else { out.writeNullArray(resp) }
                return true
            }
            guard r.elementsEqual(readyMarker) else { out.append(r); return true }
            op.state = 2
            op.remaining = 1
            let sink = ReplySink(kind: .operation, generation: op.generation, index: Int32(op.slot), id: op.clientID,
                                 ticket: UInt32(last))
            ListAcrossShards.lockedMove(w, db: db, resp: resp, src: src, dst: dst, from: from, to: to,
                                        rpoplpush: rpoplpush) { [unowned w] bytes in
                w.blockedClients.answers.append((sink, part, bytes))
            }
            return false
        }
        op.onFinish = { [unowned w] in w.blockedClients.operationOf[clientID] = nil }
        op.pausesClient = true  // as in Redis, a blocked client runs nothing more until answered
        waitSpans = [op.store(string: InternalCommand.blockingListPop.name), op.store(string: Mode.wake.rawValue),
                     op.store(string: from ? "left" : "right"), op.store(string: "-1"),
                     op.store(string: BlockingTurn.argument(deadline, w)), op.store(string: ""), op.store(string: "left"),
                     op.store(args[1])]
        op.addPart(shard: srcShard, command: part, spanIndices: waitSpans)
        w.start(op, client: c, call: &call, out: &out)
    }

    static func start(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer,
                      mode: Mode, head: Bool, count: Int, destination: Int?, destinationHead: Bool, keys: [Int],
                      timeout: Int64) {
        call.propagateAs = nil  // the part propagates what it did
        let shard = w.shardOf(args[keys[0]])
        let all = destination.map { keys + [$0] } ?? keys
        if all.contains(where: { w.shardOf(args[$0]) != shard }) {
            popAcrossShards(w, c, args, &call, &out, mode: mode, head: head, count: count, keys: keys, timeout: timeout)
            return
        }
        let inMulti = call.nesting != nil
        let deadline: Int64 = inMulti ? -1 : StreamReads.deadline(after: timeout, now: w.nowMs)
        let resp = c.resp
        let clientID = c.id
        let nullBulk = inMulti && (mode == .move || mode == .rpoplpush)
        let op = MultiShardOperation(client: c) { [unowned w] op, out in
            let r = op.reply(0)
            if op.state == 0 && StreamReads.isBlockedMarker(r) {
                w.waitForBlockedParts(op, count: 1)
                return false
            }
            if r.elementsEqual(BlockedClient.noAnswer) {
                if op.unblockedWithError { out.writeError(Worker.unblockedError) } else if nullBulk { out.writeNull(resp) } else { out.writeNullArray(resp) }
            } else {
                out.append(r)
            }
            return true
        }
        op.onFinish = { [unowned w] in w.blockedClients.operationOf[clientID] = nil }
        op.pausesClient = true  // as in Redis, a blocked client runs nothing more until answered
        var spans = [op.store(string: InternalCommand.blockingListPop.name), op.store(string: mode.rawValue),
                     op.store(string: head ? "left" : "right"), op.store(string: String(count)),
                     op.store(string: BlockingTurn.argument(deadline, w))]
        if let destination { spans.append(op.store(args[destination])) } else { spans.append(op.store(string: "")) }
        spans.append(op.store(string: destinationHead ? "left" : "right"))
        for k in keys { spans.append(op.store(args[k])) }
        op.addPart(shard: shard, command: part, spanIndices: spans)
        w.start(op, client: c, call: &call, out: &out)
    }

    /// BLPOP, BRPOP and BLMPOP over keys of several shards (BlockingPopAcrossShards): a
    /// `wakeAny` part per shard promises the request an element of its first list, the first
    /// key named decides, the other promises are given back (`__lprobe key release`) and the
    /// element is popped on its shard (`__blpop pop ... release key`), which propagates
    /// LPOP/RPOP.
    static func popAcrossShards(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall,
                                _ out: inout ByteBuffer, mode: Mode, head: Bool, count: Int, keys: [Int], timeout: Int64) {
        let deadline: Int64 = call.nesting != nil ? -1 : StreamReads.deadline(after: timeout, now: w.nowMs)
        BlockingPopAcrossShards.start(w, c, keys: keys.map { Array(args[$0]) }, deadline: deadline, &call, &out) { op in
            let name = op.store(string: InternalCommand.blockingListPop.name)
            let side = op.store(string: head ? "left" : "right")
            let countSpan = op.store(string: String(count))
            let empty = op.store(string: "")
            return BlockingPopAcrossShards.Parts(
                command: part,
                wait: [name, op.store(string: Mode.wakeAny.rawValue), side, countSpan,
                       op.store(string: BlockingTurn.argument(deadline, w)),
                       empty, op.store(string: "left")],
                consume: [name, op.store(string: mode.rawValue), side, countSpan, op.store(string: "-1"), empty,
                          op.store(string: "release")],
                releaseCommand: ListAcrossShards.probePart,
                release: [op.store(string: InternalCommand.listProbe.name)],
                releaseAfter: [op.store(string: "release")])
        }
    }

    /// `__blpop mode left|right count deadline destination left|right key...`: serves from
    /// the first non-empty list, or blocks (deadline -1: never; 0: forever) answering
    /// `+BLOCKED`, or replies `*-1`.
    static func partRun(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        ctx.blockingPartArrived()
        let wait = ListWait(mode: Mode(rawValue: String(decoding: args[1], as: UTF8.self)) ?? .pop,
                            head: argIs(args[2], "left"), count: parseStrictInt(args[3]) ?? -1,
                            destination: Array(args[5]), destinationHead: argIs(args[6], "left"))
        let deadline = BlockingTurn.parse(args[4])
        if wait.mode == .wakeAny {
            for k in 7..<args.count where BlockingPopAcrossShards.promiseFirst(
                ctx.shard.lookup(db: ctx.db, key: args[k]), as: ListValue.self, key: args[k], ctx, deadline, &out) { return }
        } else if argIs(args[6], "release"), let e = ctx.shard.lookup(db: ctx.db, key: args[7]), e.kind == .object,
                  let l = e.object as? ListValue {
            // The pop of a request woken by `wakeAny`: the element promised to it is taken now.
            BlockingPopAcrossShards.takePromise(l, ctx, key: args[7])
        }
        for k in 7..<args.count where wait.mode != .wakeAny {
            switch ListCommands.listForWrite(ctx, args[k], &out) {
            case .wrongType: return
            case .missing: continue
            case .found(let l):
                if deadline.mayBlock && ctx.shard.blocked.awaitsServing(db: ctx.db, key: args[k]) { continue }
                if wait.mode == .wake {
                    // One woken move at a time per list, so waiters get elements in the order they
                    // blocked: the others wait for the signal its pop gives.
                    guard l.reservedForMoves == 0 else { continue }
                    l.reservedForMoves += 1
                }
                wait.serve(ctx, args[k], l, &out)
                return
            }
        }
        if deadline.mayBlock, let sink = ctx.sink {
            ctx.block(part, on: (7..<args.count).map { Array(args[$0]) }, sink: sink, request: wait, deadline: deadline)
            out.append(StreamReads.blockedMarker)
            return
        }
        out.append(BlockedClient.noAnswer)
    }
}

extension ListValue: BlockingPopSource {
    var promisedToWaiters: Int {
        get { reservedForMoves }
        set { reservedForMoves = newValue }
    }
}

/// What a blocked list pop waits for: a non-empty list at one of its keys (a key holding
/// something else keeps it waiting, as in Redis).
struct ListWait: BlockingRequest {
    let mode: ListBlocking.Mode
    let head: Bool
    let count: Int
    let destination: [UInt8]
    let destinationHead: Bool

    func serve(_ waiter: BlockedClient, key: UnsafeRawBufferPointer, shard: Shard, _ out: inout ByteBuffer) -> Bool {
        // Elements promised to woken cross-shard BLMOVEs are theirs: later waiters wait.
        guard let e = shard.lookup(db: waiter.db, key: key), e.kind == .object, let l = e.object as? ListValue,
              l.count > l.reservedForMoves, (mode != .wake && mode != .wakeAny) || l.reservedForMoves == 0
        else { return false }
        if mode == .wake || mode == .wakeAny { l.reservedForMoves += 1 }
        let ctx = ShardContext(shard: shard, db: waiter.db, resp: waiter.resp, clientID: waiter.clientID)
        serve(ctx, key, l, &out)
        return true
    }

    /// Serves from the non-empty list `l` at `key` (serveClientBlockedOnList) and propagates
    /// the non-blocking effect.
    func serve(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, _ l: ListValue, _ out: inout ByteBuffer) {
        let side = head ? "LEFT" : "RIGHT"
        switch mode {
        case .wake:
            out.append(ListBlocking.readyMarker)
        case .wakeAny:
            out.writeBulk(BlockingPopAcrossShards.tagged("R", key))
        case .pop:
            out.writeArrayHeader(2)
            out.writeBulk(key)
            l.withEnd(head: head) { out.writeBulk($0) }
            ListCommands.willChange(ctx, key)
            l.removeEnds(1, head: head)
            ListCommands.removed(ctx, key, l, event: ListCommands.popEvent(head: head))
            ctx.propagate(.text(head ? "LPOP" : "RPOP"), .bytes(key))
        case .mpop:
            let taken = min(count, l.count)
            out.writeArrayHeader(2)
            out.writeBulk(key)
            ListCommands.willChange(ctx, key)
            ListCommands.writeEnd(l, count, head: head, &out)
            ListCommands.removed(ctx, key, l, event: ListCommands.popEvent(head: head))
            ctx.propagate(.text(head ? "LPOP" : "RPOP"), .bytes(key), .text(String(taken)))
        case .move, .rpoplpush:
            destination.withUnsafeBytes { dst in
                var reply = ByteBuffer(capacity: 64)
                ListCommands.move(ctx, l, key, dst, from: head, to: destinationHead, &reply)
                let moved = reply.readable.first == UInt8(ascii: "$")
                out.append(reply.readable)
                guard moved else { return }
                if mode == .rpoplpush {
                    ctx.propagate(.text("RPOPLPUSH"), .bytes(key), .bytes(dst))
                } else {
                    ctx.propagate(.text("LMOVE"), .bytes(key), .bytes(dst), .text(side),
                                  .text(destinationHead ? "LEFT" : "RIGHT"))
                }
            }
        }
    }
}
