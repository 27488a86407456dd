import RESP
import Shards
import Values

/// The set reads (Redis 7.0's t_set.c): SCARD, SISMEMBER, SMISMEMBER, SMEMBERS, and the set
/// algebra SINTER, SUNION, SDIFF and their STORE forms (sinterGenericCommand,
/// sunionDiffGenericCommand) when their keys are on one shard.
enum SetReads {
    static func scard(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let s = SetCommands.setForRead(ctx, args[1], &out, missing: { $0.writeInteger(0) }) else { return }
        out.writeInteger(s.count)
    }

    static func sismember(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let s = SetCommands.setForRead(ctx, args[1], &out, missing: { $0.writeInteger(0) }) else { return }
        out.writeInteger(s.contains(args[2]) ? 1 : 0)
    }

    /// A missing key reads as an empty set: one 0 per member.
    static func smismember(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var set: SetValue?
        if let e = ctx.shard.lookupForRead(db: ctx.db, key: args[1]) {
            guard e.kind == .object, let s = e.object as? SetValue else { out.writeError(Errors.wrongType); return }
            set = s
        }
        out.writeArrayHeader(args.count - 2)
        for i in 2..<args.count { out.writeInteger(set?.contains(args[i]) == true ? 1 : 0) }
    }

    /// SINTER of one key, as Redis runs it: a set reply (RESP3 `~`).
    static func smembers(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let resp = ctx.resp
        guard let s = SetCommands.setForRead(ctx, args[1], &out, missing: { $0.writeSetHeader(0, resp) }) else { return }
        out.writeSetHeader(s.count, resp)
        s.forEach { out.writeBulk($0) }
    }

    enum Operation { case inter, union, diff }

    /// The source sets (nil for a missing key), or nil after WRONGTYPE: every key is
    /// type-checked, missing ones included in the walk, as Redis does.
    static func sources(_ ctx: ShardContext, _ args: Arguments, from first: Int, write: Bool,
                        _ out: inout ByteBuffer) -> [SetValue?]? {
        var sets: [SetValue?] = []
        sets.reserveCapacity(args.count - first)
        for i in first..<args.count {
            let e = write ? ctx.shard.lookup(db: ctx.db, key: args[i]) : ctx.shard.lookupForRead(db: ctx.db, key: args[i])
            guard let e else { sets.append(nil); continue }
            guard e.kind == .object, let s = e.object as? SetValue else { out.writeError(Errors.wrongType); return nil }
            sets.append(s)
        }
        return sets
    }

    /// The result as Redis builds it: a new intset set the members are added to in Redis's
    /// order (so it converts where Redis's does), nil for an empty intersection.
    static func compute(_ op: Operation, _ sets: [SetValue?]) -> SetValue {
        let result = SetValue()
        switch op {
        case .inter:
            var present = sets.compactMap { $0 }
            guard present.count == sets.count else { return result }
            present.sort { $0.count < $1.count }
            let smallest = present[0]
            smallest.forEach { m in
                for other in present.dropFirst() where other !== smallest {
                    if !other.contains(m) { return }
                }
                result.add(m)
            }
        case .union:
            for case let s? in sets { s.forEach { result.add($0) } }
        case .diff:
            guard let first = sets[0] else { return result }
            if sets.dropFirst().contains(where: { $0 === first }) { return result }  // same key: empty
            // Redis's choice of algorithm (it decides the result's encoding on the way).
            var one = 0, two = 0
            for case let s? in sets { one += first.count; two += s.count }
            if one / 2 <= two {
                let others = sets.dropFirst().compactMap { $0 }.sorted { $0.count > $1.count }
                first.forEach { m in
                    for o in others where o.contains(m) { return }
                    result.add(m)
                }
            } else {
                first.forEach { result.add($0) }
                for case let s? in sets.dropFirst() {
                    s.forEach { result.remove($0) }
                    if result.count == 0 { break }
                }
            }
        }
        return result
    }

    /// SINTERCARD's count: members of the smallest set in every other, up to `limit` (0:
    /// no limit); 0 if a key is missing.
    static func intersectionCardinality(_ sets: [SetValue?], limit: Int) -> Int {
        var present = sets.compactMap { $0 }
        guard present.count == sets.count, !present.isEmpty else { return 0 }
        present.sort { $0.count < $1.count }
        let smallest = present[0]
        var count = 0
        smallest.forEach { m in
            if limit != 0 && count >= limit { return }
            for other in present.dropFirst() where other !== smallest {
                if !other.contains(m) { return }
            }
            count += 1
        }
        return count
    }

    static func algebra(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer, _ op: Operation, store: Bool) {
        let first = store ? 2 : 1
        guard let sets = sources(ctx, args, from: first, write: false, &out) else { return }  // Redis reads the sources with lookupKeyRead even for a STORE
        let result = compute(op, sets)
        if store {
            let dst = args[1]
            if result.count > 0 {
                SetCommands.store(ctx, dst, result)
                switch op {
                case .union: ctx.notify(KeyspaceEvent.set, "sunionstore", dst)
                case .inter: ctx.notify(KeyspaceEvent.set, "sinterstore", dst)
                case .diff: ctx.notify(KeyspaceEvent.set, "sdiffstore", dst)
                }
            } else if ctx.shard.delete(db: ctx.db, key: dst) {
                ctx.notify(KeyspaceEvent.generic, "del", dst)
            }
            out.writeInteger(result.count)
            return
        }
        out.writeSetHeader(result.count, ctx.resp)
        result.forEach { out.writeBulk($0) }
    }
}
