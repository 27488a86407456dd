import RESP
import Shards
import Values

/// Sorted-set commands (Redis 7.0's t_zset.c) on keys of one shard: ZADD, ZINCRBY, ZREM,
/// ZCARD, ZSCORE, ZMSCORE, ZCOUNT, ZLEXCOUNT, ZRANK, ZREVRANK here; the ranges in
/// SortedSetRanges.swift; pops, random members and ZSCAN in SortedSetPops.swift.
/// The rows' COMMAND INFO/DOCS fields are redis-server 7.0's.
enum SortedSetCommands {
    /// ZUNION/ZINTER(STORE)'s WEIGHTS and AGGREGATE arguments (COMMAND DOCS).
    private static let weightsAndAggregate: [CommandArgument] = [
        .integer("weight", token: "WEIGHTS").optional.multiple,
        .oneOf("aggregate", token: "AGGREGATE", [.token("SUM"), .token("MIN"), .token("MAX")]).optional,
    ]

    static let specs: [CommandSpec] = [
        CommandSpec("zadd", arity: -4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Adds members with scores to a sorted set, or updates their scores.",
                    run: .keyed({ zadd($0, $1, &$2, incrby: false) }, split: nil, crossShard: nil))
            .described(since: "1.2.0", acl: [.write, .sortedset, .fast],
                       keySpecs: [KeySpec(["RW", "update"], index: 1)],
                       arguments: [
                           .key("key"),
                           .oneOf("condition", [
                               .token("NX"),
                               .token("XX"),
                           ]).optional,
                           .oneOf("comparison", [
                               .token("GT"),
                               .token("LT"),
                           ]).optional,
                           .token("CH", name: "change").optional,
                           .token("INCR", name: "increment").optional,
                           .block("score_member", [
                               .double("score"),
                               .string("member"),
                           ]).multiple,
                       ]),
        CommandSpec("zincrby", arity: 4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Adds to the score of a sorted set's member.",
                    run: .keyed({ zadd($0, $1, &$2, incrby: true) }, split: nil, crossShard: nil))
            .described(since: "1.2.0", acl: [.write, .sortedset, .fast],
                       keySpecs: [KeySpec(["RW", "access", "update"], index: 1)],
                       arguments: [
                           .key("key"),
                           .integer("increment"),
                           .string("member"),
                       ]),
        CommandSpec("zrem", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Removes members from a sorted set.",
                    run: .keyed(zrem, split: nil, crossShard: nil))
            .described(since: "1.2.0", acl: [.write, .sortedset, .fast],
                       keySpecs: [KeySpec(["RW", "delete"], index: 1)],
                       arguments: [
                           .key("key"),
                           .string("member").multiple,
                       ]),
        CommandSpec("zcard", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Number of members in a sorted set.",
                    run: .keyed(zcard, split: nil, crossShard: nil))
            .described(since: "1.2.0", acl: [.read, .sortedset, .fast],
                       keySpecs: [KeySpec(["RO"], index: 1)],
                       arguments: [
                           .key("key"),
                       ]),
        CommandSpec("zscore", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Score of a sorted set's member.",
                    run: .keyed(zscore, split: nil, crossShard: nil))
            .described(since: "1.2.0", acl: [.read, .sortedset, .fast],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [
                           .key("key"),
                           .string("member"),
                       ]),
        CommandSpec("zmscore", arity: -3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Scores of several members of a sorted set.",
                    run: .keyed(zmscore, split: nil, crossShard: nil))
            .described(since: "6.2.0", acl: [.read, .sortedset, .fast],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [
                           .key("key"),
                           .string("member").multiple,
                       ]),
        CommandSpec("zcount", arity: 4, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Number of members of a sorted set with scores in a range.",
                    run: .keyed(zcount, split: nil, crossShard: nil))
            .described(since: "2.0.0", acl: [.read, .sortedset, .fast],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [
                           .key("key"),
                           .double("min"),
                           .double("max"),
                       ]),
        CommandSpec("zlexcount", arity: 4, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Number of members of a sorted set between two members (equal scores).",
                    run: .keyed(zlexcount, split: nil, crossShard: nil))
            .described(since: "2.8.9", acl: [.read, .sortedset, .fast],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [
                           .key("key"),
                           .string("min"),
                           .string("max"),
                       ]),
        CommandSpec("zrank", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Position of a member in a sorted set, lowest score first.",
                    run: .keyed({ zrank($0, $1, &$2, reverse: false) }, split: nil, crossShard: nil))
            .described(since: "2.0.0", acl: [.read, .sortedset, .fast],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [
                           .key("key"),
                           .string("member"),
                       ]),
        CommandSpec("zrevrank", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Position of a member in a sorted set, highest score first.",
                    run: .keyed({ zrank($0, $1, &$2, reverse: true) }, split: nil, crossShard: nil))
            .described(since: "2.0.0", acl: [.read, .sortedset, .fast],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [
                           .key("key"),
                           .string("member"),
                       ]),
        CommandSpec("zrange", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Members of a sorted set by position, score or member range.",
                    run: .keyed({ zrange($0, $1, &$2, .auto, reverse: nil) }, split: nil, crossShard: nil))
            .described(since: "1.2.0", acl: [.read, .sortedset, .slow],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [
                           .key("key"),
                           .string("start"),
                           .string("stop"),
                           .oneOf("sortby", [
                               .token("BYSCORE"),
                               .token("BYLEX"),
                           ]).optional,
                           .token("REV").optional,
                           .block("offset_count", token: "LIMIT", [
                               .integer("offset"),
                               .integer("count"),
                           ]).optional,
                           .token("WITHSCORES").optional,
                       ]),
        CommandSpec("zrevrange", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Members of a sorted set by position, highest score first.",
                    run: .keyed({ zrange($0, $1, &$2, .rank, reverse: true) }, split: nil, crossShard: nil))
            .described(since: "1.2.0", acl: [.read, .sortedset, .slow],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [
                           .key("key"),
                           .integer("start"),
                           .integer("stop"),
                           .token("WITHSCORES").optional,
                       ]),
        CommandSpec("zrangebyscore", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Members of a sorted set with scores in a range.",
                    run: .keyed({ zrange($0, $1, &$2, .score, reverse: false) }, split: nil, crossShard: nil))
            .described(since: "1.0.5", acl: [.read, .sortedset, .slow],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [
                           .key("key"),
                           .double("min"),
                           .double("max"),
                           .token("WITHSCORES").optional,
                           .block("offset_count", token: "LIMIT", [
                               .integer("offset"),
                               .integer("count"),
                           ]).optional,
                       ]),
        CommandSpec("zrevrangebyscore", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Members of a sorted set with scores in a range, highest first.",
                    run: .keyed({ zrange($0, $1, &$2, .score, reverse: true) }, split: nil, crossShard: nil))
            .described(since: "2.2.0", acl: [.read, .sortedset, .slow],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [
                           .key("key"),
                           .double("max"),
                           .double("min"),
                           .token("WITHSCORES").optional,
                           .block("offset_count", token: "LIMIT", [
                               .integer("offset"),
                               .integer("count"),
                           ]).optional,
                       ]),
        CommandSpec("zrangebylex", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Members of a sorted set between two members (equal scores).",
                    run: .keyed({ zrange($0, $1, &$2, .lex, reverse: false) }, split: nil, crossShard: nil))
            .described(since: "2.8.9", acl: [.read, .sortedset, .slow],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [
                           .key("key"),
                           .string("min"),
                           .string("max"),
                           .block("offset_count", token: "LIMIT", [
                               .integer("offset"),
                               .integer("count"),
                           ]).optional,
                       ]),
        CommandSpec("zrevrangebylex", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Members of a sorted set between two members, last first (equal scores).",
                    run: .keyed({ zrange($0, $1, &$2, .lex, reverse: true) }, split: nil, crossShard: nil))
            .described(since: "2.8.9", acl: [.read, .sortedset, .slow],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [
                           .key("key"),
                           .string("max"),
                           .string("min"),
                           .block("offset_count", token: "LIMIT", [
                               .integer("offset"),
                               .integer("count"),
                           ]).optional,
                       ]),
        CommandSpec("zremrangebyrank", arity: 4, flags: [.write], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Removes the members of a sorted set in a range of positions.",
                    run: .keyed({ zremrange($0, $1, &$2, .rank) }, split: nil, crossShard: nil))
            .described(since: "2.0.0", acl: [.write, .sortedset, .slow],
                       keySpecs: [KeySpec(["RW", "delete"], index: 1)],
                       arguments: [
                           .key("key"),
                           .integer("start"),
                           .integer("stop"),
                       ]),
        CommandSpec("zremrangebyscore", arity: 4, flags: [.write], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Removes the members of a sorted set with scores in a range.",
                    run: .keyed({ zremrange($0, $1, &$2, .score) }, split: nil, crossShard: nil))
            .described(since: "1.2.0", acl: [.write, .sortedset, .slow],
                       keySpecs: [KeySpec(["RW", "delete"], index: 1)],
                       arguments: [
                           .key("key"),
                           .double("min"),
                           .double("max"),
                       ]),
        CommandSpec("zremrangebylex", arity: 4, flags: [.write], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Removes the members of a sorted set between two members (equal scores).",
                    run: .keyed({ zremrange($0, $1, &$2, .lex) }, split: nil, crossShard: nil))
            .described(since: "2.8.9", acl: [.write, .sortedset, .slow],
                       keySpecs: [KeySpec(["RW", "delete"], index: 1)],
                       arguments: [
                           .key("key"),
                           .string("min"),
                           .string("max"),
                       ]),
        CommandSpec("zpopmin", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Removes and returns the members with the lowest scores.",
                    run: .keyed({ zpop($0, $1, &$2, max: false) }, split: nil, crossShard: nil))
            .described(since: "5.0.0", acl: [.write, .sortedset, .fast],
                       keySpecs: [KeySpec(["RW", "access", "delete"], index: 1)],
                       arguments: [
                           .key("key"),
                           .integer("count").optional,
                       ]),
        CommandSpec("zpopmax", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Removes and returns the members with the highest scores.",
                    run: .keyed({ zpop($0, $1, &$2, max: true) }, split: nil, crossShard: nil))
            .described(since: "5.0.0", acl: [.write, .sortedset, .fast],
                       keySpecs: [KeySpec(["RW", "access", "delete"], index: 1)],
                       arguments: [
                           .key("key"),
                           .integer("count").optional,
                       ]),
        CommandSpec("zrandmember", arity: -2, flags: [.readonly], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Random members of a sorted set.",
                    run: .keyed(zrandmember, split: nil, crossShard: nil))
            .described(since: "6.2.0", acl: [.read, .sortedset, .slow], tips: ["nondeterministic_output"],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [
                           .key("key"),
                           .block("options", [
                               .integer("count"),
                               .token("WITHSCORES").optional,
                           ]).optional,
                       ]),
        CommandSpec("zscan", arity: -3, flags: [.readonly], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Iterates over a sorted set's members and scores.",
                    run: .keyed(zscan, split: nil, crossShard: nil))
            .described(since: "2.8.0", acl: [.read, .sortedset, .slow], tips: ["nondeterministic_output"],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [
                           .key("key"),
                           .integer("cursor"),
                           .pattern("pattern", token: "MATCH").optional,
                           .integer("count", token: "COUNT").optional,
                       ]),
        CommandSpec("zrangestore", arity: -5, flags: [.write, .denyOOM], keys: (1, 2, 1), group: "sorted-set",
                    summary: "Stores a range of a sorted set's members in another key.",
                    run: .keyed(zrangestore, split: nil, crossShard: zrangestoreAcrossShards))
            .described(since: "6.2.0", acl: [.write, .sortedset, .slow],
                       keySpecs: [KeySpec(["OW", "update"], index: 1), KeySpec(["RO", "access"], index: 2)],
                       arguments: [
                           .key("dst"),
                           .key("src", spec: 1),
                           .string("min"),
                           .string("max"),
                           .oneOf("sortby", [
                               .token("BYSCORE"),
                               .token("BYLEX"),
                           ]).optional,
                           .token("REV").optional,
                           .block("offset_count", token: "LIMIT", [
                               .integer("offset"),
                               .integer("count"),
                           ]).optional,
                       ]),
        CommandSpec(part: .zrangeOut, arity: -5, keys: (2, 2, 1), group: "sorted-set",
                    run: .keyed(zrangeOutPart, split: nil, crossShard: nil)),
        CommandSpec("zunion", arity: -3, flags: [.readonly, .movableKeys], keys: (0, 0, 0), group: "sorted-set",
                    summary: "Union of sorted sets.",
                    run: .client(onKeysShard(countAt: 1, destination: false)))
            .described(since: "6.2.0", acl: [.read, .sortedset, .slow],
                       keySpecs: [KeySpec(["RO", "access"], index: 1, keyCountAt: 0, firstKeyAt: 1)],
                       arguments: [.integer("numkeys"), .key("key").multiple] + weightsAndAggregate
                           + [.token("WITHSCORES").optional]),
        CommandSpec("zunionstore", arity: -4, flags: [.write, .denyOOM, .movableKeys], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Stores the union of sorted sets.",
                    run: .client(onKeysShard(countAt: 2, destination: true)))
            .described(since: "2.0.0", acl: [.write, .sortedset, .slow],
                       keySpecs: [KeySpec(["OW", "update"], index: 1), KeySpec(["RO", "access"], index: 2, keyCountAt: 0, firstKeyAt: 1)],
                       arguments: [.key("destination"), .integer("numkeys"), .key("key", spec: 1).multiple]
                           + weightsAndAggregate),
        CommandSpec("zinter", arity: -3, flags: [.readonly, .movableKeys], keys: (0, 0, 0), group: "sorted-set",
                    summary: "Intersection of sorted sets.",
                    run: .client(onKeysShard(countAt: 1, destination: false)))
            .described(since: "6.2.0", acl: [.read, .sortedset, .slow],
                       keySpecs: [KeySpec(["RO", "access"], index: 1, keyCountAt: 0, firstKeyAt: 1)],
                       arguments: [.integer("numkeys"), .key("key").multiple] + weightsAndAggregate
                           + [.token("WITHSCORES").optional]),
        CommandSpec("zinterstore", arity: -4, flags: [.write, .denyOOM, .movableKeys], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Stores the intersection of sorted sets.",
                    run: .client(onKeysShard(countAt: 2, destination: true)))
            .described(since: "2.0.0", acl: [.write, .sortedset, .slow],
                       keySpecs: [KeySpec(["OW", "update"], index: 1), KeySpec(["RO", "access"], index: 2, keyCountAt: 0, firstKeyAt: 1)],
                       arguments: [.key("destination"), .integer("numkeys"), .key("key", spec: 1).multiple]
                           + weightsAndAggregate),
        CommandSpec("zdiff", arity: -3, flags: [.readonly, .movableKeys], keys: (0, 0, 0), group: "sorted-set",
                    summary: "Members of the first sorted set absent from the others.",
                    run: .client(onKeysShard(countAt: 1, destination: false)))
            .described(since: "6.2.0", acl: [.read, .sortedset, .slow],
                       keySpecs: [KeySpec(["RO", "access"], index: 1, keyCountAt: 0, firstKeyAt: 1)],
                       arguments: [
                           .integer("numkeys"),
                           .key("key").multiple,
                           .token("WITHSCORES").optional,
                       ]),
        CommandSpec("zdiffstore", arity: -4, flags: [.write, .denyOOM, .movableKeys], keys: (1, 1, 1), group: "sorted-set",
                    summary: "Stores the members of the first sorted set absent from the others.",
                    run: .client(onKeysShard(countAt: 2, destination: true)))
            .described(since: "6.2.0", acl: [.write, .sortedset, .slow],
                       keySpecs: [KeySpec(["OW", "update"], index: 1), KeySpec(["RO", "access"], index: 2, keyCountAt: 0, firstKeyAt: 1)],
                       arguments: [
                           .key("destination"),
                           .integer("numkeys"),
                           .key("key", spec: 1).multiple,
                       ]),
        CommandSpec("zintercard", arity: -3, flags: [.readonly, .movableKeys], keys: (0, 0, 0), group: "sorted-set",
                    summary: "Number of members in the intersection of sorted sets.",
                    run: .client(onKeysShard(countAt: 1, destination: false)))
            .described(since: "7.0.0", acl: [.read, .sortedset, .slow],
                       keySpecs: [KeySpec(["RO", "access"], index: 1, keyCountAt: 0, firstKeyAt: 1)],
                       arguments: [
                           .integer("numkeys"),
                           .key("key").multiple,
                           .integer("limit", token: "LIMIT").optional,
                       ]),
        CommandSpec("zmpop", arity: -4, flags: [.write, .movableKeys], keys: (0, 0, 0), group: "sorted-set",
                    summary: "Removes and returns members with the lowest or highest scores from the first non-empty sorted set.",
                    run: .client(onKeysShard(countAt: 1, destination: false)))
            .described(since: "7.0.0", acl: [.write, .sortedset, .slow],
                       keySpecs: [KeySpec(["RW", "access", "delete"], index: 1, keyCountAt: 0, firstKeyAt: 1)],
                       arguments: [
                           .integer("numkeys"),
                           .key("key").multiple,
                           .oneOf("where", [
                               .token("MIN"),
                               .token("MAX"),
                           ]),
                           .integer("count", token: "COUNT").optional,
                       ]),
        CommandSpec(part: .zsetMulti, propagation: .marked, arity: -3, group: "sorted-set",
                    run: .keyed(multiKeyPartRun, split: nil, crossShard: nil)),
        CommandSpec(part: .zfetch, arity: 3, keys: (1, 1, 1), group: "sorted-set",
                    run: .keyed(fetchPartRun, split: nil, crossShard: nil)),
        CommandSpec("bzpopmin", arity: -3, flags: [.write, .noscript, .blocking, .fast], keys: (1, -2, 1), group: "sorted-set",
                    summary: "Removes and returns the member with the lowest score of the first non-empty sorted set, waiting for one if none.",
                    run: .client({ bzpop($0, $1, $2, &$3, &$4, max: false) }))
            .described(since: "5.0.0", acl: [.write, .sortedset, .fast, .blocking],
                       keySpecs: [KeySpec(["RW", "access", "delete"], index: 1, lastKey: -2)],
                       arguments: [
                           .key("key").multiple,
                           .double("timeout"),
                       ]),
        CommandSpec("bzpopmax", arity: -3, flags: [.write, .noscript, .blocking, .fast], keys: (1, -2, 1), group: "sorted-set",
                    summary: "Removes and returns the member with the highest score of the first non-empty sorted set, waiting for one if none.",
                    run: .client({ bzpop($0, $1, $2, &$3, &$4, max: true) }))
            .described(since: "5.0.0", acl: [.write, .sortedset, .fast, .blocking],
                       keySpecs: [KeySpec(["RW", "access", "delete"], index: 1, lastKey: -2)],
                       arguments: [
                           .key("key").multiple,
                           .double("timeout"),
                       ]),
        CommandSpec("bzmpop", arity: -5, flags: [.write, .blocking, .movableKeys], keys: (0, 0, 0), group: "sorted-set",
                    summary: "Removes and returns members of the first non-empty sorted set, waiting for one if none.",
                    run: .client(bzmpop))
            .described(since: "7.0.0", acl: [.write, .sortedset, .slow, .blocking],
                       keySpecs: [KeySpec(["RW", "access", "delete"], index: 2, keyCountAt: 0, firstKeyAt: 1)],
                       arguments: [
                           .double("timeout"),
                           .integer("numkeys"),
                           .key("key").multiple,
                           .oneOf("where", [
                               .token("MIN"),
                               .token("MAX"),
                           ]),
                           .integer("count", token: "COUNT").optional,
                       ]),
        CommandSpec(part: .bzpop, propagation: .marked, arity: -6, blocking: true, group: "sorted-set",
                    run: .keyed(blockingPopPartRun, split: nil, crossShard: nil)),
    ]

    // MARK: Helpers

    static let rangeNotFloat: StaticString = "ERR min or max is not a float"
    static let lexRangeInvalid: StaticString = "ERR min or max not valid string range item"

    /// The sorted set at `key` for a read (hits and misses counted): nil and `missing`
    /// written if absent, nil and WRONGTYPE if another type.
    static func setForRead(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, _ out: inout ByteBuffer,
                           missing: (inout ByteBuffer) -> Void) -> SortedSet? {
        ctx.value(SortedSet.self, forReadAt: key, &out, missing: missing)
    }

    typealias Lookup = ValueLookup<SortedSet>

    /// The sorted set at `key` for a write (no hit/miss counted); `.wrongType` after writing the error.
    static func setForWrite(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, _ out: inout ByteBuffer) -> Lookup {
        ctx.value(SortedSet.self, forWriteAt: key, &out)
    }

    static func create(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, firstMemberLength: Int) -> SortedSet {
        let z = SortedSet(firstMemberLength: firstMemberLength, limits: LiveConfig.sortedSetLimits)
        ctx.shard.insertNew(Entry.makeObject(key: key, hash: KeyTable.hash(key), object: z), db: ctx.db, expireAt: 0)
        return z
    }

    /// Deletes the key of a set a command emptied (Redis never keeps an empty collection).
    static func deleteIfEmpty(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, _ z: SortedSet) {
        if z.count == 0 {
            ctx.shard.delete(db: ctx.db, key: key)
            ctx.notify(KeyspaceEvent.generic, "del", key)
        }
    }

    /// addReplyDouble: RESP3 `,<score>`, RESP2 a bulk string, "%.17g" either way.
    static func writeScore(_ d: Double, _ out: inout ByteBuffer, _ resp: RESPVersion) {
        ZScore.withText(d) { t in
            if resp == .resp3 {
                out.append(UInt8(ascii: ",")); out.append(t); out.append("\r\n")
            } else {
                out.writeBulk(t)
            }
        }
    }

    /// getLongFromObjectOrReply.
    static func parseLong(_ b: UnsafeRawBufferPointer, _ out: inout ByteBuffer) -> Int? {
        guard let v = parseStrictInt(b) else { out.writeError(Errors.notInteger); return nil }
        return v
    }

    // MARK: ZADD, ZINCRBY

    /// zaddGenericCommand: flags, then score-member pairs, all scores parsed before any change.
    static func zadd(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer, incrby: Bool) {
        var nx = false, xx = false, gt = false, lt = false, ch = false, incr = incrby
        var i = 2
        while i < args.count {
            let opt = args[i]
            if argIs(opt, "nx") { nx = true } else if argIs(opt, "xx") { xx = true }
            else if argIs(opt, "ch") { ch = true } else if argIs(opt, "incr") { incr = true }
            else if argIs(opt, "gt") { gt = true } else if argIs(opt, "lt") { lt = true }
            else { break }
            i += 1
        }
        let rest = args.count - i
        guard rest % 2 == 0 && rest > 0 else { out.writeError(Errors.syntax); return }
        let pairs = rest / 2
        if nx && xx { out.writeError("ERR XX and NX options at the same time are not compatible"); return }
        if (gt && nx) || (lt && nx) || (gt && lt) {
            out.writeError("ERR GT, LT, and/or NX options at the same time are not compatible")
            return
        }
        if incr && pairs > 1 { out.writeError("ERR INCR option supports a single increment-element pair"); return }
        // Every score is checked before any is applied; on the stack, not an array per call.
        withUnsafeTemporaryAllocation(of: Double.self, capacity: pairs) { scores in
            for j in 0..<pairs {
                guard let s = ZScore.parse(args[i + 2 * j]) else { out.writeError(Errors.notFloat); return }
                scores[j] = s
            }
            let key = args[1]
            let z: SortedSet
            switch setForWrite(ctx, key, &out) {
            case .wrongType: return
            case .found(let found): z = found
            case .missing:
                if xx {
                    if incr { out.writeNull(ctx.resp) } else { out.writeInteger(0) }
                    return
                }
                z = create(ctx, key, firstMemberLength: args[i + 1].count)
            }
            var added = 0, updated = 0, processed = 0
            var score = 0.0
            var touched = false
            let limits = LiveConfig.sortedSetLimits
            for j in 0..<pairs {
                let member = args[i + 2 * j + 1]
                var newScore = scores[j]
                let place = z.locate(member)
                if let current = place.score {
                    if nx { continue }
                    if incr {
                        newScore += current
                        if newScore.isNaN {
                            out.writeError("ERR resulting score is not a number (NaN)")
                            return
                        }
                    }
                    if (lt && newScore >= current) || (gt && newScore <= current) { continue }
                    processed += 1
                    score = newScore
                    if newScore != current {
                        if !touched { ctx.shard.noteModified(db: ctx.db, key: key); touched = true }
                        z.update(member, to: newScore, at: place)
                        updated += 1
                    }
                } else if !xx {
                    if !touched { ctx.shard.noteModified(db: ctx.db, key: key); touched = true }
                    z.insert(member, score: newScore, limits: limits, at: place)
                    added += 1
                    processed += 1
                    score = newScore
                }
            }
            if touched { ctx.notify(KeyspaceEvent.zset, incr ? "zincr" : "zadd", key) }
            if incr {
                if processed > 0 { writeScore(score, &out, ctx.resp) } else { out.writeNull(ctx.resp) }
            } else {
                out.writeInteger(ch ? added + updated : added)
            }
        }
    }

    // MARK: ZREM, ZCARD, ZSCORE, ZMSCORE

    static func zrem(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let z: SortedSet
        switch setForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .missing: out.writeInteger(0); return
        case .found(let found): z = found
        }
        var deleted = 0
        for j in 2..<args.count where z.score(args[j]) != nil {
            if deleted == 0 { ctx.shard.noteModified(db: ctx.db, key: args[1]) }
            z.remove(args[j])
            deleted += 1
            if z.count == 0 { break }
        }
        if deleted > 0 { ctx.notify(KeyspaceEvent.zset, "zrem", args[1]) }
        deleteIfEmpty(ctx, args[1], z)
        out.writeInteger(deleted)
    }

    static func zcard(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let z = setForRead(ctx, args[1], &out, missing: { $0.writeInteger(0) }) else { return }
        out.writeInteger(z.count)
    }

    static func zscore(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let resp = ctx.resp
        guard let z = setForRead(ctx, args[1], &out, missing: { $0.writeNull(resp) }) else { return }
        if let s = z.score(args[2]) { writeScore(s, &out, resp) } else { out.writeNull(resp) }
    }

    static func zmscore(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let resp = ctx.resp
        let n = args.count - 2
        guard let z = setForRead(ctx, args[1], &out, missing: {
            $0.writeArrayHeader(n)
            for _ in 0..<n { $0.writeNull(resp) }
        }) else { return }
        out.writeArrayHeader(n)
        for j in 2..<args.count {
            if let s = z.score(args[j]) { writeScore(s, &out, resp) } else { out.writeNull(resp) }
        }
    }

    // MARK: ZCOUNT, ZLEXCOUNT, ZRANK, ZREVRANK

    static func zcount(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let range = ScoreRange(min: args[2], max: args[3]) else { out.writeError(rangeNotFloat); return }
        guard let z = setForRead(ctx, args[1], &out, missing: { $0.writeInteger(0) }) else { return }
        out.writeInteger(z.ranks(in: range).count)
    }

    static func zlexcount(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let range = LexRange(min: args[2], max: args[3]) else { out.writeError(lexRangeInvalid); return }
        guard let z = setForRead(ctx, args[1], &out, missing: { $0.writeInteger(0) }) else { return }
        out.writeInteger(z.ranks(in: range).count)
    }

    static func zrank(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer, reverse: Bool) {
        let resp = ctx.resp
        guard let z = setForRead(ctx, args[1], &out, missing: { $0.writeNull(resp) }) else { return }
        guard let r = z.rank(args[2]) else { out.writeNull(resp); return }
        out.writeInteger(reverse ? z.count - 1 - r : r)
    }
}
