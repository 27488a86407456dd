import RESP
import Shards
import Values

/// ZRANGE and its older forms (zrangeGenericCommand), ZREMRANGEBYRANK/SCORE/LEX.
extension SortedSetCommands {
    enum RangeKind { case auto, rank, score, lex }

    /// A parsed ZRANGE (or ZRANGESTORE) request.
    struct RangeQuery {
        var kind: RangeKind
        var reverse: Bool
        var withScores = false
        var offset = 0
        var limit = -1
        var start = 0, end = 0
        var scoreRange: ScoreRange?
        var lexRange: LexRange?
    }

    /// zrangeGenericCommand's steps 1 and 2: options after `key min max` (the key at
    /// `keyAt`), then the range. `kind` .auto and `reverse` nil: ZRANGE and ZRANGESTORE,
    /// which take BYSCORE, BYLEX and REV; the older commands fix them (and refuse those words
    /// as syntax errors, as Redis does). A store takes no WITHSCORES.
    static func parseRange(_ args: Arguments, keyAt: Int, _ fixedKind: RangeKind, reverse fixedReverse: Bool?,
                           store: Bool, _ out: inout ByteBuffer) -> RangeQuery? {
        var kind = fixedKind
        var reverse = fixedReverse
        var q = RangeQuery(kind: .auto, reverse: false)
        var j = keyAt + 3
        while j < args.count {
            let left = args.count - j - 1
            if !store && argIs(args[j], "withscores") {
                q.withScores = true
            } else if argIs(args[j], "limit") && left >= 2 {
                guard let o = parseLong(args[j + 1], &out), let l = parseLong(args[j + 2], &out) else { return nil }
                q.offset = o; q.limit = l
                j += 2
            } else if reverse == nil && argIs(args[j], "rev") {
                reverse = true
            } else if kind == .auto && argIs(args[j], "bylex") {
                kind = .lex
            } else if kind == .auto && argIs(args[j], "byscore") {
                kind = .score
            } else {
                out.writeError(Errors.syntax)
                return nil
            }
            j += 1
        }
        q.reverse = reverse ?? false
        q.kind = kind == .auto ? .rank : kind
        if q.limit != -1 && q.kind == .rank {
            out.writeError("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
            return nil
        }
        if q.withScores && q.kind == .lex {
            out.writeError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
            return nil
        }
        // Reversed score and member ranges are given max first.
        let (minArg, maxArg) = q.reverse && q.kind != .rank ? (args[keyAt + 2], args[keyAt + 1]) : (args[keyAt + 1], args[keyAt + 2])
        switch q.kind {
        case .rank, .auto:
            guard let s = parseLong(minArg, &out), let e = parseLong(maxArg, &out) else { return nil }
            q.start = s; q.end = e
        case .score:
            guard let r = ScoreRange(min: minArg, max: maxArg) else { out.writeError(rangeNotFloat); return nil }
            q.scoreRange = r
        case .lex:
            guard let r = LexRange(min: minArg, max: maxArg) else { out.writeError(lexRangeInvalid); return nil }
            q.lexRange = r
        }
        return q
    }

    /// The elements a query selects: `count` from rank `first` on, walking backwards if
    /// `reverse` (genericZrangebyrank/score/lexCommand; an offset past the end or negative
    /// selects nothing).
    static func selection(_ z: SortedSet, _ q: RangeQuery) -> (first: Int, count: Int) {
        if q.kind == .rank {
            guard let ranks = rankRange(q.start, q.end, count: z.count) else { return (0, 0) }
            return (q.reverse ? z.count - 1 - ranks.lowerBound : ranks.lowerBound, ranks.count)
        }
        if q.offset > 0 && q.offset >= z.count { return (0, 0) }
        if q.limit >= 0 {
            if let range = q.scoreRange {
                return z.limitedSelection(in: range, offset: q.offset, limit: q.limit, reverse: q.reverse)
            }
            return z.limitedSelection(in: q.lexRange!, offset: q.offset, limit: q.limit, reverse: q.reverse)
        }
        let ranks = q.scoreRange.map { z.ranks(in: $0) } ?? z.ranks(in: q.lexRange!)
        guard q.offset >= 0, ranks.count > q.offset else { return (0, 0) }
        let available = ranks.count - q.offset
        let n = q.limit < 0 ? available : min(q.limit, available)
        return (q.reverse ? ranks.upperBound - 1 - q.offset : ranks.lowerBound + q.offset, n)
    }

    static func zrange(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer, _ fixedKind: RangeKind, reverse fixedReverse: Bool?) {
        guard let q = parseRange(args, keyAt: 1, fixedKind, reverse: fixedReverse, store: false, &out) else { return }
        guard let z = setForRead(ctx, args[1], &out, missing: { $0.writeArrayHeader(0) }) else { return }
        let (first, count) = selection(z, q)
        writeElements(z, fromRank: first, count: count, reverse: q.reverse, withScores: q.withScores, &out, ctx.resp)
    }

    // MARK: ZRANGESTORE

    /// The set ZRANGESTORE stores: the selected elements, built as ZADD would build it
    /// (zrangeResultBeginStore then zsetAdd), so its encoding is Redis's. Nil after writing
    /// WRONGTYPE or a parse error; an empty set for a missing source.
    static func rangeToStore(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) -> SortedSet? {
        guard let q = parseRange(args, keyAt: 2, .auto, reverse: nil, store: true, &out) else { return nil }
        let limits = LiveConfig.sortedSetLimits
        guard let e = ctx.shard.lookupForRead(db: ctx.db, key: args[2]) else { return SortedSet(firstMemberLength: 0, limits: limits) }
        guard e.kind == .object, let z = e.object as? SortedSet else { out.writeError(Errors.wrongType); return nil }
        let (first, count) = selection(z, q)
        var result: SortedSet?
        var n = 0
        if count > 0 {
            z.forEach(fromRank: first, reverse: q.reverse) { m, s in
                if result == nil {
                    result = SortedSet(firstMemberLength: count > limits.maxEntries ? Int.max : m.count, limits: limits)
                }
                result!.insert(m, score: s, limits: limits)
                n += 1
                return n < count
            }
        }
        return result ?? SortedSet(firstMemberLength: 0, limits: limits)
    }

    /// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count], both keys on
    /// this shard: the destination is replaced (its TTL dropped), or deleted if nothing is selected.
    static func zrangestore(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let result = rangeToStore(ctx, args, &out) else { return }
        let existed = ctx.shard.delete(db: ctx.db, key: args[1])
        if result.count > 0 {
            ctx.shard.insertNew(Entry.makeObject(key: args[1], hash: KeyTable.hash(args[1]), object: result), db: ctx.db, expireAt: 0)
            ctx.notify(KeyspaceEvent.zset, "zrangestore", args[1])
        } else if existed {
            ctx.notify(KeyspaceEvent.generic, "del", args[1])
        }
        out.writeInteger(result.count)
    }

    /// `__zrangeout dst src min max [options]` on the source's shard: hands over the result
    /// as a block keyed `dst`, `:0` if it is empty, or the error.
    static func zrangeOutPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let result = rangeToStore(ctx, args, &out) else { return }
        guard result.count > 0 else { out.writeInteger(0); return }
        KeyCommands.writeHandoff(Entry.makeObject(key: args[1], hash: KeyTable.hash(args[1]), object: result), &out)
    }

    /// ZRANGESTORE with its keys on two shards: the range is taken on the source's shard and
    /// stored at the destination (`storeBuiltAcrossShards`).
    static func zrangestoreAcrossShards(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall,
                                        _ out: inout ByteBuffer) {
        storeBuiltAcrossShards(w, c, destination: args[1], source: args[2], event: "zrangestore",
                               buildPart: Part.zrangeOut, &call, &out) { op in
            // `__zrangeout <the command's arguments>`
            [op.store(string: InternalCommand.zrangeOut.name)] + (1..<args.count).map { op.store(args[$0]) }
        }
    }

    /// A store whose result is a sorted set built on the source's shard by one part
    /// (`buildPart` with `buildArguments`; its reply a handoff block keyed by the destination,
    /// `:0` for an empty result, or an error) while the destination lives on another shard: the block is attached at the
    /// destination (replacing it), or the destination deleted if the result is empty.
    /// `event` names the keyspace event of the attach (`notifySortedSetStore`).
    static func storeBuiltAcrossShards(_ w: Worker, _ c: Client, destination: UnsafeRawBufferPointer,
                                       source: UnsafeRawBufferPointer, event: String, buildPart: UInt16,
                                       _ call: inout CommandCall, _ out: inout ByteBuffer,
                                       buildArguments: (MultiShardOperation) -> [Int]) {
        let dstShard = w.shardOf(destination)
        var name = 0, dst = 0, dbSpan = 0, mode = 0
        var stored = 0
        let op = MultiShardOperation(client: c) { op, out in
            let reply = op.reply(op.parts.count - 1)
            switch op.state {
            case 0:
                if let block = KeyCommands.handoffBytes(reply) {
                    stored = (KeyCommands.handoffEntry(block)?.object as? SortedSet)?.count ?? 0
                    op.state = 1
                    op.addPart(shard: dstShard, command: Part.attach, spanIndices: [name, dst, op.store(block), dbSpan, mode])
                    return false
                }
                guard KeyCommands.isZero(reply) else { out.append(reply); return true }  // an error
                op.state = 2
                op.addPart(shard: dstShard, command: Part.detach, spanIndices: [name, dst, dst])
                return false
            case 1:
                out.writeInteger(stored)
                return true
            default:
                if let block = KeyCommands.handoffBytes(reply) { KeyCommands.handoffEntry(block)?.free() }
                out.writeInteger(0)
                return true
            }
        }
        op.pausesClient = true  // later steps must run before the client's next commands
        name = op.store(string: event)  // the destination's parts: their keyspace event
        dst = op.store(destination)
        dbSpan = op.store(string: String(c.db))
        mode = op.store(string: "replace")
        op.addPart(shard: w.shardOf(source), command: buildPart, spanIndices: buildArguments(op))
        w.start(op, client: c, call: &call, out: &out)
    }

    enum Part {
        static let zrangeOut = CommandTable.shared.index(of: .zrangeOut)
        static let attach = CommandTable.shared.index(of: .attach)
        static let detach = CommandTable.shared.index(of: .detach)
    }

    /// Redis's start/end sanitizing for ranks (negative from the end); nil when empty.
    static func rankRange(_ start: Int, _ end: Int, count: Int) -> ClosedRange<Int>? {
        var s = start < 0 ? count + start : start
        var e = end < 0 ? count + end : end
        if s < 0 { s = 0 }
        if s > e || s >= count { return nil }
        if e >= count { e = count - 1 }
        return s...e
    }

    /// `count` elements from `fromRank` on: RESP2 a flat array (members, or member and
    /// score), RESP3 with scores an array of [member, score] pairs.
    static func writeElements(_ z: SortedSet, fromRank: Int, count: Int, reverse: Bool, withScores: Bool,
                              _ out: inout ByteBuffer, _ resp: RESPVersion) {
        let nested = withScores && resp == .resp3
        out.writeArrayHeader(withScores && !nested ? 2 * count : count)
        guard count > 0 else { return }
        var n = 0
        z.forEach(fromRank: fromRank, reverse: reverse) { m, s in
            if nested { out.writeArrayHeader(2) }
            out.writeBulk(m)
            if withScores { writeScore(s, &out, resp) }
            n += 1
            return n < count
        }
    }

    // MARK: ZREMRANGEBYRANK / BYSCORE / BYLEX

    static func zremrange(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer, _ kind: RangeKind) {
        var start = 0, end = 0
        var scoreRange: ScoreRange?
        var lexRange: LexRange?
        switch kind {
        case .score:
            guard let r = ScoreRange(min: args[2], max: args[3]) else { out.writeError(rangeNotFloat); return }
            scoreRange = r
        case .lex:
            guard let r = LexRange(min: args[2], max: args[3]) else { out.writeError(lexRangeInvalid); return }
            lexRange = r
        default:
            guard let s = parseLong(args[2], &out), let e = parseLong(args[3], &out) else { return }
            start = s; end = e
        }
        let z: SortedSet
        switch setForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .missing: out.writeInteger(0); return
        case .found(let found): z = found
        }
        let ranks: Range<Int>
        if let scoreRange {
            ranks = z.ranks(in: scoreRange)
        } else if let lexRange {
            ranks = z.ranks(in: lexRange)
        } else {
            guard let r = rankRange(start, end, count: z.count) else { out.writeInteger(0); return }
            ranks = r.lowerBound..<(r.upperBound + 1)
        }
        guard !ranks.isEmpty else { out.writeInteger(0); return }
        ctx.shard.noteModified(db: ctx.db, key: args[1])
        let removed = z.removeRanks(ranks)
        ctx.notify(KeyspaceEvent.zset, kind == .score ? "zremrangebyscore" : kind == .lex ? "zremrangebylex" : "zremrangebyrank",
                   args[1])
        deleteIfEmpty(ctx, args[1], z)
        out.writeInteger(removed)
    }
}
