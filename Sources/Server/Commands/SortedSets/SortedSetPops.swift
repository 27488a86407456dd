import RESP
import Shards
import Values

/// ZPOPMIN, ZPOPMAX, ZRANDMEMBER and ZSCAN.
extension SortedSetCommands {
    // MARK: ZPOPMIN / ZPOPMAX

    /// zpopMinMaxCommand / genericZpopCommand. Replicas get the command as written: it
    /// removes the same members from the same set.
    static func zpop(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer, max: Bool) {
        if args.count > 3 { out.writeError(Errors.syntax); return }
        var count = -1
        if args.count == 3 {
            // getPositiveLongFromObjectOrReply: one error for both a non-number and a negative one.
            guard let n = parseStrictInt(args[2]), n >= 0 else {
                out.writeError("ERR value is out of range, must be positive")
                return
            }
            count = n
        }
        let key = args[1]
        let z: SortedSet
        switch setForWrite(ctx, key, &out) {
        case .wrongType: return
        case .missing: out.writeArrayHeader(0); return
        case .found(let found): z = found
        }
        if count == 0 { out.writeArrayHeader(0); return }
        let resp = ctx.resp
        let nested = resp == .resp3 && count != -1
        let n = min(count == -1 ? 1 : count, z.count)
        out.writeArrayHeader(nested ? n : 2 * n)
        var written = 0
        z.forEach(fromRank: max ? z.count - 1 : 0, reverse: max) { m, s in
            if nested { out.writeArrayHeader(2) }
            out.writeBulk(m)
            writeScore(s, &out, resp)
            written += 1
            return written < n
        }
        ctx.shard.noteModified(db: ctx.db, key: key)
        z.removeRanks(max ? (z.count - n)..<z.count : 0..<n)
        ctx.notify(KeyspaceEvent.zset, max ? "zpopmax" : "zpopmin", key)
        deleteIfEmpty(ctx, key, z)
    }

    // MARK: ZRANDMEMBER

    /// zrandmemberCommand: without a count one member (or null); a positive count gives
    /// distinct members, a negative one may repeat them.
    static func zrandmember(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let resp = ctx.resp
        if args.count >= 3 {
            guard let l = parseLong(args[2], &out) else { return }
            if l == Int.min {
                out.writeError("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
                return
            }
            var withScores = false
            if args.count > 4 || (args.count == 4 && !argIs(args[3], "withscores")) {
                out.writeError(Errors.syntax)
                return
            } else if args.count == 4 {
                withScores = true
                if l < -Int.max / 2 || l > Int.max / 2 { out.writeError("ERR value is out of range"); return }
            }
            guard let z = setForRead(ctx, args[1], &out, missing: { $0.writeArrayHeader(0) }) else { return }
            randomMembers(z, l, withScores: withScores, &out, resp)
            return
        }
        guard let z = setForRead(ctx, args[1], &out, missing: { $0.writeNull(resp) }) else { return }
        z.forEach(fromRank: Int.random(in: 0..<z.count)) { m, _ in out.writeBulk(m); return false }
    }

    static func randomMembers(_ z: SortedSet, _ l: Int, withScores: Bool, _ out: inout ByteBuffer, _ resp: RESPVersion) {
        if l == 0 { out.writeArrayHeader(0); return }
        let nested = withScores && resp == .resp3
        func emit(rank: Int) {
            z.forEach(fromRank: rank) { m, s in
                if nested { out.writeArrayHeader(2) }
                out.writeBulk(m)
                if withScores { writeScore(s, &out, resp) }
                return false
            }
        }
        if l < 0 || l == 1 {
            let count = l < 0 ? -l : 1
            out.writeArrayHeader(withScores && !nested ? 2 * count : count)
            for _ in 0..<count { emit(rank: Int.random(in: 0..<z.count)) }
            return
        }
        if l >= z.count {  // the whole set, highest score first as Redis 7.0 sends it
            SortedSetCommands.writeElements(z, fromRank: z.count - 1, count: z.count, reverse: true, withScores: withScores, &out, resp)
            return
        }
        // Distinct ranks (Floyd's sampling), in random order.
        var chosen = Set<Int>()
        for j in (z.count - l)..<z.count {
            let t = Int.random(in: 0...j)
            if !chosen.insert(t).inserted { chosen.insert(j) }
        }
        out.writeArrayHeader(withScores && !nested ? 2 * l : l)
        for rank in chosen.shuffled() { emit(rank: rank) }
    }

    // MARK: ZSCAN

    /// ZSCAN key cursor [MATCH pattern] [COUNT count]. A listpack comes whole with cursor 0,
    /// as in Redis. A skiplist is walked in score order and the cursor is the next score
    /// (its order-preserving bits), so members present throughout are returned even when
    /// others come and go between calls; members sharing the score a batch ends on are all
    /// returned in that batch, so a batch can be longer than COUNT.
    static func zscan(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let cursor = KeyCommands.parseCursor(args[2]) else { out.writeError("ERR invalid cursor"); return }
        guard let z = setForRead(ctx, args[1], &out, missing: { $0.append("*2\r\n$1\r\n0\r\n*0\r\n") }) else { return }
        guard let options = KeyCommands.parseScanOptions(args, from: 3, allowsType: false, &out) else { return }
        let count = options.count, pattern = options.pattern
        var body = ByteBuffer(capacity: 256)
        var items = 0
        func take(_ m: UnsafeRawBufferPointer, _ scoreText: UnsafeRawBufferPointer) {
            if let pattern, !Glob.matches(pattern, m) { return }
            body.writeBulk(m)
            body.writeBulk(scoreText)
            items += 2
        }
        var next: UInt64 = 0
        if z.isListpack {
            z.forEachStored { m, scoreText in take(m, scoreText) }
        } else {
            next = KeyCommands.scanBuckets(from: cursor, count: count) { bucket, visited in
                z.scanStep(cursor: bucket) { m, s in
                    visited += 1
                    ZScore.withText(s) { take(m, $0) }
                } ?? 0
            }
        }
        out.writeArrayHeader(2)
        out.writeBulk(string: String(next))
        out.writeArrayHeader(items)
        out.append(body.readable)
    }
}
