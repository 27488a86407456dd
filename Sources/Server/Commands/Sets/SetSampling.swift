import RESP
import Shards
import Values

/// SRANDMEMBER, SPOP and SSCAN (Redis 7.0's srandmemberWithCountCommand, spopWithCountCommand
/// and scanGenericCommand for sets).
enum SetSampling {
    // MARK: SRANDMEMBER

    static func srandmember(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        if args.count > 3 { out.writeError(Errors.syntax); return }
        guard args.count == 3 else {
            let resp = ctx.resp
            guard let s = SetCommands.setForRead(ctx, args[1], &out, missing: { $0.writeNull(resp) }) else { return }
            var rng = ctx.shard.random
        defer { ctx.shard.random = rng }
            s.randomMember(using: &rng) { out.writeBulk($0) }
            return
        }
        // getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)
        guard let requested = parseStrictInt(args[2]) else { out.writeError(Errors.notInteger); return }
        guard requested != Int.min else {
            out.writeError("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
            return
        }
        guard let s = SetCommands.setForRead(ctx, args[1], &out, missing: { $0.writeArrayHeader(0) }) else { return }
        let count = Int(requested.magnitude)
        if count == 0 { out.writeArrayHeader(0); return }
        var rng = ctx.shard.random
        defer { ctx.shard.random = rng }
        // CASE 1: repetitions allowed (or a single member).
        if requested < 0 || count == 1 {
            out.writeArrayHeader(count)
            if let t = s.table {
                for _ in 0..<count { out.writeBulk(t.key(t.randomHandle(using: &rng)!)) }
            } else {
                for _ in 0..<count { s.randomMember(using: &rng) { out.writeBulk($0) } }
            }
            return
        }
        // CASE 2: at least the whole set.
        if count >= s.count {
            out.writeArrayHeader(s.count)
            s.forEach { out.writeBulk($0) }
            return
        }
        // CASES 3 and 4: distinct members, fewer than the set has, in random order.
        var members = s.members()
        members.shuffle(using: &rng)
        out.writeArrayHeader(count)
        for m in members.prefix(count) { out.writeBulk(m) }
    }

    // MARK: SPOP

    static func spop(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        if args.count > 3 { out.writeError(Errors.syntax); return }
        if args.count == 3 { spopWithCount(ctx, args, &out); return }
        let s: SetValue
        switch SetCommands.setForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .missing: out.writeNull(ctx.resp); return
        case .found(let found): s = found
        }
        s.popRandom(using: &ctx.shard.random) { m in
            // The effect, not the draw: replicas remove the same member.
            if ctx.replicating { ctx.propagate(.text("SREM"), .bytes(args[1]), .bytes(m)) }
            out.writeBulk(m)
        }
        ctx.notify(KeyspaceEvent.set, "spop", args[1])
        SetCommands.removedMember(ctx, from: s, args[1])
    }

    /// Redis's SPOP_MOVE_STRATEGY_MUL: past this ratio, choosing the members that stay is cheaper.
    private static let moveStrategyMultiplier = 5

    private static func spopWithCount(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        // getPositiveLongFromObjectOrReply
        guard let count = parseStrictInt(args[2]), count >= 0 else {
            out.writeError("ERR value is out of range, must be positive")
            return
        }
        let s: SetValue
        switch SetCommands.setForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .missing: out.writeSetHeader(0, ctx.resp); return
        case .found(let found): s = found
        }
        if count == 0 { out.writeSetHeader(0, ctx.resp); return }
        let size = s.count
        ctx.notify(KeyspaceEvent.set, "spop", args[1])  // whatever the case, as spopWithCountCommand
        // CASE 1: the whole set: reply it, delete the key, propagate as DEL.
        if count >= size {
            // Redis replies through sunionDiffGenericCommand here, whose lookupKeyRead counts
            // a keyspace hit (the other cases look the key up for a write: none).
            _ = ctx.shard.lookupForRead(db: ctx.db, key: args[1])
            out.writeSetHeader(size, ctx.resp)
            s.forEach { out.writeBulk($0) }
            ctx.shard.delete(db: ctx.db, key: args[1])
            if ctx.replicating { ctx.propagate(.text("DEL"), .bytes(args[1])) }
            ctx.notify(KeyspaceEvent.generic, "del", args[1])
            return
        }
        out.writeSetHeader(count, ctx.resp)
        var rng = ctx.shard.random
        defer { ctx.shard.random = rng }
        let remaining = size - count
        func popped(_ m: UnsafeRawBufferPointer) {
            out.writeBulk(m)
            if ctx.replicating { ctx.propagate(.text("SREM"), .bytes(args[1]), .bytes(m)) }
        }
        if remaining * moveStrategyMultiplier > count {
            // CASE 2: few to pop: draw and remove them one by one.
            for _ in 0..<count {
                let m = s.randomMember(using: &rng) { Array($0) }
                m.withUnsafeBytes { mb in
                    s.remove(mb)
                    popped(mb)
                }
            }
            ctx.shard.noteModified(db: ctx.db, key: args[1])
        } else {
            // CASE 3: most to pop: draw the ones that stay into a new set (which starts as
            // an intset if the first drawn is an integer, as setTypeCreate), reply the rest.
            var kept: SetValue?
            for _ in 0..<remaining {
                let m = s.randomMember(using: &rng) { Array($0) }
                m.withUnsafeBytes { mb in
                    if kept == nil { kept = SetValue.create(for: mb) }
                    kept!.add(mb)
                    s.remove(mb)
                }
            }
            s.forEach { popped($0) }
            SetCommands.store(ctx, args[1], kept!)
        }
    }

    // MARK: SSCAN

    static func sscan(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let cursor = KeyCommands.parseCursor(args[2]) else { out.writeError("ERR invalid cursor"); return }
        guard let s = SetCommands.setForRead(ctx, args[1], &out, missing: { out in
            out.writeArrayHeader(2); out.writeBulk(string: "0"); out.writeArrayHeader(0)
        }) else { return }
        guard let options = KeyCommands.parseScanOptions(args, from: 3, allowsType: false, &out) else { return }
        let count = options.count, pattern = options.pattern
        var body = ByteBuffer(capacity: 256)
        var elements = 0
        func add(_ m: UnsafeRawBufferPointer) {
            if let pattern, !Glob.matches(pattern, m) { return }
            body.writeBulk(m)
            elements += 1
        }
        var next: UInt64 = 0
        if let t = s.table {
            next = KeyCommands.scanBuckets(from: cursor, count: count) { bucket, visited in
                t.scan(cursor: bucket) { m, _ in
                    visited += 1
                    add(m)
                }
            }
        } else {
            s.forEach { add($0) }  // an intset is returned whole, cursor 0
        }
        out.writeArrayHeader(2)
        out.writeBulk(string: String(next))
        out.writeArrayHeader(elements)
        out.append(body.readable)
    }
}
