import RESP
import Shards
import Values

/// The list commands whose keys may live on several shards: LMPOP (numkeys) and LMOVE /
/// RPOPLPUSH with source and destination apart. Both run as one operation under the locks
/// of all their keys, so they are atomic as on one shard, never CROSSSLOT:
/// - LMPOP on one shard runs whole as one part there (`__listmulti lmpop ...`); across
///   shards each key is probed (`__lprobe`: missing, a list, or another type), then the first
///   that exists is popped on its shard as LMPOP over that one key (the reply names it).
/// - LMOVE across shards probes the source (missing: null, before the destination's type is
///   looked at) and the destination, then pops with LPOP/RPOP and pushes with LPUSH/RPUSH.
/// LMOVE reaches replicas as itself (the same data gives the same result); LMPOP as the
/// LPOP/RPOP key count it did, as Redis rewrites it.
enum ListAcrossShards {
    static let multiKeyPart = CommandTable.shared.index(of: .listMulti)
    static let probePart = CommandTable.shared.index(of: .listProbe)
    private static let lpopIndex = CommandTable.shared.index(of: "lpop")!
    private static let rpopIndex = CommandTable.shared.index(of: "rpop")!
    private static let lpushIndex = CommandTable.shared.index(of: "lpush")!
    private static let rpushIndex = CommandTable.shared.index(of: "rpush")!

    /// `__lprobe key [release]` (no hit or miss counted, as lookupKeyWrite): :0 missing, :1 a
    /// list, WRONGTYPE for another type. `release`: a woken BLMOVE's locked move gives back
    /// the element promised to it (`ListValue.reservedForMoves`).
    static func probe(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        switch ListCommands.listForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .missing: out.writeInteger(0)
        case .found(let l):
            if args.count > 2 {
                l.reservedForMoves = max(0, l.reservedForMoves - 1)
                // Judged again once the move lets go: what it leaves may serve other waiters.
                ctx.shard.blocked.signal(db: ctx.db, key: args[1])
            }
            out.writeInteger(1)
        }
    }

    /// `__listmulti <command as sent>` on the keys' shard.
    static func multiKeyPartRun(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let a = args.dropFirst(1)
        guard argIs(a[0], "lmpop"), let parsed = parseMpop(a, countAt: 1, &out) else {
            if !argIs(a[0], "lmpop") { out.writeError("ERR unknown list operation") }
            return
        }
        lmpop(ctx, a, keys: parsed.keys, head: parsed.side, count: parsed.count, &out)
    }

    // MARK: LMPOP

    /// lmpopGenericCommand's parsing: numkeys (at `countAt`), the keys, LEFT|RIGHT (the
    /// side: true for LEFT), an optional COUNT, with its errors.
    static func parseMpop(_ args: Arguments, countAt: Int, _ out: inout ByteBuffer) -> MpopArguments? {
        MpopArguments.parse(args, countAt: countAt, &out, side: ListCommands.parseSide)
    }

    /// mpopGenericCommand on one shard: pops from the first list that exists; `[key,
    /// [elements]]`, or a null array.
    static func lmpop(_ ctx: ShardContext, _ args: Arguments, keys: Range<Int>, head: Bool, count: Int,
                      _ out: inout ByteBuffer) {
        for k in keys {
            switch ListCommands.listForWrite(ctx, args[k], &out) {
            case .wrongType: return
            case .missing: continue
            case .found(let l):
                let taken = min(count, l.count)
                out.writeArrayHeader(2)
                out.writeBulk(args[k])
                ListCommands.willChange(ctx, args[k])
                ListCommands.writeEnd(l, count, head: head, &out)
                ListCommands.removed(ctx, args[k], l, event: ListCommands.popEvent(head: head))
                // Replicas get what was popped, as Redis rewrites LMPOP (and BLMPOP).
                ctx.propagate(.text(head ? "LPOP" : "RPOP"), .bytes(args[k]), .text(String(taken)))
                return
            }
        }
        out.writeNullArray(ctx.resp)
    }

    /// The LMPOP client handler: arguments checked on the client's worker (as Redis checks
    /// them before any key), then one part on the keys' shard, or the probes across shards.
    static func lmpop(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard let parsed = parseMpop(args, countAt: 1, &out) else { return }
        call.propagateAs = nil  // the part propagates the pop it did
        let keys = Array(parsed.keys)
        let shards = keys.map { w.shardOf(args[$0]) }
        if shards.allSatisfy({ $0 == shards[0] }) {
            for k in keys { call.locks.append((shards[0], IntentLocks.lockKey(args[k]))) }
            let op = MultiShardOperation(client: c) { op, out in
                out.append(op.reply(0))
                return true
            }
            var spans = [op.store(string: InternalCommand.listMulti.name)]
            for i in 0..<args.count { spans.append(op.store(args[i])) }
            op.addPart(shard: shards[0], command: multiKeyPart, spanIndices: spans)
            w.start(op, client: c, call: &call, out: &out)
            return
        }
        for (i, k) in keys.enumerated() { call.locks.append((shards[i], IntentLocks.lockKey(args[k]))) }
        let keyBytes = keys.map { Array(args[$0]) }
        let side = parsed.side ? "LEFT" : "RIGHT"
        let count = String(parsed.count)
        let resp = c.resp
        var name = 0
        let op = MultiShardOperation(client: c) { op, out in
            guard op.state == 0 else {
                out.append(op.reply(op.parts.count - 1))
                return true
            }
            for i in 0..<keys.count {
                let r = op.reply(i)
                if KeyCommands.isZero(r) { continue }
                if r.first == UInt8(ascii: "-") { out.append(r); return true }
                op.state = 1
                var spans = [name, op.store(string: "lmpop"), op.store(string: "1")]
                keyBytes[i].withUnsafeBytes { spans.append(op.store($0)) }
                spans += [op.store(string: side), op.store(string: "COUNT"), op.store(string: count)]
                op.addPart(shard: shards[i], command: multiKeyPart, spanIndices: spans)
                return false
            }
            out.writeNullArray(resp)
            return true
        }
        op.pausesClient = true  // the pop must run before the client's next commands
        name = op.store(string: InternalCommand.listMulti.name)
        let probeName = op.store(string: InternalCommand.listProbe.name)
        for i in 0..<keys.count {
            keyBytes[i].withUnsafeBytes { k in
                op.addPart(shard: shards[i], command: probePart, spanIndices: [probeName, op.store(k)])
            }
        }
        w.start(op, client: c, call: &call, out: &out)
    }

    // MARK: LMOVE, RPOPLPUSH

    /// LMOVE/RPOPLPUSH with source and destination on two shards, in three steps under
    /// both keys' locks: probe both, pop from the source, push the element at the destination.
    static func lmove(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard let (from, to) = ListCommands.moveSides(args, &out) else { return }
        let srcShard = w.shardOf(args[1]), dstShard = w.shardOf(args[2])
        let resp = c.resp
        var src = 0, dst = 0, pushName = 0
        var popped: [UInt8] = []
        let op = MultiShardOperation(client: c) { op, out in
            switch op.state {
            case 0:
                let source = op.reply(0), destination = op.reply(1)
                if source.first == UInt8(ascii: "-") { out.append(source); return true }
                if KeyCommands.isZero(source) { out.writeNull(resp); return true }
                if destination.first == UInt8(ascii: "-") { out.append(destination); return true }
                op.state = 1
                op.addPart(shard: srcShard, command: from ? lpopIndex : rpopIndex,
                           spanIndices: [op.store(string: from ? "lpop" : "rpop"), src])
                return false
            case 1:
                let r = op.reply(op.parts.count - 1)
                guard let body = SortedSetCommands.bulkBody(r) else { out.append(r); return true }
                popped = Array(body)
                op.state = 2
                pushName = op.store(string: to ? "lpush" : "rpush")
                op.addPart(shard: dstShard, command: to ? lpushIndex : rpushIndex,
                           spanIndices: [pushName, dst, op.store(body)])
                return false
            default:
                if let error = op.firstError() { out.append(error) } else { out.writeBulk(popped) }
                return true
            }
        }
        op.pausesClient = true
        let probeName = op.store(string: InternalCommand.listProbe.name)
        src = op.store(args[1])
        dst = op.store(args[2])
        op.addPart(shard: srcShard, command: probePart, spanIndices: [probeName, src])
        op.addPart(shard: dstShard, command: probePart, spanIndices: [probeName, dst])
        w.start(op, client: c, call: &call, out: &out)
    }

    /// The move of a BLMOVE/BRPOPLPUSH across shards whose source was seen non-empty: an
    /// operation of the server's own under both keys' locks (probe both, pop, push), so
    /// the element is never in both lists or in neither for anyone. `done` gets the reply
    /// for the client (the element, or an error), or `ListBlocking.emptyMarker` if the
    /// source is empty again. Replicas get LMOVE (RPOPLPUSH) as Redis propagates it.
    static func lockedMove(_ w: Worker, db: Int, resp: RESPVersion, src: [UInt8], dst: [UInt8], from: Bool, to: Bool,
                           rpoplpush: Bool, done: @escaping ([UInt8]) -> Void) {
        let srcShard = src.withUnsafeBytes { w.shardOf($0) }, dstShard = dst.withUnsafeBytes { w.shardOf($0) }
        var srcSpan = 0, dstSpan = 0
        var popped: [UInt8] = []
        let op = MultiShardOperation(internalWithDB: db) { op, _ in
            switch op.state {
            case 0:
                let source = op.reply(0), destination = op.reply(1)
                if source.first == UInt8(ascii: "-") { done(Array(source)); return true }
                if KeyCommands.isZero(source) { done(ListBlocking.emptyMarker); return true }
                if destination.first == UInt8(ascii: "-") { done(Array(destination)); return true }
                op.state = 1
                op.addPart(shard: srcShard, command: from ? lpopIndex : rpopIndex,
                           spanIndices: [op.store(string: from ? "lpop" : "rpop"), srcSpan])
                return false
            case 1:
                let r = op.reply(op.parts.count - 1)
                guard let body = SortedSetCommands.bulkBody(r) else { done(ListBlocking.emptyMarker); return true }
                popped = Array(body)
                op.state = 2
                op.addPart(shard: dstShard, command: to ? lpushIndex : rpushIndex,
                           spanIndices: [op.store(string: to ? "lpush" : "rpush"), dstSpan, op.store(body)])
                return false
            default:
                var reply = ByteBuffer(capacity: popped.count + 16)
                if let error = op.firstError() { reply.append(error) } else { reply.writeBulk(popped) }
                done(Array(reply.readable))
                return true
            }
        }
        src.withUnsafeBytes { op.lockKey($0, shard: srcShard) }
        dst.withUnsafeBytes { op.lockKey($0, shard: dstShard) }
        if w.propagation != nil {
            var bytes = ByteBuffer(capacity: 64)
            let sides = [from ? "LEFT" : "RIGHT", to ? "LEFT" : "RIGHT"]
            bytes.writeArrayHeader(rpoplpush ? 3 : 5)
            bytes.writeBulk(string: rpoplpush ? "RPOPLPUSH" : "LMOVE")
            bytes.writeBulk(src)
            bytes.writeBulk(dst)
            if !rpoplpush { for s in sides { bytes.writeBulk(string: s) } }
            op.propagateAs = (db, Array(bytes.readable))
        }
        let probeName = op.store(string: InternalCommand.listProbe.name)
        srcSpan = src.withUnsafeBytes { op.store($0) }
        dstSpan = dst.withUnsafeBytes { op.store($0) }
        op.addPart(shard: srcShard, command: probePart, spanIndices: [probeName, srcSpan, op.store(string: "release")])
        op.addPart(shard: dstShard, command: probePart, spanIndices: [probeName, dstSpan])
        w.startInternal(op)
    }
}
