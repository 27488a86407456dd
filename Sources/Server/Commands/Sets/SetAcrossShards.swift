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
    private static let checkPart = CommandTable.shared.index(of: .smoveCheck)

    // MARK: Parts

    /// `__smembers_of r|w key...`: one bulk string holding, per key, 0 (missing), 2 (another
    /// type), or 1 (an intset) or 3 (a table) and its members (u32 count, then u32 length and
    /// bytes each). `r` counts every lookup as a hit or miss (lookupKeyRead); the coordinator
    /// takes back those Redis would not have made, past a WRONGTYPE (`__lookup_stats`).
    static func members(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let read = argIs(args[1], "r")
        var blob = ByteBuffer(capacity: 256)
        for i in 2..<args.count {
            let found = read ? ctx.shard.lookupForRead(db: ctx.db, key: args[i]) : ctx.shard.lookup(db: ctx.db, key: args[i])
            guard let e = found else { blob.append(UInt8(0)); continue }
            guard e.kind == .object, let s = e.object as? SetValue else { blob.append(UInt8(2)); continue }
            blob.append(UInt8(s.isIntset ? 1 : 3))
            MemberRecords.appendU32(s.count, to: &blob)
            blob.reserve(s.count * 24)
            s.forEachInStorageOrder { MemberRecords.append($0, to: &blob) }
        }
        out.writeBulk(blob.readable)
    }

    /// `__smove_check key [member]` (no hit or miss counted, as lookupKeyWrite): :0 missing,
    /// :1 a set (without `member`), :2 a set with `member`; WRONGTYPE for another type.
    static func smoveCheck(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        switch SetCommands.setForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .missing: out.writeInteger(0)
        case .found(let s): out.writeInteger(args.count > 2 && s.contains(args[2]) ? 2 : 1)
        }
    }

    /// `__sstore key members`: `key` becomes a new set of these members (distinct; u32
    /// length and bytes each), or is deleted if there are none; replies with the size. An
    /// intset if Redis's adds, in this order, to an empty intset set would have kept one;
    /// else a table sized at once.
    static func store(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let members = CopiedSet(members: args[2])
        var intset = members.count <= SetLimits.entries
        if intset { members.forEach { m in if intset && SetValue.integer(m) == nil { intset = false } } }
        let s = members.makeSet(intset: intset)
        if s.count > 0 {
            SetCommands.store(ctx, args[1], s)
            if argIs(args[0], "sunionstore") { ctx.notify(KeyspaceEvent.set, "sunionstore", args[1]) }
            else if argIs(args[0], "sinterstore") { ctx.notify(KeyspaceEvent.set, "sinterstore", args[1]) }
            else if argIs(args[0], "sdiffstore") { ctx.notify(KeyspaceEvent.set, "sdiffstore", args[1]) }
        } else if ctx.shard.delete(db: ctx.db, key: args[1]) {
            ctx.notify(KeyspaceEvent.generic, "del", args[1])
        }
        out.writeInteger(s.count)
    }

    enum Source { case missing, wrongType, set(CopiedSet) }

    /// A source set copied out of its shard by `__smembers_of`: its members read where they
    /// lie in the part's reply (valid while the operation's step runs), in the source's
    /// order. The table a membership test needs is built on the first one: SINTER and
    /// SINTERCARD iterate the smallest set and never build its table, and building a
    /// 100k-member copy cost more than the intersection itself.
    final class CopiedSet: SetMembers {
        private let members: UnsafeRawBufferPointer  // per member: u32 length, the bytes
        let count: Int
        private let isIntset: Bool
        private var built: SetValue?

        init(members: UnsafeRawBufferPointer, count: Int, isIntset: Bool) {
            self.members = members
            self.count = count
            self.isIntset = isIntset
        }

        /// Members written by `MemberRecords.append`, counted.
        convenience init(members: UnsafeRawBufferPointer) {
            let whole = MemberRecords.wholeRecords(in: members, trailer: 0)
            self.init(members: UnsafeRawBufferPointer(rebasing: members[..<whole.end]), count: whole.count,
                      isIntset: false)
        }

        func forEach(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
            var p = 0
            for _ in 0..<count {
                let record = MemberRecords.member(at: p, in: members, trailer: 0)
                try body(record.member)
                p = record.next
            }
        }

        /// The members as a new set, an intset or a table sized at once (the members are
        /// distinct, so a table stores them without a lookup first).
        func makeSet(intset: Bool) -> SetValue {
            let s = intset ? SetValue() : SetValue.table(capacity: count)
            if let table = s.table {
                forEach { table.set($0, value: nil) }
            } else {
                forEach { s.add($0) }
            }
            return s
        }

        /// The copy as a set of the source's encoding, built on first use.
        var lookupSet: SetValue {
            if let built { return built }
            let s = makeSet(intset: isIntset)
            built = s
            return s
        }
    }

    /// Decodes a `__smembers_of` reply into its keys' sources.
    private static func decode(_ reply: UnsafeRawBufferPointer) -> [Source] {
        let body = SourceGather.bulkBody(reply)
        var p = body.lowerBound
        var sources: [Source] = []
        func u32() -> Int {
            defer { p += 4 }
            return MemberRecords.u32(at: p, in: reply)
        }
        while p < body.upperBound {
            let status = reply[p]
            p += 1
            guard status == 1 || status == 3 else { sources.append(status == 0 ? .missing : .wrongType); continue }
            let count = u32()
            let start = p
            for _ in 0..<count {
                let length = u32()
                p += length
            }
            sources.append(.set(CopiedSet(members: UnsafeRawBufferPointer(rebasing: reply[start..<p]), count: count,
                                          isIntset: status == 1)))
        }
        return sources
    }

    // MARK: SINTER, SUNION, SDIFF, SINTERCARD and the STORE forms

    /// Step 1 of every set-algebra operation: the source sets gathered from their shards
    /// (`__smembers_of`, a part per shard) and read back in key order.
    struct Gather {
        private let sources: SourceGather
        private let names: [[UInt8]]
        let read: Bool

        init(_ w: Worker, _ args: Arguments, keys: Range<Int>, read: Bool) {
            sources = SourceGather(w, args, keys: keys)
            names = keys.map { Array(args[$0]) }
            self.read = read
        }

        func addParts(to op: MultiShardOperation, _ args: Arguments, lock: Bool) {
            sources.addParts(to: op, command: membersPart, name: InternalCommand.setMembers.name,
                             leading: [op.store(string: read ? "r" : "w")], args: args, lock: lock)
        }

        /// The sets in key order (nil: missing), one object per distinct key: compute()
        /// tells a key given twice by identity. Nil if a key holds another type: then, for a
        /// read, the lookups Redis would not have made after it are taken back by a next
        /// step's `__lookup_stats` parts (added to `op`; true returned in `corrected`).
        func sets(_ op: MultiShardOperation, corrected: inout Bool) -> [SetReads.Source?]? {
            let decoded = (0..<sources.partCount).map { decode(op.reply($0)) }
            var byName: [[UInt8]: CopiedSet] = [:]
            var sets: [SetReads.Source?] = []
            var wrongAt: Int?
            for (k, (part, position)) in sources.location.enumerated() {
                switch decoded[part][position] {
                case .missing: sets.append(nil)
                case .wrongType: wrongAt = wrongAt ?? k; sets.append(nil)
                case .set(let s):
                    if let seen = byName[names[k]] { sets.append(seen) } else { byName[names[k]] = s; sets.append(s) }
                }
            }
            guard let wrongAt else { return sets }
            if read {
                corrected = sources.takeBackLookups(after: wrongAt, op) { part, position in
                    if case .missing = decoded[part][position] { return .miss }
                    return .hit
                }
            }
            return nil
        }
    }

    static func algebra(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer,
                        _ operation: SetReads.Operation, store: Bool) {
        let gather = Gather(w, args, keys: (store ? 2 : 1)..<args.count, read: true)  // lookupKeyRead, STORE too
        let dstShard = store ? w.shardOf(args[1]) : 0
        var dstSpan = 0, storeName = 0
        let resp = c.resp
        let op = MultiShardOperation(client: c) { op, out in
            if op.state == 1 {
                out.append(op.reply(op.parts.count - 1))
                return true
            }
            if op.state == 2 { out.writeError(Errors.wrongType); return true }
            if let error = op.firstError() { out.append(error); return true }
            var corrected = false
            guard let sets = gather.sets(op, corrected: &corrected) else {
                if corrected { op.state = 2; return false }
                out.writeError(Errors.wrongType)
                return true
            }
            if operation == .inter && !store {
                SetReads.writeIntersection(sets, resp, &out)
                return true
            }
            guard store else {
                let result = SetReads.compute(operation, sets)
                out.writeSetHeader(result.count, resp)
                result.forEach { out.writeBulk($0) }
                return true
            }
            // The result travels to the destination's shard as one argument: an
            // intersection straight from the sources (its members are distinct already).
            var members = ByteBuffer(capacity: 4096)
            if operation == .inter {
                SetReads.forEachInIntersection(sets) { MemberRecords.append($0, to: &members) }
            } else {
                SetReads.compute(operation, sets).forEach { MemberRecords.append($0, to: &members) }
            }
            op.state = 1
            op.addPart(shard: dstShard, command: storePart, spanIndices: [storeName, dstSpan, op.store(members.readable)])
            return false
        }
        op.pausesClient = store
        if store {
            // Named after the command: the part sends its keyspace event.
            storeName = op.store(string: operation == .union ? "sunionstore" : operation == .inter ? "sinterstore" : "sdiffstore")
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
        let gather = Gather(w, args, keys: 2..<(2 + numkeys), read: true)
        let op = MultiShardOperation(client: c) { op, out in
            if op.state == 2 { out.writeError(Errors.wrongType); return true }
            if let error = op.firstError() { out.append(error); return true }
            var corrected = false
            guard let sets = gather.sets(op, corrected: &corrected) else {
                if corrected { op.state = 2; return false }
                out.writeError(Errors.wrongType)
                return true
            }
            out.writeInteger(SetReads.intersectionCardinality(sets, limit: limit))
            return true
        }
        gather.addParts(to: op, args, lock: true)
        w.start(op, client: c, call: &call, out: &out)
    }

    // MARK: SMOVE

    private static let sremIndex = CommandTable.shared.index(of: "srem")!
    private static let saddIndex = CommandTable.shared.index(of: "sadd")!

    /// smoveCommand in two steps: `__smove_check` of the source (0: missing, answered 0
    /// before any type check of the destination; 2: has the member) and of the destination
    /// (its type); then SREM from the source and SADD to the destination.
    static func smove(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        let srcShard = w.shardOf(args[1]), dstShard = w.shardOf(args[2])
        var srem = 0, sadd = 0, src = 0, dst = 0, member = 0
        let op = MultiShardOperation(client: c) { op, out in
            if op.state == 1 {
                if let error = op.firstError() { out.append(error) } else { out.writeInteger(1) }
                return true
            }
            let source = op.reply(0), destination = op.reply(1)
            func isInteger(_ r: UnsafeRawBufferPointer, _ digit: Character) -> Bool {
                r.count == 4 && r[0] == UInt8(ascii: ":") && r[1] == digit.asciiValue!
            }
            if source.first == UInt8(ascii: "-") { out.append(source); return true }
            if isInteger(source, "0") { out.writeInteger(0); return true }
            if destination.first == UInt8(ascii: "-") { out.append(destination); return true }
            if !isInteger(source, "2") { out.writeInteger(0); return true }
            op.state = 1
            op.addPart(shard: srcShard, command: sremIndex, spanIndices: [srem, src, member])
            op.addPart(shard: dstShard, command: saddIndex, spanIndices: [sadd, dst, member])
            return false
        }
        op.pausesClient = true
        let check = op.store(string: InternalCommand.smoveCheck.name)
        srem = op.store(string: "srem"); sadd = op.store(string: "sadd")
        src = op.store(args[1]); dst = op.store(args[2]); member = op.store(args[3])
        op.addPart(shard: srcShard, command: checkPart, spanIndices: [check, src, member])
        op.addPart(shard: dstShard, command: checkPart, spanIndices: [check, dst])
        w.start(op, client: c, call: &call, out: &out)
    }
}
