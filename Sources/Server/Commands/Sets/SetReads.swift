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

    /// What the set algebra reads of a source: a set in the keyspace, or a copy of one
    /// gathered from another shard (SetAcrossShards.CopiedSet).
    typealias Source = any SetMembers

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
    static func compute(_ op: Operation, _ sets: [Source?]) -> SetValue {
        let result = SetValue()
        switch op {
        case .inter:
            forEachInIntersection(sets) { result.add($0) }
        case .union:
            for case let s? in sets { s.forEach { result.add($0) } }
        case .diff:
            guard let first = sets[0] else { return result }
            if sets.dropFirst().contains(where: { $0 === first }) { return result }  // same key: empty
            // Redis's choice of algorithm (it decides the result's encoding on the way).
            var one = 0, two = 0
            for case let s? in sets { one += first.count; two += s.count }
            if one / 2 <= two {
                let others = sets.dropFirst().compactMap { $0 }.sorted { $0.count > $1.count }.map(\.lookupSet)
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

    /// Calls `body` with each member of the intersection (none if a key is missing): the
    /// smallest set's members found in every other, in the smallest set's order
    /// (sinterGenericCommand).
    static func forEachInIntersection(_ sets: [Source?], _ body: (UnsafeRawBufferPointer) -> Void) {
        var present = sets.compactMap { $0 }
        guard present.count == sets.count, !present.isEmpty else { return }
        present.sort { $0.count < $1.count }
        let smallest = present[0]
        // Concrete sets to probe, taken once (no retain or existential call per member).
        let others = present.dropFirst().filter { $0 !== smallest }.map(\.lookupSet)
        if others.count == 1 {
            let other = others[0]
            smallest.forEach { m in if other.contains(m) { body(m) } }
            return
        }
        smallest.forEach { m in
            for other in others where !other.contains(m) { return }
            body(m)
        }
    }

    /// SINTER's reply, written as the members are found, as Redis replies without building
    /// the result set (a set of 50k members costs more to build than to intersect).
    static func writeIntersection(_ sets: [Source?], _ resp: RESPVersion, _ out: inout ByteBuffer) {
        var members = ByteBuffer(capacity: 4096)
        var count = 0
        forEachInIntersection(sets) { m in
            members.writeBulk(m)
            count += 1
        }
        out.writeSetHeader(count, resp)
        out.append(members.readable)
    }

    /// SINTERCARD's count: members of the smallest set in every other, up to `limit` (0:
    /// no limit); 0 if a key is missing.
    static func intersectionCardinality(_ sets: [Source?], limit: Int) -> Int {
        var count = 0
        forEachInIntersection(sets) { _ in
            if limit == 0 || count < limit { count += 1 }
        }
        return count
    }

    static func algebra(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer, _ op: Operation, store: Bool) {
        let first = store ? 2 : 1
        guard let sets = sources(ctx, args, from: first, write: false, &out) else { return }  // Redis reads the sources with lookupKeyRead even for a STORE
        if op == .inter && !store {
            writeIntersection(sets, ctx.resp, &out)
            return
        }
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

/// A set as the set algebra reads it (SetReads.Source): its size, its members in its own
/// order, and membership.
protocol SetMembers: AnyObject {
    var count: Int { get }
    func forEach(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows
    /// The set to test membership in (a copy builds it on first use).
    var lookupSet: SetValue { get }
}

extension SetValue: SetMembers {
    var lookupSet: SetValue { self }
}
