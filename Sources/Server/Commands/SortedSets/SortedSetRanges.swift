import RESP
import Shards
import Values

/// ZRANGE and its older forms (zrangeGenericCommand), ZREMRANGEBYRANK/SCORE/LEX.
extension SortedSetCommands {
    enum RangeKind { case auto, rank, score, lex }

    /// `kind` .auto and `reverse` nil: ZRANGE, which takes BYSCORE, BYLEX and REV; the older
    /// commands fix them (and refuse those words as syntax errors, as Redis does).
    static func zrange(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer, _ fixedKind: RangeKind, reverse fixedReverse: Bool?) {
        var kind = fixedKind
        var reverse = fixedReverse
        var withScores = false
        var offset = 0, limit = -1
        var j = 4
        while j < args.count {
            let left = args.count - j - 1
            if argIs(args[j], "withscores") {
                withScores = true
            } else if argIs(args[j], "limit") && left >= 2 {
                guard let o = parseLong(args[j + 1], &out), let l = parseLong(args[j + 2], &out) else { return }
                offset = o; limit = l
                j += 2
            } else if reverse == nil && argIs(args[j], "rev") {
                reverse = true
            } else if kind == .auto && argIs(args[j], "bylex") {
                kind = .lex
            } else if kind == .auto && argIs(args[j], "byscore") {
                kind = .score
            } else {
                out.writeError(Errors.syntax)
                return
            }
            j += 1
        }
        let rev = reverse ?? false
        if kind == .auto { kind = .rank }
        if limit != -1 && kind == .rank {
            out.writeError("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
            return
        }
        if withScores && kind == .lex {
            out.writeError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
            return
        }
        // Reversed score and member ranges are given max first.
        let (minArg, maxArg) = rev && kind != .rank ? (args[3], args[2]) : (args[2], args[3])
        var start = 0, end = 0
        var scoreRange: ScoreRange?
        var lexRange: LexRange?
        switch kind {
        case .rank, .auto:
            guard let s = parseLong(minArg, &out), let e = parseLong(maxArg, &out) else { return }
            start = s; end = e
        case .score:
            guard let r = ScoreRange(min: minArg, max: maxArg) else { out.writeError(rangeNotFloat); return }
            scoreRange = r
        case .lex:
            guard let r = LexRange(min: minArg, max: maxArg) else { out.writeError(lexRangeInvalid); return }
            lexRange = r
        }
        guard let z = setForRead(ctx, args[1], &out, missing: { $0.writeArrayHeader(0) }) else { return }
        let resp = ctx.resp
        if kind == .rank {
            guard let ranks = rankRange(start, end, count: z.count) else { out.writeArrayHeader(0); return }
            let first = rev ? z.count - 1 - ranks.lowerBound : ranks.lowerBound
            writeElements(z, fromRank: first, count: ranks.count, reverse: rev, withScores: withScores, &out, resp)
            return
        }
        // genericZrangebyscoreCommand / bylex: an offset past the end (or negative) gives nothing.
        if offset > 0 && offset >= z.count { out.writeArrayHeader(0); return }
        let ranks = scoreRange.map { z.ranks(in: $0) } ?? z.ranks(in: lexRange!)
        guard offset >= 0, ranks.count > offset else { out.writeArrayHeader(0); return }
        let available = ranks.count - offset
        let n = limit < 0 ? available : min(limit, available)
        let first = rev ? ranks.upperBound - 1 - offset : ranks.lowerBound + offset
        writeElements(z, fromRank: first, count: n, reverse: rev, withScores: withScores, &out, resp)
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
        deleteIfEmpty(ctx, args[1], z)
        out.writeInteger(removed)
    }
}
