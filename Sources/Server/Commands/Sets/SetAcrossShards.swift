import RESP
import Shards
import Values

/// SINTER, SUNION, SDIFF, their STORE forms and SMOVE when their keys live on several
/// shards: one operation under the locks of all its keys (as EXEC), never CROSSSLOT.
/// Step 1 copies the source sets out of their shards (`__smembers_of`, a part per shard);
/// the coordinator computes the result as Redis would (SetReads.compute); a STORE form
/// then stores it on the destination's shard (`__sstore`). The operation reaches replicas
/// as the command itself, which gives the same result there.
enum SetAcrossShards {
    private static let membersPart = CommandTable.shared.index(of: .setMembers)
    private static let storePart = CommandTable.shared.index(of: .setStore)

    // MARK: Parts

    /// `__smembers_of key...`: one bulk string holding, per key, 0 (missing) or 1 and its
    /// members (u32 count, then u32 length and bytes each); WRONGTYPE if a key holds
    /// another type.
    static func members(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var sets: [SetValue?] = []
        for i in 1..<args.count {
            guard let e = ctx.shard.lookupForRead(db: ctx.db, key: args[i]) else { sets.append(nil); continue }
            guard e.kind == .object, let s = e.object as? SetValue else { out.writeError(Errors.wrongType); return }
            sets.append(s)
        }
        var blob: [UInt8] = []
        func u32(_ n: Int) { for k in 0..<4 { blob.append(UInt8(truncatingIfNeeded: n >> (8 * k))) } }
        for s in sets {
            guard let s else { blob.append(0); continue }
            blob.append(1)
            u32(s.count)
            s.forEach { m in u32(m.count); blob.append(contentsOf: m) }
        }
        out.writeBulk(blob)
    }

    /// `__sstore key member...`: `key` becomes a new set of these members (added in this
    /// order to an empty intset set, as Redis builds a STORE result), or is deleted if
    /// there are none; replies with the size.
    static func store(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let s = SetValue()
        for i in 2..<args.count { s.add(args[i]) }
        if s.count > 0 { SetCommands.store(ctx, args[1], s) } else { ctx.shard.delete(db: ctx.db, key: args[1]) }
        out.writeInteger(s.count)
    }

    /// Decodes a `__smembers_of` reply into its sets (nil: missing key).
    private static func decode(_ reply: UnsafeRawBufferPointer) -> [SetValue?] {
        guard reply.count > 0, reply[0] == UInt8(ascii: "$") else { return [] }
        var p = 1
        while p < reply.count && reply[p] != UInt8(ascii: "\r") { p += 1 }
        p += 2
        var sets: [SetValue?] = []
        func u32() -> Int {
            var n = 0
            for k in 0..<4 { n |= Int(reply[p + k]) << (8 * k) }
            p += 4
            return n
        }
        while p < reply.count - 2 {
            let present = reply[p]
            p += 1
            guard present == 1 else { sets.append(nil); continue }
            let s = SetValue()
            for _ in 0..<u32() {
                let n = u32()
                s.add(UnsafeRawBufferPointer(rebasing: reply[p..<(p + n)]))
                p += n
            }
            sets.append(s)
        }
        return sets
    }

    // MARK: SINTER, SUNION, SDIFF, SINTERCARD and the STORE forms

    /// Step 1 of every set-algebra operation: the source keys grouped by shard, one
    /// `__smembers_of` part per shard, and the sets read back in key order.
    struct Gather {
        private var shardOrder: [Int] = []
        private var keysOfShard: [Int: [Int]] = [:]
        private var location: [(part: Int, position: Int, name: [UInt8])] = []

        init(_ w: Worker, _ args: Arguments, keys: Range<Int>) {
            for i in keys {
                let s = w.shardOf(args[i])
                if keysOfShard[s] == nil { shardOrder.append(s) }
                keysOfShard[s, default: []].append(i)
            }
            var byArgument: [Int: (Int, Int)] = [:]
            for (part, s) in shardOrder.enumerated() {
                for (position, i) in keysOfShard[s]!.enumerated() { byArgument[i] = (part, position) }
            }
            for i in keys { location.append((byArgument[i]!.0, byArgument[i]!.1, Array(args[i]))) }
        }

        func addParts(to op: MultiShardOperation, _ args: Arguments, lock: Bool) {
            let name = op.store(string: InternalCommand.setMembers.name)
            for s in shardOrder {
                var spans = [name]
                for i in keysOfShard[s]! {
                    spans.append(op.store(args[i]))
                    if lock { op.lockKey(args[i], shard: s) }
                }
                op.addPart(shard: s, command: membersPart, spanIndices: spans)
            }
        }

        /// The sets in key order (nil: missing), one object per distinct key: compute()
        /// tells a key given twice by identity.
        func sets(_ op: MultiShardOperation) -> [SetValue?] {
            let decoded = (0..<op.parts.count).map { decode(op.reply($0)) }
            var byName: [[UInt8]: SetValue] = [:]
            var sets: [SetValue?] = []
            for (part, position, name) in location {
                guard let s = decoded[part][position] else { sets.append(nil); continue }
                if let seen = byName[name] { sets.append(seen) } else { byName[name] = s; sets.append(s) }
            }
            return sets
        }
    }

    static func algebra(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer,
                        _ operation: SetReads.Operation, store: Bool) {
        let gather = Gather(w, args, keys: (store ? 2 : 1)..<args.count)
        let dstShard = store ? w.shardOf(args[1]) : 0
        var dstSpan = 0, storeName = 0
        let resp = c.resp
        let op = MultiShardOperation(client: c) { op, out in
            if op.state == 1 {
                out.append(op.reply(op.parts.count - 1))
                return true
            }
            if let error = op.firstError() { out.append(error); return true }
            let result = SetReads.compute(operation, gather.sets(op))
            guard store else {
                out.writeSetHeader(result.count, resp)
                result.forEach { out.writeBulk($0) }
                return true
            }
            op.state = 1
            var spans = [storeName, dstSpan]
            result.forEach { spans.append(op.store($0)) }
            op.addPart(shard: dstShard, command: storePart, spanIndices: spans)
            return false
        }
        op.pausesClient = store
        if store {
            storeName = op.store(string: InternalCommand.setStore.name)
            dstSpan = op.store(args[1])
        }
        gather.addParts(to: op, args, lock: false)  // the command's keys are locked already
        w.start(op, client: c, call: &call, out: &out)
    }

    /// SINTERCARD numkeys key... [LIMIT limit] (sinterCardCommand): its keys are found by
    /// numkeys, so it always runs as an operation, locking its keys itself.
    static func sintercard(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard let numkeys = parseStrictInt(args[1]), numkeys >= 1 else {
            out.writeError("ERR numkeys should be greater than 0")
            return
        }
        guard numkeys <= args.count - 2 else {
            out.writeError("ERR Number of keys can't be greater than number of args")
            return
        }
        var limit = 0
        var i = 2 + numkeys
        while i < args.count {
            guard argIs(args[i], "limit"), i + 1 < args.count else { out.writeError(Errors.syntax); return }
            guard let n = parseStrictInt(args[i + 1]), n >= 0 else { out.writeError("ERR LIMIT can't be negative"); return }
            limit = n
            i += 2
        }
        let gather = Gather(w, args, keys: 2..<(2 + numkeys))
        let op = MultiShardOperation(client: c) { op, out in
            if let error = op.firstError() { out.append(error); return true }
            out.writeInteger(SetReads.intersectionCardinality(gather.sets(op), limit: limit))
            return true
        }
        gather.addParts(to: op, args, lock: true)
        w.start(op, client: c, call: &call, out: &out)
    }

    // MARK: SMOVE

    private static let scardIndex = CommandTable.shared.index(of: "scard")!
    private static let sismemberIndex = CommandTable.shared.index(of: "sismember")!
    private static let sremIndex = CommandTable.shared.index(of: "srem")!
    private static let saddIndex = CommandTable.shared.index(of: "sadd")!

    /// smoveCommand in two steps: SCARD of the source (0: missing, answered 0 before any
    /// type check of the destination), SISMEMBER, SCARD of the destination (its type);
    /// then SREM from the source and SADD to the destination.
    static func smove(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        let srcShard = w.shardOf(args[1]), dstShard = w.shardOf(args[2])
        var srem = 0, sadd = 0, src = 0, dst = 0, member = 0
        let op = MultiShardOperation(client: c) { op, out in
            if op.state == 1 {
                if let error = op.firstError() { out.append(error) } else { out.writeInteger(1) }
                return true
            }
            let card = op.reply(0), isMember = op.reply(1), dstCard = op.reply(2)
            func isZero(_ r: UnsafeRawBufferPointer) -> Bool { r.count == 4 && r[0] == UInt8(ascii: ":") && r[1] == UInt8(ascii: "0") }
            if card.first == UInt8(ascii: "-") { out.append(card); return true }
            if isZero(card) { out.writeInteger(0); return true }
            if dstCard.first == UInt8(ascii: "-") { out.append(dstCard); return true }
            if isZero(isMember) { out.writeInteger(0); return true }
            op.state = 1
            op.addPart(shard: srcShard, command: sremIndex, spanIndices: [srem, src, member])
            op.addPart(shard: dstShard, command: saddIndex, spanIndices: [sadd, dst, member])
            return false
        }
        op.pausesClient = true
        let scard = op.store(string: "scard"), sismember = op.store(string: "sismember")
        srem = op.store(string: "srem"); sadd = op.store(string: "sadd")
        src = op.store(args[1]); dst = op.store(args[2]); member = op.store(args[3])
        op.addPart(shard: srcShard, command: scardIndex, spanIndices: [scard, src])
        op.addPart(shard: srcShard, command: sismemberIndex, spanIndices: [sismember, src, member])
        op.addPart(shard: dstShard, command: scardIndex, spanIndices: [scard, dst])
        w.start(op, client: c, call: &call, out: &out)
    }
}
