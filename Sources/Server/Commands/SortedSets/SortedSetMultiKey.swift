import RESP
import Shards
import Values

/// The sorted-set commands whose keys are counted by an argument (numkeys): ZUNION, ZINTER,
/// ZDIFF and their STORE forms, ZINTERCARD, ZMPOP (zunionInterDiffGenericCommand and
/// zmpopGenericCommand). The client's worker finds the keys and runs the whole command as one
/// part on their shard, under locks on every key. For now the keys must live on one shard
/// (hash tags): keys on several shards are refused with CROSSSLOT.
extension SortedSetCommands {
    static let multiKeyPart = CommandTable.shared.index(of: .zsetMulti)

    /// The key arguments of a numkeys command whose count is at `countAt` (none if the count
    /// is not a usable number: the part then replies the error).
    static func countedKeys(_ args: Arguments, countAt: Int) -> [Int] {
        guard countAt < args.count, let n = parseStrictInt(args[countAt]), n > 0, n <= args.count - countAt - 1 else { return [] }
        return Array((countAt + 1)...(countAt + n))
    }

    /// A client handler running the command on its keys' shard (see the type's comment).
    static func onKeysShard(countAt: Int, destination: Bool) -> ClientHandler {
        return { w, c, args, call, out in
            var keys = countedKeys(args, countAt: countAt)
            if destination { keys.insert(1, at: 0) }
            let shard = w.shardOf(args[keys.first ?? 1])
            for k in keys where w.shardOf(args[k]) != shard {
                out.writeError("CROSSSLOT Keys in request don't hash to the same slot")
                return
            }
            for k in keys { call.locks.append((shard, IntentLocks.lockKey(args[k]))) }
            let op = MultiShardOperation(client: c) { op, out in
                out.append(op.reply(0))
                return true
            }
            var spans = [op.store(string: InternalCommand.zsetMulti.name)]
            for i in 0..<args.count { spans.append(op.store(args[i])) }
            op.addPart(shard: shard, command: multiKeyPart, spanIndices: spans)
            w.start(op, client: c, call: &call, out: &out)
        }
    }

    /// `__zsetmulti <command as sent>` on the keys' shard.
    static func multiKeyPartRun(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let a = args.dropFirst(1)
        switch lowercased(a[0]) {
        case "zunion": setOperation(ctx, a, &out, .union, store: false)
        case "zinter": setOperation(ctx, a, &out, .inter, store: false)
        case "zdiff": setOperation(ctx, a, &out, .diff, store: false)
        case "zunionstore": setOperation(ctx, a, &out, .union, store: true)
        case "zinterstore": setOperation(ctx, a, &out, .inter, store: true)
        case "zdiffstore": setOperation(ctx, a, &out, .diff, store: true)
        case "zintercard": setOperation(ctx, a, &out, .inter, store: false, cardinalityOnly: true)
        case "zmpop": zmpop(ctx, a, &out)
        default: out.writeError("ERR unknown sorted-set operation")
        }
    }

    enum SetOperation { case union, inter, diff }
    enum Aggregate { case sum, min, max }

    /// zunionInterAggregate: a sum that is NaN (inf + -inf) counts as 0.
    @inline(__always) static func aggregate(_ target: inout Double, _ value: Double, _ how: Aggregate) {
        switch how {
        case .sum:
            target += value
            if target.isNaN { target = 0 }
        case .min: target = value < target ? value : target
        case .max: target = value > target ? value : target
        }
    }

    /// zunionInterDiffGenericCommand: the keys are looked up (WRONGTYPE first), then the
    /// options read, then the result computed over the inputs ordered by size, as Redis.
    static func setOperation(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer, _ op: SetOperation,
                             store: Bool, cardinalityOnly: Bool = false) {
        let countAt = store ? 2 : 1
        guard let n = parseLong(args[countAt], &out) else { return }
        guard n >= 1 else {
            out.writeError(string: "ERR at least 1 input key is needed for '\(lowercased(args[0]))' command")
            return
        }
        guard n <= args.count - countAt - 1 else { out.writeError(Errors.syntax); return }
        var sources: [SortedSet?] = []
        for i in 0..<n {
            let key = args[countAt + 1 + i]
            guard let e = store ? ctx.shard.lookup(db: ctx.db, key: key) : ctx.shard.lookupForRead(db: ctx.db, key: key) else {
                sources.append(nil)
                continue
            }
            guard e.kind == .object, let z = e.object as? SortedSet else { out.writeError(Errors.wrongType); return }
            sources.append(z)
        }
        var weights = [Double](repeating: 1, count: n)
        var how = Aggregate.sum
        var withScores = false
        var limit = 0
        var j = countAt + 1 + n
        while j < args.count {
            let remaining = args.count - j
            if op != .diff && !cardinalityOnly && remaining >= n + 1 && argIs(args[j], "weights") {
                for i in 0..<n {
                    guard let w = ZScore.parse(args[j + 1 + i]) else { out.writeError("ERR weight value is not a float"); return }
                    weights[i] = w
                }
                j += n + 1
            } else if op != .diff && !cardinalityOnly && remaining >= 2 && argIs(args[j], "aggregate") {
                let a = args[j + 1]
                if argIs(a, "sum") { how = .sum } else if argIs(a, "min") { how = .min } else if argIs(a, "max") { how = .max }
                else { out.writeError(Errors.syntax); return }
                j += 2
            } else if !store && !cardinalityOnly && argIs(args[j], "withscores") {
                withScores = true
                j += 1
            } else if cardinalityOnly && remaining >= 2 && argIs(args[j], "limit") {
                guard let l = parseStrictInt(args[j + 1]), l >= 0 else { out.writeError("ERR LIMIT can't be negative"); return }
                limit = l
                j += 2
            } else {
                out.writeError(Errors.syntax)
                return
            }
        }
        var result: [([UInt8], Double)] = []
        var cardinality = 0
        switch op {
        case .union:
            // One source after the other, smallest first (a stable sort, as glibc's qsort).
            let order = (0..<n).sorted { (sources[$0]?.count ?? 0, $0) < (sources[$1]?.count ?? 0, $1) }
            var index: [[UInt8]: Int] = [:]
            for i in order {
                guard let z = sources[i] else { continue }
                z.forEach { m, s in
                    var score = weights[i] * s
                    if score.isNaN { score = 0 }
                    let member = Array(m)
                    if let at = index[member] {
                        aggregate(&result[at].1, score, how)
                    } else {
                        index[member] = result.count
                        result.append((member, score))
                    }
                }
            }
        case .inter:
            let order = (0..<n).sorted { (sources[$0]?.count ?? 0, $0) < (sources[$1]?.count ?? 0, $1) }
            guard let first = sources[order[0]], first.count > 0 else { break }
            first.forEach(fromRank: 0) { m, s in
                var score = weights[order[0]] * s
                if score.isNaN { score = 0 }
                for i in order.dropFirst() {
                    guard let z = sources[i] else { return true }
                    let value: Double
                    if z === first { value = s * weights[i] }
                    else if let v = z.score(m) { value = v * weights[i] }
                    else { return true }
                    aggregate(&score, value, how)
                }
                if cardinalityOnly {
                    cardinality += 1
                    return limit == 0 || cardinality < limit
                }
                result.append((Array(m), score))
                return true
            }
        case .diff:
            guard let first = sources[0] else { break }
            first.forEach { m, s in
                for z in sources.dropFirst() where z != nil && (z === first || z!.score(m) != nil) { return }
                result.append((Array(m), s))
            }
        }
        if cardinalityOnly { out.writeInteger(cardinality); return }
        let limits = LiveConfig.sortedSetLimits
        let set = SortedSet(distinct: result, limits: limits)
        if store {
            let dst = args[1]
            if set.count > 0 {
                ctx.shard.delete(db: ctx.db, key: dst)
                ctx.shard.insertNew(Entry.makeObject(key: dst, hash: KeyTable.hash(dst), object: set), db: ctx.db, expireAt: 0)
            } else {
                ctx.shard.delete(db: ctx.db, key: dst)
            }
            out.writeInteger(set.count)
            return
        }
        writeElements(set, fromRank: 0, count: set.count, reverse: false, withScores: withScores, &out, ctx.resp)
    }

    // MARK: ZMPOP

    /// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]: pops from the first key that
    /// exists; `[key, [[member, score]...]]`, or a null array. Replicas get it as written
    /// (on the same data it pops the same members).
    static func zmpop(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let n = parseStrictInt(args[1]), n >= 1 else { out.writeError("ERR numkeys should be greater than 0"); return }
        guard n < args.count - 2 else { out.writeError(Errors.syntax); return }
        let whereAt = n + 2
        let max: Bool
        if argIs(args[whereAt], "min") { max = false } else if argIs(args[whereAt], "max") { max = true }
        else { out.writeError(Errors.syntax); return }
        var count = -1
        var j = whereAt + 1
        while j < args.count {
            if count == -1 && argIs(args[j], "count") && j + 1 < args.count {
                guard let c = parseStrictInt(args[j + 1]), c >= 1 else {
                    out.writeError("ERR count should be greater than 0")
                    return
                }
                count = c
                j += 2
            } else {
                out.writeError(Errors.syntax)
                return
            }
        }
        if count == -1 { count = 1 }
        for k in 2..<(2 + n) {
            let key = args[k]
            guard let e = ctx.shard.lookup(db: ctx.db, key: key) else { continue }
            guard e.kind == .object, let z = e.object as? SortedSet else { out.writeError(Errors.wrongType); return }
            let resp = ctx.resp
            let taken = min(count, z.count)
            out.writeArrayHeader(2)
            out.writeBulk(key)
            out.writeArrayHeader(taken)
            var written = 0
            z.forEach(fromRank: max ? z.count - 1 : 0, reverse: max) { m, s in
                out.writeArrayHeader(2)
                out.writeBulk(m)
                writeScore(s, &out, resp)
                written += 1
                return written < taken
            }
            ctx.shard.noteModified(db: ctx.db, key: key)
            z.removeRanks(max ? (z.count - taken)..<z.count : 0..<taken)
            deleteIfEmpty(ctx, key, z)
            return
        }
        out.writeNullArray(ctx.resp)
    }
}
