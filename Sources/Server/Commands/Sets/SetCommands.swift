import RESP
import Shards
import Values

/// Set commands (Redis 7.0's t_set.c): the rows, the lookups they share, and the single-key
/// writes (SADD, SREM, SMOVE). Reads and the set algebra are in SetReads.swift, SPOP,
/// SRANDMEMBER and SSCAN in SetSampling.swift.
enum SetCommands {
    private static func keyOnly(_ flags: [String]) -> [KeySpec] { [KeySpec(flags, index: 1)] }
    private static let manyKeys = [KeySpec(["RO", "access"], index: 1, lastKey: -1)]
    /// Redis 7.0 flags SINTERSTORE's destination RW, the others' OW.
    private static let interStoreKeys = [KeySpec(["RW", "update"], index: 1), KeySpec(["RO", "access"], index: 2, lastKey: -1)]
    private static let storeKeys = [KeySpec(["OW", "update"], index: 1), KeySpec(["RO", "access"], index: 2, lastKey: -1)]

    static let specs: [CommandSpec] = [
        CommandSpec("sadd", arity: -3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "set",
                    summary: "Adds members to a set, creating it if needed; replies with the number added.",
                    run: .keyed(sadd, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.write, .set, .fast], keySpecs: keyOnly(["RW", "insert"]),
                       arguments: [.key("key"), .string("member").multiple]),
        CommandSpec("srem", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "set",
                    summary: "Removes members from a set; the key goes when its last member does.",
                    run: .keyed(srem, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.write, .set, .fast], keySpecs: keyOnly(["RW", "delete"]),
                       arguments: [.key("key"), .string("member").multiple]),
        CommandSpec("scard", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "set",
                    summary: "Number of members in a set.", run: .keyed(SetReads.scard, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.read, .set, .fast], keySpecs: keyOnly(["RO"]), arguments: [.key("key")]),
        CommandSpec("sismember", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "set",
                    summary: "Whether a member is in a set (1 or 0).", run: .keyed(SetReads.sismember, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.read, .set, .fast], keySpecs: keyOnly(["RO"]),
                       arguments: [.key("key"), .string("member")]),
        CommandSpec("smismember", arity: -3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "set",
                    summary: "Whether each of several members is in a set (1 or 0 each).",
                    run: .keyed(SetReads.smismember, split: nil, crossShard: nil))
            .described(since: "6.2.0", acl: [.read, .set, .fast], keySpecs: keyOnly(["RO", "access"]),
                       arguments: [.key("key"), .string("member").multiple]),
        CommandSpec("smembers", arity: 2, flags: [.readonly], keys: (1, 1, 1), group: "set",
                    summary: "Every member of a set.", run: .keyed(SetReads.smembers, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.read, .set, .slow], tips: ["nondeterministic_output_order"],
                       keySpecs: keyOnly(["RO", "access"]), arguments: [.key("key")]),
        CommandSpec("smove", arity: 4, flags: [.write, .fast], keys: (1, 2, 1), group: "set",
                    summary: "Moves a member from one set to another.", run: .keyed(smove, split: nil, crossShard: SetAcrossShards.smove))
            .described(since: "1.0.0", acl: [.write, .set, .fast],
                       keySpecs: [KeySpec(["RW", "access", "delete"], index: 1), KeySpec(["RW", "insert"], index: 2)],
                       arguments: [.key("source"), .key("destination", spec: 1), .string("member")]),
        CommandSpec("sinter", arity: -2, flags: [.readonly], keys: (1, -1, 1), group: "set",
                    summary: "The members common to all the given sets.",
                    run: .keyed({ SetReads.algebra($0, $1, &$2, .inter, store: false) }, split: nil,
                                crossShard: { SetAcrossShards.algebra($0, $1, $2, &$3, &$4, .inter, store: false) }))
            .described(since: "1.0.0", acl: [.read, .set, .slow], tips: ["nondeterministic_output_order"],
                       keySpecs: manyKeys, arguments: [.key("key").multiple]),
        CommandSpec("sinterstore", arity: -3, flags: [.write, .denyOOM], keys: (1, -1, 1), group: "set",
                    summary: "Stores the intersection of sets in a key; replies with its size.",
                    run: .keyed({ SetReads.algebra($0, $1, &$2, .inter, store: true) }, split: nil,
                                crossShard: { SetAcrossShards.algebra($0, $1, $2, &$3, &$4, .inter, store: true) }))
            .described(since: "1.0.0", acl: [.write, .set, .slow], keySpecs: interStoreKeys,
                       arguments: [.key("destination"), .key("key", spec: 1).multiple]),
        CommandSpec("sintercard", arity: -3, flags: [.readonly, .movableKeys], group: "set",
                    summary: "How many members all the given sets have in common, counting up to an optional limit.",
                    run: .client(SetAcrossShards.sintercard))
            .described(since: "7.0.0", acl: [.read, .set, .slow],
                       keySpecs: [KeySpec(["RO", "access"], index: 1, keyCountAt: 0, firstKeyAt: 1)],
                       arguments: [.integer("numkeys"), .key("key").multiple,
                                   .integer("limit", token: "LIMIT").optional]),
        CommandSpec("sunion", arity: -2, flags: [.readonly], keys: (1, -1, 1), group: "set",
                    summary: "The members of any of the given sets.",
                    run: .keyed({ SetReads.algebra($0, $1, &$2, .union, store: false) }, split: nil,
                                crossShard: { SetAcrossShards.algebra($0, $1, $2, &$3, &$4, .union, store: false) }))
            .described(since: "1.0.0", acl: [.read, .set, .slow], tips: ["nondeterministic_output_order"],
                       keySpecs: manyKeys, arguments: [.key("key").multiple]),
        CommandSpec("sunionstore", arity: -3, flags: [.write, .denyOOM], keys: (1, -1, 1), group: "set",
                    summary: "Stores the union of sets in a key; replies with its size.",
                    run: .keyed({ SetReads.algebra($0, $1, &$2, .union, store: true) }, split: nil,
                                crossShard: { SetAcrossShards.algebra($0, $1, $2, &$3, &$4, .union, store: true) }))
            .described(since: "1.0.0", acl: [.write, .set, .slow], keySpecs: storeKeys,
                       arguments: [.key("destination"), .key("key", spec: 1).multiple]),
        CommandSpec("sdiff", arity: -2, flags: [.readonly], keys: (1, -1, 1), group: "set",
                    summary: "The members of the first set that are in none of the others.",
                    run: .keyed({ SetReads.algebra($0, $1, &$2, .diff, store: false) }, split: nil,
                                crossShard: { SetAcrossShards.algebra($0, $1, $2, &$3, &$4, .diff, store: false) }))
            .described(since: "1.0.0", acl: [.read, .set, .slow], tips: ["nondeterministic_output_order"],
                       keySpecs: manyKeys, arguments: [.key("key").multiple]),
        CommandSpec("sdiffstore", arity: -3, flags: [.write, .denyOOM], keys: (1, -1, 1), group: "set",
                    summary: "Stores the difference of sets in a key; replies with its size.",
                    run: .keyed({ SetReads.algebra($0, $1, &$2, .diff, store: true) }, split: nil,
                                crossShard: { SetAcrossShards.algebra($0, $1, $2, &$3, &$4, .diff, store: true) }))
            .described(since: "1.0.0", acl: [.write, .set, .slow], keySpecs: storeKeys,
                       arguments: [.key("destination"), .key("key", spec: 1).multiple]),
        CommandSpec("srandmember", arity: -2, flags: [.readonly], keys: (1, 1, 1), group: "set",
                    summary: "One or more random members of a set; a negative count may repeat them.",
                    run: .keyed(SetSampling.srandmember, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.read, .set, .slow], tips: ["nondeterministic_output"],
                       keySpecs: keyOnly(["RO", "access"]), arguments: [.key("key"), .integer("count").optional]),
        CommandSpec("spop", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: "set",
                    summary: "Removes and returns one or more random members of a set.",
                    run: .keyed(SetSampling.spop, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.write, .set, .fast], tips: ["nondeterministic_output"],
                       keySpecs: keyOnly(["RW", "access", "delete"]), arguments: [.key("key"), .integer("count").optional]),
        CommandSpec("sscan", arity: -3, flags: [.readonly], keys: (1, 1, 1), group: "set",
                    summary: "Walks the members of a set a few at a time with a cursor.",
                    run: .keyed(SetSampling.sscan, split: nil, crossShard: nil))
            .described(since: "2.8.0", acl: [.read, .set, .slow], tips: ["nondeterministic_output"],
                       keySpecs: keyOnly(["RO", "access"]),
                       arguments: [.key("key"), .integer("cursor"), .pattern("pattern", token: "MATCH").optional,
                                   .integer("count", token: "COUNT").optional]),
        CommandSpec(part: .setMembers, arity: -3, keys: (2, -1, 1), group: "set",
                    run: .keyed(SetAcrossShards.members, split: nil, crossShard: nil)),
        CommandSpec(part: .setStore, propagation: .marked, arity: 3, keys: (1, 1, 1), group: "set",
                    run: .keyed(SetAcrossShards.store, split: nil, crossShard: nil)),
        CommandSpec(part: .lookupStats, arity: 3, group: "set",
                    run: .keyed(SourceGather.lookupStatsPart, split: nil, crossShard: nil)),
        CommandSpec(part: .smoveCheck, arity: -2, keys: (1, 1, 1), group: "set",
                    run: .keyed(SetAcrossShards.smoveCheck, split: nil, crossShard: nil)),
    ]

    // MARK: Lookups

    /// The set at `key` for a read (hit/miss counted): nil and `missing` written if absent,
    /// nil and WRONGTYPE if another type.
    static func setForRead(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, _ out: inout ByteBuffer,
                           missing: (inout ByteBuffer) -> Void) -> SetValue? {
        ctx.value(SetValue.self, forReadAt: key, &out, missing: missing)
    }

    typealias Lookup = ValueLookup<SetValue>

    /// The set at `key` for a write (no hit/miss counted); WRONGTYPE written if another type.
    static func setForWrite(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, _ out: inout ByteBuffer) -> Lookup {
        ctx.value(SetValue.self, forWriteAt: key, &out)
    }

    /// Stores `s` as a new value under `key`, replacing what was there and its TTL (setKey).
    static func store(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, _ s: SetValue) {
        ctx.shard.delete(db: ctx.db, key: key)
        ctx.shard.insertNew(Entry.makeObject(key: key, hash: KeyTable.hash(key), object: s), db: ctx.db, expireAt: 0)
    }

    // MARK: SADD, SREM

    static func sadd(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let s: SetValue
        switch setForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .found(let found): s = found
        case .missing:
            s = SetValue.create(for: args[2])
            ctx.shard.insertNew(Entry.makeObject(key: args[1], hash: KeyTable.hash(args[1]), object: s), db: ctx.db, expireAt: 0)
        }
        var added = 0
        for i in 2..<args.count where s.add(args[i]) { added += 1 }
        if added > 0 {
            ctx.shard.noteModified(db: ctx.db, key: args[1])
            ctx.notify(KeyspaceEvent.set, "sadd", args[1])
        }
        out.writeInteger(added)
    }

    static func srem(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let s: SetValue
        switch setForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .missing: out.writeInteger(0); return
        case .found(let found): s = found
        }
        var deleted = 0
        for i in 2..<args.count where s.remove(args[i]) {
            deleted += 1
            if s.count == 0 { break }
        }
        if deleted > 0 {
            ctx.notify(KeyspaceEvent.set, "srem", args[1])
            removedMember(ctx, from: s, args[1])
        }
        out.writeInteger(deleted)
    }

    // MARK: SMOVE

    /// smoveCommand: a missing source answers 0 before any type check of the destination.
    static func smove(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let src: SetValue
        switch setForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .missing: out.writeInteger(0); return
        case .found(let found): src = found
        }
        var dst: SetValue?
        switch setForWrite(ctx, args[2], &out) {
        case .wrongType: return
        case .missing: dst = nil
        case .found(let found): dst = found
        }
        let member = args[3]
        if let dst, dst === src {
            out.writeInteger(src.contains(member) ? 1 : 0)
            return
        }
        guard src.remove(member) else { out.writeInteger(0); return }
        ctx.notify(KeyspaceEvent.set, "srem", args[1])
        removedMember(ctx, from: src, args[1])
        let target: SetValue
        if let dst {
            target = dst
        } else {
            target = SetValue.create(for: member)
            ctx.shard.insertNew(Entry.makeObject(key: args[2], hash: KeyTable.hash(args[2]), object: target), db: ctx.db, expireAt: 0)
        }
        if target.add(member) {
            ctx.shard.noteModified(db: ctx.db, key: args[2])
            ctx.notify(KeyspaceEvent.set, "sadd", args[2])
        }
        out.writeInteger(1)
    }

    /// After members were removed: an emptied set is deleted (with Redis's "del" event).
    static func removedMember(_ ctx: ShardContext, from s: SetValue, _ key: UnsafeRawBufferPointer) {
        if s.count == 0 {
            ctx.shard.delete(db: ctx.db, key: key)
            ctx.notify(KeyspaceEvent.generic, "del", key)
        } else {
            ctx.shard.noteModified(db: ctx.db, key: key)
        }
    }
}
