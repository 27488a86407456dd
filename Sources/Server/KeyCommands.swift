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
                                crossShard: { renameAcrossShards($0, $1, $2, nx: false, &$3) }))
            .described(since: "1.0.0", acl: [.keyspace, .write, .slow],
                       keySpecs: [KeySpec(["RW", "access", "delete"], index: 1), KeySpec(["OW", "update"], index: 2)],
                       arguments: [.key("key"), .key("newkey", spec: 1)]),
        CommandSpec("renamenx", arity: 3, flags: [.write, .fast], keys: (1, 2, 1), group: "generic",
                    summary: "Gives a key a new name unless that name is taken.",
                    run: .keyed({ rename($0, $1, &$2, nx: true) }, split: nil,
                                crossShard: { renameAcrossShards($0, $1, $2, nx: true, &$3) }))
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
    private enum Part {
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
        return nil
    }

    /// Redis's type name of a value ("string", later "list", "hash"...).
    static func typeName(_ e: Entry) -> String {
        guard e.kind == .object else { return "string" }
        return (e.object as? any ValueType)?.typeName ?? "unknown"
    }

    // MARK: DEL, EXISTS, TOUCH, TYPE

    static func del(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var n = 0
        for i in 1..<args.count where ctx.shard.delete(db: ctx.db, key: args[i]) { n += 1 }
        out.writeInteger(n)
    }

    static func exists(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var n = 0
        for i in 1..<args.count where peek(ctx, args[i]) != nil { n += 1 }
        out.writeInteger(n)
    }

    static func touch(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var n = 0
        for i in 1..<args.count where ctx.shard.lookupForRead(db: ctx.db, key: args[i]) != nil { n += 1 }
        out.writeInteger(n)
    }

    static func type(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let e = peek(ctx, args[1]) else { out.writeSimple("none"); return }
        out.writeSimple(string: typeName(e))
    }

    // MARK: EXPIRE family

    struct ExpireConditions: OptionSet {
        let rawValue: UInt8
        static let nx = ExpireConditions(rawValue: 1)
        static let xx = ExpireConditions(rawValue: 2)
        static let gt = ExpireConditions(rawValue: 4)
        static let lt = ExpireConditions(rawValue: 8)
    }

    /// NX|XX|GT|LT after the time argument; nil after writing Redis's error.
    static func parseExpireConditions(_ args: Arguments, out: inout ByteBuffer) -> ExpireConditions? {
        var flags: ExpireConditions = []
        for i in 3..<max(args.count, 3) {
            let a = args[i]
            if argIs(a, "nx") { flags.insert(.nx) }
            else if argIs(a, "xx") { flags.insert(.xx) }
            else if argIs(a, "gt") { flags.insert(.gt) }
            else if argIs(a, "lt") { flags.insert(.lt) }
            else { out.writeError(quoting: a, "ERR Unsupported option ", ""); return nil }
        }
        if flags.contains(.nx) && !flags.isDisjoint(with: [.xx, .gt, .lt]) {
            out.writeError("ERR NX and XX, GT or LT options at the same time are not compatible")
            return nil
        }
        if flags.contains([.gt, .lt]) {
            out.writeError("ERR GT and LT options at the same time are not compatible")
            return nil
        }
        return flags
    }

    /// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (expire.c's expireGenericCommand).
    static func expireGeneric(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer,
                              name: String, seconds: Bool, absolute: Bool) {
        guard let conditions = parseExpireConditions(args, out: &out) else { return }
        guard var when = args.integer(2) else { out.writeError(Errors.notInteger); return }
        let shard = ctx.shard
        // Negative times are allowed (they delete the key); only overflow is an error.
        if seconds {
            guard when <= Int.max / 1000 && when >= Int.min / 1000 else { invalidExpireTime(name, &out); return }
            when *= 1000
        }
        let base = absolute ? 0 : Int(shard.now)
        guard when <= Int.max - base else { invalidExpireTime(name, &out); return }
        when += base

        guard let e = shard.lookup(db: ctx.db, key: args[1]) else { out.writeInteger(0); return }
        let current = e.expireAt == 0 ? -1 : Int(e.expireAt)
        if conditions.contains(.nx) && current != -1 { out.writeInteger(0); return }
        if conditions.contains(.xx) && current == -1 { out.writeInteger(0); return }
        // No TTL counts as an infinite one.
        if conditions.contains(.gt) && (current == -1 || when <= current) { out.writeInteger(0); return }
        if conditions.contains(.lt) && current != -1 && when >= current { out.writeInteger(0); return }

        // A deadline already past deletes the key, except on a replica, which waits for the master's DEL.
        if when <= Int(shard.now) && shard.expiryDeletesOnAccess {
            shard.delete(db: ctx.db, key: args[1])
            if ctx.replicating { ctx.propagate(.text("DEL"), .bytes(args[1])) }
        } else {
            shard.setExpire(db: ctx.db, entry: e, at: Int64(when))
            // Replicas get the absolute deadline, whatever the form (expire.c rewrites to PEXPIREAT).
            if ctx.replicating { ctx.propagate(.text("PEXPIREAT"), .bytes(args[1]), .text(String(when))) }
        }
        out.writeInteger(1)
    }

    static func invalidExpireTime(_ name: String, _ out: inout ByteBuffer) {
        out.writeError(string: "ERR invalid expire time in '\(name)' command")
    }

    /// TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 for a missing key, -1 without a TTL.
    static func ttlGeneric(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer,
                           milliseconds: Bool, absolute: Bool) {
        guard let e = peek(ctx, args[1]) else { out.writeInteger(-2); return }
        guard e.expireAt != 0 else { out.writeInteger(-1); return }
        let ttl = max(0, absolute ? Int(e.expireAt) : Int(e.expireAt - ctx.shard.now))
        // Rounded to the nearest second; (ttl + 500) / 1000 would overflow for the largest deadlines.
        out.writeInteger(milliseconds ? ttl : ttl / 1000 + (ttl % 1000 >= 500 ? 1 : 0))
    }

    static func persist(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let e = ctx.shard.lookup(db: ctx.db, key: args[1]), e.expireAt != 0 else {
            out.writeInteger(0)
            return
        }
        ctx.shard.setExpire(db: ctx.db, entry: e, at: 0)
        out.writeInteger(1)
    }

    // MARK: KEYS

    static func keys(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        w.fanOut(c, args, part: .keys, out: &out) { op, out in
            concatenateArrays(op, into: &out)
            return true
        }
    }

    /// One shard's matching live keys, as an array.
    static func keysPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let pattern = args[1]
        let all = pattern.count == 1 && pattern[0] == UInt8(ascii: "*")
        var body = ByteBuffer(capacity: 1024)
        var n = 0
        ctx.shard.forEach(db: ctx.db) { e in
            if all || Glob.matches(pattern, e.key) {
                body.writeBulk(e.key)
                n += 1
            }
        }
        out.writeArrayHeader(n)
        out.append(body.readable)
    }

    /// Writes one array holding the elements of every part's array reply, in part order.
    static func concatenateArrays(_ op: MultiShardOperation, into out: inout ByteBuffer) {
        if let error = op.firstError() { out.append(error); return }
        var total = 0
        var bodies: [UnsafeRawBufferPointer] = []
        for i in 0..<op.parts.count {
            guard let (n, bodyStart) = leadingNumber(op.reply(i), marker: UInt8(ascii: "*")) else { continue }
            let r = op.reply(i)
            total += n
            bodies.append(UnsafeRawBufferPointer(rebasing: r[bodyStart...]))
        }
        out.writeArrayHeader(total)
        for b in bodies { out.append(b) }
    }

    /// The number in a reply line like `:12\r\n` or `*3\r\n` at the start of `r`, and where the line ends.
    static func leadingNumber(_ r: UnsafeRawBufferPointer, marker: UInt8) -> (Int, Int)? {
        guard r.count >= 4, r[0] == marker else { return nil }
        var i = 1
        while i < r.count && r[i] != 13 { i += 1 }
        guard i + 1 < r.count, let n = parseStrictInt(r, from: 1, to: i) else { return nil }
        return (n, i + 2)
    }

    // MARK: SCAN

    /// SCAN's cursor names a shard and a position in its table:
    /// cursor = local * shardCount + shard. The scan visits shard 0 to the last; a shard's
    /// local cursor 0 is its start (its cursor is then just its index), and 0 after the last
    /// shard ends the scan. Each shard scan keeps Redis's guarantee (KeyTable.scan), so every
    /// key present for the whole scan is returned at least once. A call that finishes a
    /// shard with room left under COUNT goes on with the next shard, so a small keyspace
    /// is returned in one call, cursor 0, as Redis does.
    static func scan(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let cursor = parseCursor(args[1]) else { out.writeError("ERR invalid cursor"); return }
        let shards = UInt64(w.context.shardCount)
        let count = scanCount(args)
        var name = 0, zero = 0, shardCount = 0
        var options: [Int] = []
        var returned = 0
        let op = MultiShardOperation(client: c) { op, out in
            let reply = op.reply(op.parts.count - 1)
            guard let page = ScanPage(reply) else { out.append(reply); return true }  // an option error
            returned += page.count
            if page.next != 0 && page.next < shards && returned < count {
                op.addPart(shard: Int(page.next), command: Part.scan, spanIndices: [name, zero, shardCount] + options)
                return false
            }
            out.writeArrayHeader(2)
            out.writeBulk(string: String(page.next))
            out.writeArrayHeader(returned)
            for i in 0..<op.parts.count { if let p = ScanPage(op.reply(i)) { out.append(p.keys) } }
            return true
        }
        op.pausesClient = true  // later steps must run before the client's next commands
        name = op.store(string: InternalCommand.scan.name)
        zero = op.store(string: "0")
        shardCount = op.store(string: String(shards))
        for i in 2..<args.count { options.append(op.store(args[i])) }
        op.addPart(shard: Int(cursor % shards), command: Part.scan,
                   spanIndices: [name, op.store(string: String(cursor / shards)), shardCount] + options)
        w.start(op, client: c, out: &out)
    }

    /// SCAN's COUNT if well-formed, else the default (the shard part reports bad options).
    static func scanCount(_ args: Arguments) -> Int {
        var count = 10
        var i = 2
        while i + 1 < args.count {
            if argIs(args[i], "count"), let n = args.integer(i + 1), n >= 1 { count = n }
            i += 2
        }
        return count
    }

    /// A shard's SCAN reply: `*2 $next *n keys...`.
    struct ScanPage {
        var next: UInt64
        var count: Int
        var keys: UnsafeRawBufferPointer

        init?(_ r: UnsafeRawBufferPointer) {
            guard let (two, cursorAt) = leadingNumber(r, marker: UInt8(ascii: "*")), two == 2,
                  let (length, digitsAt) = leadingNumber(UnsafeRawBufferPointer(rebasing: r[cursorAt...]),
                                                         marker: UInt8(ascii: "$")) else { return nil }
            let digits = cursorAt + digitsAt
            let arrayAt = digits + length + 2
            guard arrayAt < r.count,
                  let next = parseCursor(UnsafeRawBufferPointer(rebasing: r[digits..<(digits + length)])),
                  let (n, keysAt) = leadingNumber(UnsafeRawBufferPointer(rebasing: r[arrayAt...]),
                                                  marker: UInt8(ascii: "*")) else { return nil }
            self.next = next
            count = n
            keys = UnsafeRawBufferPointer(rebasing: r[(arrayAt + keysAt)...])
        }
    }

    /// Redis's cursor parsing (strtoul): optional sign, decimal digits, no surrounding
    /// spaces; "-1" wraps around as in C; an empty string is cursor 0.
    static func parseCursor(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        let end = bytes.firstIndex(of: 0) ?? bytes.count  // C string: ends at a NUL
        guard end > 0 else { return 0 }
        let first = bytes[0]
        if first == 32 || (first >= 9 && first <= 13) { return nil }
        var i = 0
        let negative = first == UInt8(ascii: "-")
        if negative || first == UInt8(ascii: "+") { i = 1 }
        let digitsStart = i
        var value: UInt64 = 0
        while i < end, bytes[i] >= 48 && bytes[i] <= 57 {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(bytes[i] - 48))
            if o1 || o2 { return nil }
            value = s
            i += 1
        }
        guard i > digitsStart && i == end else { return nil }
        return negative ? 0 &- value : value
    }

    /// One SCAN call on this shard: `__scan local shardCount [options...]`.
    static func scanPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let start = parseCursor(args[1]), let shards = parseCursor(args[2]), shards > 0 else {
            out.writeError("ERR invalid cursor")
            return
        }
        var count = 10
        var pattern: UnsafeRawBufferPointer?
        var wantedType: String?
        var i = 3
        while i < args.count {
            let more = args.count - i >= 2
            if argIs(args[i], "count") && more {
                guard let n = args.integer(i + 1) else { out.writeError(Errors.notInteger); return }
                guard n >= 1 else { out.writeError(Errors.syntax); return }
                count = n
            } else if argIs(args[i], "match") && more {
                let p = args[i + 1]
                pattern = p.count == 1 && p[0] == UInt8(ascii: "*") ? nil : p
            } else if argIs(args[i], "type") && more {
                wantedType = lowercased(args[i + 1])
            } else {
                out.writeError(Errors.syntax)
                return
            }
            i += 2
        }

        // As Redis: stop after `count` keys (counted before filtering) or 10×count buckets.
        var cursor = start
        var bucketsLeft = count > Int.max / 10 ? Int.max : count * 10
        var visited = 0
        var matched = 0
        var body = ByteBuffer(capacity: 512)
        // Redis looks up (so deletes) an expired key that passes MATCH; with TYPE, that
        // lookup is a keyspace miss.
        let looksUpExpired = { (e: Entry) -> Bool in
            if let pattern, !Glob.matches(pattern, e.key) { return false }
            if wantedType != nil { ctx.shard.keyspaceMisses += 1 }
            return true
        }
        while true {
            cursor = ctx.shard.scan(db: ctx.db, cursor: cursor, looksUpExpired: looksUpExpired) { e in
                visited += 1
                if let pattern, !Glob.matches(pattern, e.key) { return }
                if let wantedType {
                    ctx.shard.keyspaceHits += 1   // Redis 7.0 looks the key up (a read) to learn its type
                    if typeName(e) != wantedType { return }
                }
                body.writeBulk(e.key)
                matched += 1
            }
            let budgetRemained = bucketsLeft != 0
            bucketsLeft -= 1
            if cursor == 0 || !budgetRemained || visited >= count { break }
        }

        let me = UInt64(ctx.shard.index)
        let next: UInt64 = cursor != 0 ? cursor &* shards &+ me : (me + 1 < shards ? me + 1 : 0)
        out.writeArrayHeader(2)
        out.writeBulk(string: String(next))
        out.writeArrayHeader(matched)
        out.append(body.readable)
    }

    /// Runs one internal part on `shard` and relays its reply as the command's reply.
    static func runOnePart(_ w: Worker, _ c: Client, shard: Int, part: UInt16, out: inout ByteBuffer,
                           arguments: (MultiShardOperation) -> [Int]) {
        let op = MultiShardOperation(client: c) { op, out in
            out.append(op.reply(0))
            return true
        }
        op.addPart(shard: shard, command: part, spanIndices: arguments(op))
        w.start(op, client: c, out: &out)
    }

    // MARK: RANDOMKEY

    /// Each shard answers with its key count and one random key; the pick among shards is
    /// weighted by their counts so that every key is about equally likely.
    static func randomKey(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        w.fanOut(c, args, part: .randomkey, out: &out) { op, out in
            var candidates: [(weight: Int, key: UnsafeRawBufferPointer)] = []
            for i in 0..<op.parts.count {
                let r = op.reply(i)
                guard let (n, keyStart) = leadingNumber(r, marker: UInt8(ascii: ":")), keyStart < r.count,
                      let (length, bytesStart) = leadingNumber(UnsafeRawBufferPointer(rebasing: r[keyStart...]),
                                                               marker: UInt8(ascii: "$")) else { continue }
                let from = keyStart + bytesStart
                candidates.append((max(n, 1), UnsafeRawBufferPointer(rebasing: r[from..<(from + length)])))
            }
            let total = candidates.reduce(0) { $0 + $1.weight }
            guard total > 0 else { out.writeNull(op.resp); return true }
            var pick = Int.random(in: 0..<total)
            for candidate in candidates {
                if pick < candidate.weight { out.writeBulk(candidate.key); break }
                pick -= candidate.weight
            }
            return true
        }
    }

    /// `:count` followed by a bulk key if this shard has a live one.
    static func randomKeyPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let e = ctx.shard.randomEntry(db: ctx.db)  // first: it may delete expired keys
        out.writeInteger(ctx.shard.keyCount(db: ctx.db))
        if let e { out.writeBulk(e.key) }
    }

    // MARK: RENAME, COPY, MOVE (one shard)

    static func rename(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer, nx: Bool) {
        let shard = ctx.shard
        guard let e = shard.lookup(db: ctx.db, key: args[1]) else { out.writeError(Errors.noSuchKey); return }
        if e.keyEquals(args[2]) {
            if nx { out.writeInteger(0) } else { out.writeOK() }
            return
        }
        if nx && shard.lookup(db: ctx.db, key: args[2]) != nil { out.writeInteger(0); return }
        let moved = e.copy(newKey: args[2])  // keeps the TTL
        shard.delete(db: ctx.db, key: args[1])
        _ = shard.attach(moved, db: ctx.db, replace: true)
        if nx { out.writeInteger(1) } else { out.writeOK() }
    }

    /// A new block holding `e`'s value and TTL under `key`; values of other types are
    /// duplicated (COPY must not share a mutable value).
    static func duplicate(_ e: Entry, key: UnsafeRawBufferPointer) -> Entry {
        if e.kind == .object, let value = e.object as? any ValueType {
            let d = Entry.makeObject(key: key, hash: KeyTable.hash(key), object: value.duplicate())
            d.expireAt = e.expireAt
            return d
        }
        let d = e.copy(newKey: key)
        // Redis's dupStringObject gives an integer its own object: no longer a shared one.
        if encodingName(e) == "int" { d.flags.insert(.unsharedInteger) }
        return d
    }

    /// COPY's options after the keys: [DB n] [REPLACE]. Nil after writing the error.
    static func parseCopyOptions(_ args: Arguments, db: Int, databases: Int,
                                 out: inout ByteBuffer) -> (db: Int, replace: Bool)? {
        var target = db
        var replace = false
        var j = 3
        while j < args.count {
            if argIs(args[j], "replace") {
                replace = true
            } else if argIs(args[j], "db") && j + 1 < args.count {
                guard let id = int32Argument(args[j + 1], out: &out) else { return nil }
                guard id >= 0 && id < databases else { out.writeError(Errors.dbIndexOutOfRange); return nil }
                target = id
                j += 1
            } else {
                out.writeError(Errors.syntax)
                return nil
            }
            j += 1
        }
        return (target, replace)
    }

    /// Redis's getIntFromObjectOrReply: an integer that fits in 32 bits.
    static func int32Argument(_ bytes: UnsafeRawBufferPointer, out: inout ByteBuffer) -> Int? {
        guard let v = parseStrictInt(bytes) else { out.writeError(Errors.notInteger); return nil }
        guard v >= Int(Int32.min) && v <= Int(Int32.max) else {
            out.writeError("ERR value is out of range, value must between -2147483648 and 2147483647")
            return nil
        }
        return v
    }

    static func copy(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let shard = ctx.shard
        guard let (target, replace) = parseCopyOptions(args, db: ctx.db, databases: shard.databaseCount,
                                                       out: &out) else { return }
        let src = args[1], dst = args[2]
        if target == ctx.db && src.elementsEqual(dst) {
            out.writeError("ERR source and destination objects are the same")
            return
        }
        guard let e = shard.lookupForRead(db: ctx.db, key: src) else { out.writeInteger(0); return }
        if !replace && shard.lookup(db: target, key: dst) != nil { out.writeInteger(0); return }
        _ = shard.attach(duplicate(e, key: dst), db: target, replace: true)
        out.writeInteger(1)
    }

    static func move(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let shard = ctx.shard
        guard let target = int32Argument(args[2], out: &out) else { return }
        guard target >= 0 && target < shard.databaseCount else { out.writeError(Errors.dbIndexOutOfRange); return }
        guard target != ctx.db else { out.writeError("ERR source and destination objects are the same"); return }
        guard shard.lookup(db: ctx.db, key: args[1]) != nil,
              shard.lookup(db: target, key: args[1]) == nil,
              let e = shard.detach(db: ctx.db, key: args[1]) else { out.writeInteger(0); return }
        _ = shard.attach(e, db: target, replace: true)
        out.writeInteger(1)
    }

    // MARK: RENAME, COPY across shards

    // A moved value travels between shard threads as its entry block: the part reply that
    // carries it is an 8-byte bulk string holding the block's address, and whoever holds
    // the reply owns the block (attaches it, passes it on, or frees it).

    static func writeHandoff(_ e: Entry, _ out: inout ByteBuffer) {
        withUnsafeBytes(of: UInt(bitPattern: e.raw)) { out.writeBulk($0) }
    }

    /// The address bytes in a part reply that hands over a block, else nil.
    static func handoffBytes(_ r: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard r.count == 14, r[0] == UInt8(ascii: "$"), r[1] == UInt8(ascii: "8") else { return nil }
        return UnsafeRawBufferPointer(rebasing: r[4..<12])
    }

    static func handoffEntry(_ bytes: UnsafeRawBufferPointer) -> Entry? {
        guard bytes.count == MemoryLayout<UInt>.size else { return nil }
        return UnsafeMutableRawPointer(bitPattern: bytes.loadUnaligned(as: UInt.self)).map { Entry(raw: $0) }
    }

    /// `__detach src dst`: removes `src` and hands over its value and TTL as a block keyed `dst`.
    static func detachPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let e = ctx.shard.lookup(db: ctx.db, key: args[1]) else { out.writeError(Errors.noSuchKey); return }
        let moved = e.copy(newKey: args[2])
        ctx.shard.delete(db: ctx.db, key: args[1])
        writeHandoff(moved, &out)
    }

    /// `__copyout src dst`: hands over a copy of `src` keyed `dst`, or `:0` if `src` is missing.
    static func copyOutPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let e = ctx.shard.lookupForRead(db: ctx.db, key: args[1]) else { out.writeInteger(0); return }
        writeHandoff(duplicate(e, key: args[2]), &out)
    }

    /// `__attach key block db replace|nx`: stores the block under `key` (re-keying it if
    /// needed) and replies `:1`; if `nx` finds a live key, hands the block back instead.
    static func attachPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let given = handoffEntry(args[2]), let db = parseStrictInt(args[3]) else {
            out.writeError("ERR invalid handoff")
            return
        }
        var e = given
        if !given.keyEquals(args[1]) {
            e = given.copy(newKey: args[1])
            given.free()
        }
        if ctx.shard.attach(e, db: db, replace: argIs(args[4], "replace")) {
            out.writeInteger(1)
        } else {
            writeHandoff(e, &out)
        }
    }

    /// RENAME/RENAMENX of keys on two shards, in steps:
    /// RENAMENX first checks both keys (the error for a missing source wins over 0);
    /// then the source is detached, then attached at the destination. If a destination
    /// appeared in between, RENAMENX puts the value back under the source key.
    static func renameAcrossShards(_ w: Worker, _ c: Client, _ args: Arguments, nx: Bool, _ out: inout ByteBuffer) {
        let srcShard = w.shardOf(args[1]), dstShard = w.shardOf(args[2])
        let db = c.db
        enum Step: Int { case check, detach, attach, putBack }
        var name = 0, src = 0, dst = 0, dbSpan = 0, mode = 0
        let op = MultiShardOperation(client: c) { op, out in
            let last = op.parts.count - 1
            let reply = op.reply(last)
            switch Step(rawValue: op.state)! {
            case .check:
                if isZero(op.reply(0)) { out.writeError(Errors.noSuchKey); return true }
                if !isZero(op.reply(1)) { out.writeInteger(0); return true }
                op.state = Step.detach.rawValue
                op.addPart(shard: srcShard, command: Part.detach, spanIndices: [name, src, dst])
                return false
            case .detach:
                guard let block = handoffBytes(reply) else { out.append(reply); return true }
                op.state = Step.attach.rawValue
                op.addPart(shard: dstShard, command: Part.attach, spanIndices: [name, dst, op.store(block), dbSpan, mode])
                return false
            case .attach:
                guard let block = handoffBytes(reply) else {
                    if nx { out.writeInteger(1) } else { out.writeOK() }
                    return true
                }
                op.state = Step.putBack.rawValue
                op.addPart(shard: srcShard, command: Part.attach, spanIndices: [name, src, op.store(block), dbSpan, mode])
                return false
            case .putBack:
                // The source was recreated meanwhile: that write wins, the moved value is dropped.
                if let block = handoffBytes(reply) { handoffEntry(block)?.free() }
                out.writeInteger(0)
                return true
            }
        }
        op.pausesClient = true  // later steps must run before the client's next commands
        name = op.store(string: "__rename")
        src = op.store(args[1])
        dst = op.store(args[2])
        dbSpan = op.store(string: String(db))
        mode = op.store(string: nx ? "nx" : "replace")
        if nx {
            op.addPart(shard: srcShard, command: Part.countExisting, spanIndices: [name, src])
            op.addPart(shard: dstShard, command: Part.countExisting, spanIndices: [name, dst])
        } else {
            op.state = Step.detach.rawValue
            op.addPart(shard: srcShard, command: Part.detach, spanIndices: [name, src, dst])
        }
        w.start(op, client: c, out: &out)
    }

    static func isZero(_ reply: UnsafeRawBufferPointer) -> Bool {
        reply.count == 4 && reply[0] == UInt8(ascii: ":") && reply[1] == UInt8(ascii: "0")
    }

    /// COPY of keys on two shards: copy out of the source, then attach at the destination.
    static func copyAcrossShards(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let (target, replace) = parseCopyOptions(args, db: c.db, databases: w.context.databases,
                                                       out: &out) else { return }
        let dstShard = w.shardOf(args[2])
        var name = 0, dst = 0, dbSpan = 0, mode = 0
        let op = MultiShardOperation(client: c) { op, out in
            let reply = op.reply(op.parts.count - 1)
            if op.state == 0 {
                guard let block = handoffBytes(reply) else { out.append(reply); return true }  // :0, no source
                op.state = 1
                op.addPart(shard: dstShard, command: Part.attach, spanIndices: [name, dst, op.store(block), dbSpan, mode])
                return false
            }
            if let block = handoffBytes(reply) {
                handoffEntry(block)?.free()  // the destination exists and REPLACE was not given
                out.writeInteger(0)
            } else {
                out.append(reply)
            }
            return true
        }
        op.pausesClient = true  // later steps must run before the client's next commands
        name = op.store(string: "__copy")
        let src = op.store(args[1])
        dst = op.store(args[2])
        dbSpan = op.store(string: String(target))
        mode = op.store(string: replace ? "replace" : "nx")
        op.addPart(shard: w.shardOf(args[1]), command: Part.copyOut, spanIndices: [name, src, dst])
        w.start(op, client: c, out: &out)
    }

    // MARK: SWAPDB

    static func swapdb(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let a = parseStrictInt(args[1]), a >= Int(Int32.min), a <= Int(Int32.max) else {
            out.writeError("ERR invalid first DB index")
            return
        }
        guard let b = parseStrictInt(args[2]), b >= Int(Int32.min), b <= Int(Int32.max) else {
            out.writeError("ERR invalid second DB index")
            return
        }
        let n = w.context.databases
        guard a >= 0 && a < n && b >= 0 && b < n else { out.writeError(Errors.dbIndexOutOfRange); return }
        // Every shard swaps its two tables, under whole-shard locks (the fan-out takes them).
        w.fanOut(c, args, part: .swapdb, out: &out) { op, out in
            if let error = op.firstError() { out.append(error) } else { out.writeOK() }
            return true
        }
    }

    static func swapdbPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let a = parseStrictInt(args[1]), let b = parseStrictInt(args[2]) else {
            out.writeError(Errors.dbIndexOutOfRange)
            return
        }
        if a != b { ctx.shard.swapDatabases(a, b) }
        out.writeOK()
    }

    // MARK: OBJECT

    /// OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key. The client's worker reads the eviction
    /// policy (the shard has no config) and passes it to the key's shard.
    static func object(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        let (policy, maxmemory) = w.context.config.withLock { ($0.value("maxmemory-policy"), $0.integer("maxmemory")) }
        let lfu = policy.hasSuffix("lfu")
        // Redis shares the integers 0..<10000 unless an LRU/LFU policy needs per-key metadata.
        let sharedIntegers = maxmemory == 0 || !(policy.hasSuffix("lru") || lfu)
        runOnePart(w, c, shard: w.shardOf(args[2]), part: Part.object, out: &out) { op in
            [op.store(args[1]), op.store(args[1]), op.store(args[2]),
             op.store(string: lfu ? "1" : "0"), op.store(string: sharedIntegers ? "1" : "0")]
        }
    }

    /// `__object subcommand key lfu sharedIntegers`.
    static func objectPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let e = peek(ctx, args[2]) else { out.writeNull(ctx.resp); return }
        let lfu = argIs(args[3], "1")
        let sub = args[1]
        if argIs(sub, "encoding") {
            out.writeBulk(string: encodingName(e))
        } else if argIs(sub, "refcount") {
            let shared = argIs(args[4], "1") && encodingName(e) == "int" && !e.flags.contains(.unsharedInteger)
                && (parseStrictInt(e.value).map { $0 >= 0 && $0 < 10000 } ?? false)
            out.writeInteger(shared ? Int(Int32.max) : 1)
        } else if argIs(sub, "idletime") {
            guard !lfu else {
                out.writeError("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
                return
            }
            out.writeInteger(max(0, Int(ctx.shard.now / 1000) - Int(e.lastAccess)))
        } else {
            guard lfu else {
                out.writeError("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
                return
            }
            out.writeInteger(Int(e.frequency))
        }
    }

    /// OBJECT ENCODING's answer: strings are "int" if they read as a 64-bit integer,
    /// "embstr" up to 44 bytes, else "raw" (and always "raw" once APPEND/SETRANGE wrote them;
    /// never "int" for INCRBYFLOAT's text).
    static func encodingName(_ e: Entry) -> String {
        if e.kind == .object { return (e.object as? any ValueType)?.encodingName ?? "unknown" }
        if e.flags.contains(.rawEncoding) { return "raw" }
        let value = e.value
        if value.count <= 20 && !e.flags.contains(.notIntegerEncoded) && parseStrictInt(value) != nil { return "int" }
        return value.count <= 44 ? "embstr" : "raw"
    }

    static func objectHelp(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        writeHelp("OBJECT", [
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ], &out)
    }
}
