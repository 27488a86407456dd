import RESP
import Shards
import Values

/// The sorted-set commands whose keys are counted by an argument (numkeys): ZUNION, ZINTER,
/// ZDIFF and their STORE forms, ZINTERCARD, ZMPOP (zunionInterDiffGenericCommand and
/// zmpopGenericCommand). The client's worker finds the keys; if they live on one shard it runs
/// the whole command as one part there, under locks on every key; if not, the set operations
/// fetch copies of their sources from each shard and compute on the worker (under the same
/// locks, so the command is atomic); ZMPOP probes its keys on their shards, then pops on the
/// shard of the first that exists.
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
            // ZMPOP propagates what it popped (as ZPOPMIN/ZPOPMAX key count, from its part),
            // as Redis 7.0's genericZpopCommand rewrites it; the others as sent.
            if argIs(args[0], "zmpop") { call.propagateAs = nil }
            var keys = countedKeys(args, countAt: countAt)
            if destination { keys.insert(1, at: 0) }
            let shard = w.shardOf(args[keys.first ?? 1])
            if keys.contains(where: { w.shardOf(args[$0]) != shard }) {
                for k in keys { call.locks.append((w.shardOf(args[k]), IntentLocks.lockKey(args[k]))) }
                switch lowercased(args[0]) {
                case "zunion": setOperationAcrossShards(w, c, args, &call, &out, .union, store: false, cardinalityOnly: false)
                case "zinter": setOperationAcrossShards(w, c, args, &call, &out, .inter, store: false, cardinalityOnly: false)
                case "zdiff": setOperationAcrossShards(w, c, args, &call, &out, .diff, store: false, cardinalityOnly: false)
                case "zunionstore": setOperationAcrossShards(w, c, args, &call, &out, .union, store: true, cardinalityOnly: false)
                case "zinterstore": setOperationAcrossShards(w, c, args, &call, &out, .inter, store: true, cardinalityOnly: false)
                case "zdiffstore": setOperationAcrossShards(w, c, args, &call, &out, .diff, store: true, cardinalityOnly: false)
                case "zintercard": setOperationAcrossShards(w, c, args, &call, &out, .inter, store: false, cardinalityOnly: true)
                default: zmpopAcrossShards(w, c, args, &call, &out)
                }
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

    /// What follows a set operation's keys: WEIGHTS, AGGREGATE, WITHSCORES, LIMIT.
    struct SetOptions {
        var weights: [Double]
        var how = Aggregate.sum
        var withScores = false
        var limit = 0
    }

    /// The options after the `n` keys (Redis reads them after looking the keys up: a
    /// WRONGTYPE wins over their errors). Returns the options or the error text.
    static func parseSetOptions(_ args: Arguments, from first: Int, keys n: Int, _ op: SetOperation, store: Bool,
                                cardinalityOnly: Bool) -> Result<SetOptions, SetOptionError> {
        var o = SetOptions(weights: [Double](repeating: 1, count: n))
        var j = first
        while j < args.count {
            let remaining = args.count - j
            if op != .diff && !cardinalityOnly && remaining >= n + 1 && argIs(args[j], "weights") {
                for i in 0..<n {
                    guard let w = ZScore.parse(args[j + 1 + i]) else { return .failure(.init("ERR weight value is not a float")) }
                    o.weights[i] = w
                }
                j += n + 1
            } else if op != .diff && !cardinalityOnly && remaining >= 2 && argIs(args[j], "aggregate") {
                let a = args[j + 1]
                if argIs(a, "sum") { o.how = .sum } else if argIs(a, "min") { o.how = .min } else if argIs(a, "max") { o.how = .max }
                else { return .failure(.init("ERR syntax error")) }
                j += 2
            } else if !store && !cardinalityOnly && argIs(args[j], "withscores") {
                o.withScores = true
                j += 1
            } else if cardinalityOnly && remaining >= 2 && argIs(args[j], "limit") {
                guard let l = parseStrictInt(args[j + 1]), l >= 0 else { return .failure(.init("ERR LIMIT can't be negative")) }
                o.limit = l
                j += 2
            } else {
                return .failure(.init("ERR syntax error"))
            }
        }
        return .success(o)
    }

    struct SetOptionError: Error {
        let text: String
        init(_ text: String) { self.text = text }
    }

    /// A set operation's result while it is computed: member -> score in a ByteStringTable
    /// (the score as the record's 8-byte value, aggregated in place), so a member costs
    /// one seeded hash and no allocation; Swift's Dictionary of [UInt8] keys cost a
    /// SipHash and an array per member, 40% of a ZUNIONSTORE of two 10k sets. Records stay
    /// in the order their members were first met.
    struct ScoredMembers {
        let table: ByteStringTable

        init(capacity: Int) { table = ByteStringTable(minimumCapacity: capacity) }

        var count: Int { table.count }

        /// Adds a member not there yet.
        func addNew(_ member: UnsafeRawBufferPointer, _ score: Double) {
            withUnsafeBytes(of: score) { table.set(member, value: $0) }
        }

        /// Adds `member`, or aggregates `score` into the one it has.
        func add(_ member: UnsafeRawBufferPointer, _ score: Double, _ how: Aggregate) {
            if let h = table.find(member) {
                var total = table.value(h)!.loadUnaligned(as: Double.self)
                aggregate(&total, score, how)
                withUnsafeBytes(of: total) { table.set(member, value: $0) }  // same size: rewritten in place
            } else {
                addNew(member, score)
            }
        }

        func forEach(_ body: (UnsafeRawBufferPointer, Double) -> Void) {
            table.forEachInArenaOrder { m, v in body(m, v!.loadUnaligned(as: Double.self)) }
        }

        func score(of member: UnsafeRawBufferPointer) -> Double? {
            table.find(member).map { table.value($0)!.loadUnaligned(as: Double.self) }
        }

        /// The result as a sorted set, in the encoding Redis would give it.
        func sortedSet() -> SortedSet {
            SortedSet(distinctFrom: { add in forEach(add) }, limits: LiveConfig.sortedSetLimits)
        }
    }

    /// The result of a set operation over `sources` (nil: a missing key): its members with
    /// their scores, or just how many for ZINTERCARD. The inputs are taken smallest first
    /// (a stable sort, as glibc's qsort) for union and intersection, as Redis does, so sums
    /// add up in the same order.
    static func compute(_ op: SetOperation, _ sources: [(any ScoredSource)?], _ o: SetOptions,
                        cardinalityOnly: Bool) -> (elements: ScoredMembers, cardinality: Int) {
        let n = sources.count
        var cardinality = 0
        let order = (0..<n).sorted { (sources[$0]?.count ?? 0, $0) < (sources[$1]?.count ?? 0, $1) }
        switch op {
        case .union:
            let result = ScoredMembers(capacity: sources.reduce(0) { $0 + ($1?.count ?? 0) })
            for i in order {
                guard let z = sources[i] else { continue }
                z.forEach { m, s in
                    var score = o.weights[i] * s
                    if score.isNaN { score = 0 }
                    result.add(m, score, o.how)
                }
            }
            return (result, 0)
        case .inter:
            let result = ScoredMembers(capacity: 0)
            guard let first = sources[order[0]], first.count > 0 else { break }
            first.forEachWhile { m, s in
                var score = o.weights[order[0]] * s
                if score.isNaN { score = 0 }
                for i in order.dropFirst() {
                    guard let z = sources[i] else { return true }
                    let value: Double
                    if z === first { value = s * o.weights[i] }
                    else if let v = z.scoreOf(m) { value = v * o.weights[i] }
                    else { return true }
                    aggregate(&score, value, o.how)
                }
                if cardinalityOnly {
                    cardinality += 1
                    return o.limit == 0 || cardinality < o.limit
                }
                result.addNew(m, score)
                return true
            }
            return (result, cardinality)
        case .diff:
            let result = ScoredMembers(capacity: 0)
            guard let first = sources[0] else { break }
            first.forEach { m, s in
                for z in sources.dropFirst() where z != nil && (z === first || z!.scoreOf(m) != nil) { return }
                result.addNew(m, s)
            }
            return (result, 0)
        }
        return (ScoredMembers(capacity: 0), cardinality)
    }

    /// zunionInterDiffGenericCommand on one shard: numkeys checked, the keys looked up
    /// (WRONGTYPE first), then the options, then the result stored or sent.
    static func setOperation(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer, _ op: SetOperation,
                             store: Bool, cardinalityOnly: Bool = false) {
        let countAt = store ? 2 : 1
        guard let n = checkedKeyCount(args, countAt: countAt, &out) else { return }
        var sources: [(any ScoredSource)?] = []
        for i in 0..<n {
            let key = args[countAt + 1 + i]
            guard let e = ctx.shard.lookupForRead(db: ctx.db, key: key) else {  // a read even for a store, as Redis 7.0
                sources.append(nil)
                continue
            }
            guard e.kind == .object, let z = source(e.object) else { out.writeError(Errors.wrongType); return }
            sources.append(z)
        }
        let o: SetOptions
        switch parseSetOptions(args, from: countAt + 1 + n, keys: n, op, store: store, cardinalityOnly: cardinalityOnly) {
        case .failure(let e): out.writeError(string: e.text); return
        case .success(let parsed): o = parsed
        }
        let (elements, cardinality) = compute(op, sources, o, cardinalityOnly: cardinalityOnly)
        if cardinalityOnly { out.writeInteger(cardinality); return }
        let set = elements.sortedSet()
        if store {
            let dst = args[1]
            let existed = ctx.shard.delete(db: ctx.db, key: dst)
            if set.count > 0 {
                ctx.shard.insertNew(Entry.makeObject(key: dst, hash: KeyTable.hash(dst), object: set), db: ctx.db, expireAt: 0)
                ctx.notify(KeyspaceEvent.zset, op == .union ? "zunionstore" : op == .inter ? "zinterstore" : "zdiffstore", dst)
            } else if existed {
                ctx.notify(KeyspaceEvent.generic, "del", dst)
            }
            out.writeInteger(set.count)
            return
        }
        writeElements(set, fromRank: 0, count: set.count, reverse: false, withScores: o.withScores, &out, ctx.resp)
    }

    /// A source of ZUNION/ZINTER/ZDIFF (and their STORE and CARD forms): a sorted set, or a
    /// plain set whose members all score 1, as Redis's zuiInitIterator reads one.
    static func source(_ object: AnyObject?) -> SortedSet? {
        if let z = object as? SortedSet { return z }
        guard let set = object as? SetValue else { return nil }
        return SortedSet(distinct: set.members().map { ($0, 1.0) }, limits: LiveConfig.sortedSetLimits)
    }

    /// numkeys as zunionInterDiffGenericCommand checks it, before any key is looked up.
    static func checkedKeyCount(_ args: Arguments, countAt: Int, _ out: inout ByteBuffer) -> Int? {
        guard let n = parseLong(args[countAt], &out) else { return nil }
        guard n >= 1 else {
            out.writeError(string: "ERR at least 1 input key is needed for '\(lowercased(args[0]))' command")
            return nil
        }
        guard n <= args.count - countAt - 1 else { out.writeError(Errors.syntax); return nil }
        return n
    }

    // MARK: Across shards

    static let fetchPart = CommandTable.shared.index(of: .zfetch)

    /// `__zfetch key write|read|probe` on the key's shard: the sorted set's elements in
    /// order as one bulk (CopiedSortedSet's layout; `:1` for a probe), `:0` if missing,
    /// WRONGTYPE if another type. `read` counts a keyspace hit or miss; `write` and `probe`
    /// do not.
    static func fetchPartRun(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let found = argIs(args[2], "write") || argIs(args[2], "probe") ? ctx.shard.lookup(db: ctx.db, key: args[1])
            : ctx.shard.lookupForRead(db: ctx.db, key: args[1])
        guard let e = found else { out.writeInteger(0); return }
        guard e.kind == .object, let z = source(e.object) else { out.writeError(Errors.wrongType); return }
        if argIs(args[2], "probe") { out.writeInteger(1); return }
        var elements = ByteBuffer(capacity: 64 + z.count * 32)
        z.forEach { m, s in CopiedSortedSet.append(m, s, to: &elements) }
        out.writeBulk(elements.readable)
    }

    /// A sorted set copied out of its shard by `__zfetch`: per element, u32 member length,
    /// the member, the score's 8 bytes, in the set's order; read where it lies in the
    /// part's reply. A lookup table (member -> score) is built only if the operation asks
    /// for a score: building a whole sorted set per source cost ZINTERSTORE 3x redis-server's
    /// CPU across shards.
    final class CopiedSortedSet: ScoredSource {
        private let elements: UnsafeRawBufferPointer
        let count: Int
        private var scores: ScoredMembers?

        init(_ elements: UnsafeRawBufferPointer) {
            let whole = MemberRecords.wholeRecords(in: elements, trailer: 8)
            count = whole.count
            self.elements = UnsafeRawBufferPointer(rebasing: elements[..<whole.end])
        }

        static func append(_ member: UnsafeRawBufferPointer, _ score: Double, to out: inout ByteBuffer) {
            MemberRecords.append(member, to: &out)
            withUnsafeBytes(of: score.bitPattern.littleEndian) { out.append($0) }
        }

        func forEachWhile(_ body: (UnsafeRawBufferPointer, Double) -> Bool) {
            var p = 0
            while p < elements.count {
                let record = MemberRecords.member(at: p, in: elements, trailer: 8)
                let score = Double(bitPattern: UInt64(littleEndian: elements.loadUnaligned(fromByteOffset: record.next - 8,
                                                                                            as: UInt64.self)))
                guard body(record.member, score) else { return }
                p = record.next
            }
        }

        func scoreOf(_ member: UnsafeRawBufferPointer) -> Double? {
            let table: ScoredMembers
            if let scores { table = scores } else {
                table = ScoredMembers(capacity: count)
                forEachWhile { m, s in table.addNew(m, s); return true }
                scores = table
            }
            return table.score(of: member)
        }
    }

    /// A set operation whose keys live on several shards, under the locks of all the keys:
    /// every source is probed (type only, nothing counted), then fetched (a copy of its
    /// encoding, a keyspace hit or miss) up to the first of another type, as Redis looks
    /// them up in order; the result is computed on the client's worker, then attached at
    /// the destination's shard (or the destination deleted if the result is empty) or sent.
    static func setOperationAcrossShards(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall,
                                         _ out: inout ByteBuffer, _ setOp: SetOperation, store: Bool, cardinalityOnly: Bool) {
        let countAt = store ? 2 : 1
        guard let n = checkedKeyCount(args, countAt: countAt, &out) else { return }
        let options = parseSetOptions(args, from: countAt + 1 + n, keys: n, setOp, store: store, cardinalityOnly: cardinalityOnly)
        let resp = c.resp
        let dstShard = store ? w.shardOf(args[1]) : 0
        let dstKey = store ? Array(args[1]) : []
        var name = 0, dst = 0, dbSpan = 0, mode = 0, fetchName = 0, read = 0
        var keySpans: [Int] = []
        let keyShards = (0..<n).map { w.shardOf(args[countAt + 1 + $0]) }
        var stored = 0
        let op = MultiShardOperation(client: c) { op, out in
            switch op.state {
            case -1:
                // The probes told where the first key of another type is: the keys up to it
                // are looked up again, counted as Redis counts them (it stops there).
                var last = n - 1
                for i in 0..<n where op.reply(i).first == UInt8(ascii: "-") { last = i; break }
                op.state = 0
                for i in 0...last {
                    op.addPart(shard: keyShards[i], command: fetchPart, spanIndices: [fetchName, keySpans[i], read])
                }
                return false
            case 0:
                if let error = op.firstError() { out.append(error); return true }
                let o: SetOptions
                switch options {
                case .failure(let e): out.writeError(string: e.text); return true
                case .success(let parsed): o = parsed
                }
                var sources: [(any ScoredSource)?] = []
                for i in 0..<n {
                    guard let body = bulkBody(op.reply(n + i)) else { sources.append(nil); continue }
                    sources.append(CopiedSortedSet(body))
                }
                let (elements, cardinality) = compute(setOp, sources, o, cardinalityOnly: cardinalityOnly)
                if cardinalityOnly { out.writeInteger(cardinality); return true }
                let set = elements.sortedSet()
                guard store else {
                    writeElements(set, fromRank: 0, count: set.count, reverse: false, withScores: o.withScores, &out, resp)
                    return true
                }
                stored = set.count
                if set.count > 0 {
                    var handoff = ByteBuffer(capacity: 16)
                    dstKey.withUnsafeBytes { key in
                        KeyCommands.writeHandoff(Entry.makeObject(key: key, hash: KeyTable.hash(key), object: set), &handoff)
                    }
                    guard let raw = KeyCommands.handoffBytes(handoff.readable) else { out.writeError("ERR handoff"); return true }
                    op.state = 1
                    op.addPart(shard: dstShard, command: Part.attach, spanIndices: [name, dst, op.store(raw), dbSpan, mode])
                } else {
                    op.state = 2
                    op.addPart(shard: dstShard, command: Part.detach, spanIndices: [name, dst, dst])
                }
                return false
            case 1:
                out.writeInteger(stored)
                return true
            default:
                if let block = KeyCommands.handoffBytes(op.reply(op.parts.count - 1)) { KeyCommands.handoffEntry(block)?.free() }
                out.writeInteger(0)
                return true
            }
        }
        op.pausesClient = true  // later steps must run before the client's next commands
        name = op.store(string: InternalCommand.zfetch.name)
        fetchName = name
        read = op.store(string: "read")
        let probe = op.store(string: "probe")
        if store {
            dst = op.store(args[1])
            dbSpan = op.store(string: String(c.db))
            mode = op.store(string: "replace")
            // The destination's parts are named after the command: it says their keyspace event.
            name = op.store(string: setOp == .union ? "zunionstore" : setOp == .inter ? "zinterstore" : "zdiffstore")
        }
        op.state = -1
        for i in 0..<n {
            keySpans.append(op.store(args[countAt + 1 + i]))
            op.addPart(shard: keyShards[i], command: fetchPart, spanIndices: [fetchName, keySpans[i], probe])
        }
        w.start(op, client: c, call: &call, out: &out)
    }

    /// ZMPOP over keys of several shards, under the locks of every key: each key is probed
    /// (missing, a sorted set, or another type), then the first that exists is popped on its
    /// shard (as ZMPOP over that one key: the reply names it), or WRONGTYPE if it is no
    /// sorted set, or a null array if none exists. The arguments are checked first, as Redis
    /// checks them before looking at any key.
    static func zmpopAcrossShards(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall,
                                  _ out: inout ByteBuffer) {
        // numkeys is valid (the keys were found from it): the side and COUNT are checked.
        guard let parsed = parseZmpop(args, countAt: 1, &out) else { return }
        let n = parsed.keys.count, count = parsed.count
        let keys = parsed.keys.map { Array(args[$0]) }
        let shards = keys.map { k in k.withUnsafeBytes { w.shardOf($0) } }
        let side = Array(args[parsed.keys.upperBound])
        let resp = c.resp
        var name = 0
        let op = MultiShardOperation(client: c) { op, out in
            guard op.state == 0 else {
                out.append(op.reply(op.parts.count - 1))
                return true
            }
            for i in 0..<n {
                let r = op.reply(i)
                if KeyCommands.isZero(r) { continue }
                if r.first == UInt8(ascii: "-") { out.append(r); return true }
                op.state = 1
                var spans = [name, op.store(string: "zmpop"), op.store(string: "1")]
                keys[i].withUnsafeBytes { spans.append(op.store($0)) }
                side.withUnsafeBytes { spans.append(op.store($0)) }
                spans.append(op.store(string: "COUNT"))
                spans.append(op.store(string: String(count)))
                op.addPart(shard: shards[i], command: multiKeyPart, spanIndices: spans)
                return false
            }
            out.writeNullArray(resp)
            return true
        }
        op.pausesClient = true  // the pop must run before the client's next commands
        name = op.store(string: InternalCommand.zsetMulti.name)
        let fetch = op.store(string: InternalCommand.zfetch.name)
        let probe = op.store(string: "probe")
        for i in 0..<n {
            keys[i].withUnsafeBytes { k in
                op.addPart(shard: shards[i], command: fetchPart, spanIndices: [fetch, op.store(k), probe])
            }
        }
        w.start(op, client: c, call: &call, out: &out)
    }

    /// The body of a bulk-string reply, or nil for any other reply.
    static func bulkBody(_ r: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard r.count >= 4, r[0] == UInt8(ascii: "$"), let cr = r.firstIndex(of: 13),
              let n = parseStrictInt(UnsafeRawBufferPointer(rebasing: r[1..<cr])), n >= 0,
              cr + 2 + n + 2 == r.count else { return nil }
        return UnsafeRawBufferPointer(rebasing: r[(cr + 2)..<(cr + 2 + n)])
    }

    // MARK: ZMPOP

    /// zmpopGenericCommand's parsing (numkeys at `countAt`: 1 for ZMPOP, 2 for BZMPOP): the
    /// side is true for MAX.
    static func parseZmpop(_ args: Arguments, countAt: Int, _ out: inout ByteBuffer) -> MpopArguments? {
        MpopArguments.parse(args, countAt: countAt, &out) { word, out in
            if argIs(word, "min") { return false }
            if argIs(word, "max") { return true }
            out.writeError(Errors.syntax)
            return nil
        }
    }

    /// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]: pops from the first key that
    /// exists; `[key, [[member, score]...]]`, or a null array. Replicas get ZPOPMIN or
    /// ZPOPMAX of that key with the count popped (Redis 7.0's rewrite in genericZpopCommand).
    static func zmpop(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let parsed = parseZmpop(args, countAt: 1, &out) else { return }
        let (max, count) = (parsed.side, parsed.count)
        for k in parsed.keys {
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
            ctx.propagate(.text(max ? "ZPOPMAX" : "ZPOPMIN"), .bytes(key), .text(String(taken)))
            ctx.notify(KeyspaceEvent.zset, max ? "zpopmax" : "zpopmin", key)
            deleteIfEmpty(ctx, key, z)
            return
        }
        out.writeNullArray(ctx.resp)
    }
}

/// A source of the sorted-set operations (SortedSetCommands.compute): a sorted set in the
/// keyspace, or a copy of one fetched from another shard (CopiedSortedSet).
protocol ScoredSource: AnyObject {
    var count: Int { get }
    /// The elements in ascending order while `body` returns true.
    func forEachWhile(_ body: (UnsafeRawBufferPointer, Double) -> Bool)
    func scoreOf(_ member: UnsafeRawBufferPointer) -> Double?
}

extension ScoredSource {
    func forEach(_ body: (UnsafeRawBufferPointer, Double) -> Void) { forEachWhile { body($0, $1); return true } }
}

extension SortedSet: ScoredSource {
    func forEachWhile(_ body: (UnsafeRawBufferPointer, Double) -> Bool) { forEach(fromRank: 0, body) }
    func scoreOf(_ member: UnsafeRawBufferPointer) -> Double? { score(member) }
}
