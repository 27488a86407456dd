import RESP
import Shards
import Values
#if canImport(Glibc)
import Glibc
#endif

/// Generic key commands (Redis's db.c, expire.c and object.c):
/// DEL, EXISTS, TYPE, the TTL family, KEYS, SCAN, RANDOMKEY, RENAME, COPY, MOVE, SWAPDB,
/// OBJECT.
///
/// Commands that span shards run as a `MultiShardOperation`, under intent locks on all
/// their keys for all their steps (see Locking.swift): no client sees a cross-shard
/// RENAME or COPY half done.
enum KeyCommands {
    /// The EXPIRE family's optional NX|XX|GT|LT, as COMMAND DOCS describes it.
    private static let expireCondition: CommandArgument =
        .oneOf("condition", [.token("NX"), .token("XX"), .token("GT"), .token("LT")]).optional

    static let specs: [CommandSpec] = [
        CommandSpec("del", arity: -2, flags: [.write], keys: (1, -1, 1), group: "generic",
                    summary: "Removes keys.",
                    run: .keyed(del, split: (part: nil, stride: 1, combine: .sumIntegers), crossShard: nil))
            .described(since: "1.0.0", acl: [.keyspace, .write, .slow],
                       tips: ["request_policy:multi_shard", "response_policy:agg_sum"],
                       keySpecs: [KeySpec(["RM", "delete"], index: 1, lastKey: -1)],
                       arguments: [.key("key").multiple]),
        CommandSpec("unlink", arity: -2, flags: [.write, .fast], keys: (1, -1, 1), group: "generic",
                    summary: "Removes keys, freeing large values later.",
                    run: .keyed(del, split: (part: nil, stride: 1, combine: .sumIntegers), crossShard: nil))
            .described(since: "4.0.0", acl: [.keyspace, .write, .fast],
                       tips: ["request_policy:multi_shard", "response_policy:agg_sum"],
                       keySpecs: [KeySpec(["RM", "delete"], index: 1, lastKey: -1)],
                       arguments: [.key("key").multiple]),
        CommandSpec("exists", arity: -2, flags: [.readonly, .fast], keys: (1, -1, 1), group: "generic",
                    summary: "Counts how many of the keys exist.",
                    run: .keyed(exists, split: (part: nil, stride: 1, combine: .sumIntegers), crossShard: nil))
            .described(since: "1.0.0", acl: [.keyspace, .read, .fast],
                       tips: ["request_policy:multi_shard", "response_policy:agg_sum"],
                       keySpecs: [KeySpec(["RO"], index: 1, lastKey: -1)],
                       arguments: [.key("key").multiple]),
        CommandSpec("touch", arity: -2, flags: [.readonly, .fast], keys: (1, -1, 1), group: "generic",
                    summary: "Marks keys as just used and counts those that exist.",
                    run: .keyed(touch, split: (part: nil, stride: 1, combine: .sumIntegers), crossShard: nil))
            .described(since: "3.2.1", acl: [.keyspace, .read, .fast],
                       tips: ["request_policy:multi_shard", "response_policy:agg_sum"],
                       keySpecs: [KeySpec(["RO"], index: 1, lastKey: -1)],
                       arguments: [.key("key").multiple]),
        CommandSpec("type", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "generic",
                    summary: "The kind of value a key holds.", run: .keyed(type, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.keyspace, .read, .fast], keySpecs: [KeySpec(["RO"], index: 1)],
                       arguments: [.key("key")]),

        CommandSpec("expire", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "generic",
                    summary: "Makes a key expire after some seconds.",
                    run: .keyed({ expireGeneric($0, $1, &$2, name: "expire", seconds: true, absolute: false) },
                                split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.keyspace, .write, .fast],
                       keySpecs: [KeySpec(["RW", "update"], index: 1)],
                       arguments: [
                           .key("key"),
                           .integer("seconds"),
                           expireCondition,
                       ]),
        CommandSpec("pexpire", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "generic",
                    summary: "Makes a key expire after some milliseconds.",
                    run: .keyed({ expireGeneric($0, $1, &$2, name: "pexpire", seconds: false, absolute: false) },
                                split: nil, crossShard: nil))
            .described(since: "2.6.0", acl: [.keyspace, .write, .fast],
                       keySpecs: [KeySpec(["RW", "update"], index: 1)],
                       arguments: [
                           .key("key"),
                           .integer("milliseconds"),
                           expireCondition,
                       ]),
        CommandSpec("expireat", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "generic",
                    summary: "Makes a key expire at a Unix time in seconds.",
                    run: .keyed({ expireGeneric($0, $1, &$2, name: "expireat", seconds: true, absolute: true) },
                                split: nil, crossShard: nil))
            .described(since: "1.2.0", acl: [.keyspace, .write, .fast],
                       keySpecs: [KeySpec(["RW", "update"], index: 1)],
                       arguments: [
                           .key("key"),
                           .unixTime("unix-time-seconds"),
                           expireCondition,
                       ]),
        CommandSpec("pexpireat", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "generic",
                    summary: "Makes a key expire at a Unix time in milliseconds.",
                    run: .keyed({ expireGeneric($0, $1, &$2, name: "pexpireat", seconds: false, absolute: true) },
                                split: nil, crossShard: nil))
            .described(since: "2.6.0", acl: [.keyspace, .write, .fast],
                       keySpecs: [KeySpec(["RW", "update"], index: 1)],
                       arguments: [
                           .key("key"),
                           .unixTime("unix-time-milliseconds"),
                           expireCondition,
                       ]),
        CommandSpec("ttl", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "generic",
                    summary: "Seconds until a key expires.",
                    run: .keyed({ ttlGeneric($0, $1, &$2, milliseconds: false, absolute: false) }, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.keyspace, .read, .fast], tips: ["nondeterministic_output"],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)], arguments: [.key("key")]),
        CommandSpec("pttl", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "generic",
                    summary: "Milliseconds until a key expires.",
                    run: .keyed({ ttlGeneric($0, $1, &$2, milliseconds: true, absolute: false) }, split: nil, crossShard: nil))
            .described(since: "2.6.0", acl: [.keyspace, .read, .fast], tips: ["nondeterministic_output"],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)], arguments: [.key("key")]),
        CommandSpec("expiretime", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "generic",
                    summary: "When a key expires, as Unix seconds.",
                    run: .keyed({ ttlGeneric($0, $1, &$2, milliseconds: false, absolute: true) }, split: nil, crossShard: nil))
            .described(since: "7.0.0", acl: [.keyspace, .read, .fast], keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [.key("key")]),
        CommandSpec("pexpiretime", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "generic",
                    summary: "When a key expires, as Unix milliseconds.",
                    run: .keyed({ ttlGeneric($0, $1, &$2, milliseconds: true, absolute: true) }, split: nil, crossShard: nil))
            .described(since: "7.0.0", acl: [.keyspace, .read, .fast], keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [.key("key")]),
        CommandSpec("persist", arity: 2, flags: [.write, .fast], keys: (1, 1, 1), group: "generic",
                    summary: "Makes a key permanent.", run: .keyed(persist, split: nil, crossShard: nil))
            .described(since: "2.2.0", acl: [.keyspace, .write, .fast],
                       keySpecs: [KeySpec(["RW", "update"], index: 1)], arguments: [.key("key")]),

        CommandSpec("keys", arity: 2, flags: [.readonly], group: "generic",
                    summary: "Every key name matching a glob pattern.", run: .client(keys))
            .described(since: "1.0.0", acl: [.keyspace, .read, .slow, .dangerous],
                       tips: ["request_policy:all_shards", "nondeterministic_output_order"],
                       arguments: [.pattern("pattern")]),
        CommandSpec(part: .keys, arity: 2, group: "generic", run: .keyed(keysPart, split: nil, crossShard: nil)),
        CommandSpec("scan", arity: -2, flags: [.readonly], group: "generic",
                    summary: "Walks the key names with a cursor, a batch per call.", run: .client(scan))
            .described(since: "2.8.0", acl: [.keyspace, .read, .slow],
                       tips: ["nondeterministic_output", "request_policy:special"],
                       arguments: [
                           .integer("cursor"),
                           .pattern("pattern", token: "MATCH").optional,
                           .integer("count", token: "COUNT").optional,
                           .string("type", token: "TYPE").optional,
                       ]),
        CommandSpec(part: .scan, arity: -3, group: "generic", run: .keyed(scanPart, split: nil, crossShard: nil)),
        CommandSpec("randomkey", arity: 1, flags: [.readonly], group: "generic",
                    summary: "Any one key name of the selected database.", run: .client(randomKey))
            .described(since: "1.0.0", acl: [.keyspace, .read, .slow],
                       tips: ["request_policy:all_shards", "nondeterministic_output"]),
        CommandSpec(part: .randomkey, arity: 1, group: "generic",
                    run: .keyed(randomKeyPart, split: nil, crossShard: nil)),

        CommandSpec("rename", arity: 3, flags: [.write], keys: (1, 2, 1), group: "generic",
                    summary: "Gives a key a new name, replacing any key of that name.",
                    run: .keyed({ rename($0, $1, &$2, nx: false) }, split: nil,
                                crossShard: { renameAcrossShards($0, $1, $2, nx: false, &$3, &$4) }))
            .described(since: "1.0.0", acl: [.keyspace, .write, .slow],
                       keySpecs: [KeySpec(["RW", "access", "delete"], index: 1), KeySpec(["OW", "update"], index: 2)],
                       arguments: [.key("key"), .key("newkey", spec: 1)]),
        CommandSpec("renamenx", arity: 3, flags: [.write, .fast], keys: (1, 2, 1), group: "generic",
                    summary: "Gives a key a new name unless that name is taken.",
                    run: .keyed({ rename($0, $1, &$2, nx: true) }, split: nil,
                                crossShard: { renameAcrossShards($0, $1, $2, nx: true, &$3, &$4) }))
            .described(since: "1.0.0", acl: [.keyspace, .write, .fast],
                       keySpecs: [KeySpec(["RW", "access", "delete"], index: 1), KeySpec(["OW", "insert"], index: 2)],
                       arguments: [.key("key"), .key("newkey", spec: 1)]),
        CommandSpec("copy", arity: -3, flags: [.write, .denyOOM], keys: (1, 2, 1), group: "generic",
                    summary: "Duplicates a key's value under another name, optionally in another database.",
                    run: .keyed(copy, split: nil, crossShard: copyAcrossShards))
            .described(since: "6.2.0", acl: [.keyspace, .write, .slow],
                       keySpecs: [KeySpec(["RO", "access"], index: 1), KeySpec(["OW", "update"], index: 2)],
                       arguments: [
                           .key("source"),
                           .key("destination", spec: 1),
                           .integer("destination-db", token: "DB").optional,
                           .token("REPLACE").optional,
                       ]),
        CommandSpec(part: .detach, propagation: .marked, arity: 3, group: "generic", run: .keyed(detachPart, split: nil, crossShard: nil)),
        CommandSpec(part: .copyOut, arity: 3, group: "generic", run: .keyed(copyOutPart, split: nil, crossShard: nil)),
        CommandSpec(part: .attach, propagation: .marked, arity: 5, group: "generic", run: .keyed(attachPart, split: nil, crossShard: nil)),
        CommandSpec("move", arity: 3, flags: [.write, .fast], keys: (1, 1, 1), group: "generic",
                    summary: "Transfers a key to another database unless it exists there.", run: .keyed(move, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.keyspace, .write, .fast],
                       keySpecs: [KeySpec(["RW", "access", "update"], index: 1)],
                       arguments: [.key("key"), .integer("db")]),
        CommandSpec("swapdb", arity: 3, flags: [.write, .fast], group: "server",
                    summary: "Exchanges the contents of two databases.", run: .client(swapdb))
            .described(since: "4.0.0", acl: [.keyspace, .write, .fast, .dangerous],
                       arguments: [.integer("index1"), .integer("index2")]),
        CommandSpec(part: .swapdb, propagation: .alwaysMarked, arity: 3, group: "server", run: .keyed(swapdbPart, split: nil, crossShard: nil)),

        CommandSpec("object", arity: -2, group: "generic", summary: "Internals of the value stored at a key.",
                    run: .container, subcommands: [
                        CommandSpec("object|encoding", arity: 3, flags: [.readonly], keys: (2, 2, 1), group: "generic",
                                    summary: "How a key's value is represented in memory.", run: .client(object))
                            .described(since: "2.2.3", acl: [.keyspace, .read, .slow],
                                       tips: ["nondeterministic_output"],
                                       keySpecs: [KeySpec(["RO"], index: 2)],
                                       arguments: [.key("key")]),
                        CommandSpec("object|freq", arity: 3, flags: [.readonly], keys: (2, 2, 1), group: "generic",
                                    summary: "A key's access-frequency counter (LFU policies).", run: .client(object))
                            .described(since: "4.0.0", acl: [.keyspace, .read, .slow],
                                       tips: ["nondeterministic_output"],
                                       keySpecs: [KeySpec(["RO"], index: 2)],
                                       arguments: [.key("key")]),
                        CommandSpec("object|idletime", arity: 3, flags: [.readonly], keys: (2, 2, 1), group: "generic",
                                    summary: "Seconds since a key was last used.", run: .client(object))
                            .described(since: "2.2.3", acl: [.keyspace, .read, .slow],
                                       tips: ["nondeterministic_output"],
                                       keySpecs: [KeySpec(["RO"], index: 2)],
                                       arguments: [.key("key")]),
                        CommandSpec("object|refcount", arity: 3, flags: [.readonly], keys: (2, 2, 1), group: "generic",
                                    summary: "How many references share a key's value.", run: .client(object))
                            .described(since: "2.2.3", acl: [.keyspace, .read, .slow],
                                       tips: ["nondeterministic_output"],
                                       keySpecs: [KeySpec(["RO"], index: 2)],
                                       arguments: [.key("key")]),
                        CommandSpec("object|help", arity: 2, flags: [.loading, .stale], group: "generic",
                                    summary: "Lists the subcommands and what they do.", run: .client(objectHelp))
                            .described(since: "6.2.0", acl: [.keyspace, .slow]),
                    ])
            .described(since: "2.2.3", acl: [.slow]),
        CommandSpec(part: .object, arity: 5, group: "generic", run: .keyed(objectPart, split: nil, crossShard: nil)),

    ]

    /// Table indices of the internal parts that client handlers address directly.
    enum Part {
        static let scan = CommandTable.shared.index(of: .scan)
        static let object = CommandTable.shared.index(of: .object)
        static let detach = CommandTable.shared.index(of: .detach)
        static let copyOut = CommandTable.shared.index(of: .copyOut)
        static let attach = CommandTable.shared.index(of: .attach)
        /// Counts existing keys without hit/miss accounting (a write's lookup).
        static let countExisting = CommandTable.shared.index(of: .countExisting)
    }

    // MARK: Lookups

    /// A read that leaves the key's access time alone but counts a hit or miss
    /// (Redis's LOOKUP_NOTOUCH: TYPE, TTL, EXISTS).
    static func peek(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer) -> Entry? {
        if let e = ctx.shard.lookup(db: ctx.db, key: key) {
            ctx.shard.keyspaceHits += 1
            return e
        }
        ctx.shard.keyspaceMisses += 1
        ctx.notify(KeyspaceEvent.keyMiss, "keymiss", key)
        return nil
    }

    /// Redis's type name of a value ("string", later "list", "hash"...).
    static func typeName(_ e: Entry) -> String {
        guard e.kind == .object else { return "string" }
        return (e.object as? any ValueType)?.typeName ?? "unknown"
    }

    // MARK: DEL, EXISTS, TOUCH, TYPE

    static func del(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let shard = ctx.shard
        shard.prefetch(db: ctx.db, args, first: 1)
        var n = 0
        for i in 1..<args.count where shard.delete(db: ctx.db, key: args[i]) {
            n += 1
            ctx.notify(KeyspaceEvent.generic, "del", args[i])
        }
        out.writeInteger(n)
    }

    static func exists(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let shard = ctx.shard
        shard.prefetch(db: ctx.db, args, first: 1)
        var n = 0
        for i in 1..<args.count where peek(ctx, args[i]) != nil { n += 1 }
        out.writeInteger(n)
    }

    static func touch(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let shard = ctx.shard
        shard.prefetch(db: ctx.db, args, first: 1)
        var n = 0
        for i in 1..<args.count where shard.lookupForRead(db: ctx.db, key: args[i]) != nil { n += 1 }
        out.writeInteger(n)
    }

    static func type(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let e = peek(ctx, args[1]) else { out.writeSimple("none"); return }
        out.writeSimple(string: typeName(e))
    }
}
