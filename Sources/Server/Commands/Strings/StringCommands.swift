import RESP
import Shards
#if canImport(Glibc)
import Glibc
#endif

/// String commands (Redis's t_string.c): GET, SET and its variants, counters, ranges.
enum StringCommands {
    static let specs: [CommandSpec] = [
        CommandSpec("get", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "string",
                    summary: "Reads a string.", run: .keyed(get, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.read, .string, .fast], keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [.key("key")]),
        CommandSpec("set", arity: -3, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "string",
                    summary: "Stores a string, with optional conditions, expiry and the old value in reply.",
                    run: .keyed(set, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.write, .string, .slow],
                       keySpecs: [KeySpec(["RW", "access", "update", "variable_flags"], index: 1, notes: "RW and ACCESS due to the optional `GET` argument")],
                       arguments: [
                           .key("key"),
                           .string("value"),
                           .oneOf("condition", [.token("NX"), .token("XX")]).optional,
                           .token("GET").optional,
                           .oneOf("expiration", [
                               .integer("seconds", token: "EX"),
                               .integer("milliseconds", token: "PX"),
                               .unixTime("unix-time-seconds", token: "EXAT"),
                               .unixTime("unix-time-milliseconds", token: "PXAT"),
                               .token("KEEPTTL"),
                           ]).optional,
                       ]),
        CommandSpec("setnx", arity: 3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "string",
                    summary: "Stores a string unless the key exists.",
                    run: .keyed(setnx, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.write, .string, .fast], keySpecs: [KeySpec(["OW", "insert"], index: 1)],
                       arguments: [.key("key"), .string("value")]),
        CommandSpec("setex", arity: 4, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "string",
                    summary: "Stores a string that expires after some seconds.",
                    run: .keyed(setex, split: nil, crossShard: nil))
            .described(since: "2.0.0", acl: [.write, .string, .slow], keySpecs: [KeySpec(["OW", "update"], index: 1)],
                       arguments: [.key("key"), .integer("seconds"), .string("value")]),
        CommandSpec("psetex", arity: 4, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "string",
                    summary: "Stores a string that expires after some milliseconds.",
                    run: .keyed(psetex, split: nil, crossShard: nil))
            .described(since: "2.6.0", acl: [.write, .string, .slow], keySpecs: [KeySpec(["OW", "update"], index: 1)],
                       arguments: [.key("key"), .integer("milliseconds"), .string("value")]),
        CommandSpec("getset", arity: 3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "string",
                    summary: "Stores a string and replies with the one it replaced.",
                    run: .keyed(getset, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.write, .string, .fast],
                       keySpecs: [KeySpec(["RW", "access", "update"], index: 1)],
                       arguments: [.key("key"), .string("value")]),
        CommandSpec("getdel", arity: 2, flags: [.write, .fast], keys: (1, 1, 1), group: "string",
                    summary: "Reads a string and removes the key.",
                    run: .keyed(getdel, split: nil, crossShard: nil))
            .described(since: "6.2.0", acl: [.write, .string, .fast],
                       keySpecs: [KeySpec(["RW", "access", "delete"], index: 1)], arguments: [.key("key")]),
        CommandSpec("getex", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: "string",
                    summary: "Reads a string and changes or removes its expiry.",
                    run: .keyed(getex, split: nil, crossShard: nil))
            .described(since: "6.2.0", acl: [.write, .string, .fast],
                       keySpecs: [KeySpec(["RW", "access", "update"], index: 1, notes: "RW and UPDATE because it changes the TTL")],
                       arguments: [
                           .key("key"),
                           .oneOf("expiration", [
                               .integer("seconds", token: "EX"),
                               .integer("milliseconds", token: "PX"),
                               .unixTime("unix-time-seconds", token: "EXAT"),
                               .unixTime("unix-time-milliseconds", token: "PXAT"),
                               .token("PERSIST"),
                           ]).optional,
                       ]),
        CommandSpec("mget", arity: -2, flags: [.readonly, .fast], keys: (1, -1, 1), group: "string",
                    summary: "Reads several strings at once.",
                    run: .keyed(mget, split: nil, crossShard: mgetAcrossShards))
            .described(since: "1.0.0", acl: [.read, .string, .fast], tips: ["request_policy:multi_shard"],
                       keySpecs: [KeySpec(["RO", "access"], index: 1, lastKey: -1)],
                       arguments: [.key("key").multiple]),
        // MSET does not use `split`: an even argument count must get the arity error before
        // anything is split in pairs, so the cross-shard path is a client handler that checks it.
        CommandSpec("mset", arity: -3, flags: [.write, .denyOOM], keys: (1, -1, 2), group: "string",
                    summary: "Stores several strings at once.",
                    run: .keyed(mset, split: nil, crossShard: msetAcrossShards))
            .described(since: "1.0.1", acl: [.write, .string, .slow],
                       tips: ["request_policy:multi_shard", "response_policy:all_succeeded"],
                       keySpecs: [KeySpec(["OW", "update"], index: 1, lastKey: -1, keyStep: 2)],
                       arguments: [.block("key_value", [.key("key"), .string("value")]).multiple]),
        CommandSpec("msetnx", arity: -3, flags: [.write, .denyOOM], keys: (1, -1, 2), group: "string",
                    summary: "Stores several strings at once, only if none of the keys exists.",
                    run: .keyed(msetnx, split: nil, crossShard: msetnxAcrossShards))
            .described(since: "1.0.1", acl: [.write, .string, .slow],
                       tips: ["request_policy:multi_shard", "response_policy:agg_min"],
                       keySpecs: [KeySpec(["OW", "insert"], index: 1, lastKey: -1, keyStep: 2)],
                       arguments: [.block("key_value", [.key("key"), .string("value")]).multiple]),
        CommandSpec(part: .countExisting, arity: -2, keys: (1, -1, 1), group: "string",
                    run: .keyed(countExisting, split: nil, crossShard: nil)),
        CommandSpec("append", arity: 3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "string",
                    summary: "Adds bytes at the end of a string, creating it if needed.",
                    run: .keyed(append, split: nil, crossShard: nil))
            .described(since: "2.0.0", acl: [.write, .string, .fast], keySpecs: [KeySpec(["RW", "insert"], index: 1)],
                       arguments: [.key("key"), .string("value")]),
        CommandSpec("strlen", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "string",
                    summary: "Length of a string in bytes.", run: .keyed(strlen, split: nil, crossShard: nil))
            .described(since: "2.2.0", acl: [.read, .string, .fast], keySpecs: [KeySpec(["RO"], index: 1)],
                       arguments: [.key("key")]),
        CommandSpec("getrange", arity: 4, flags: [.readonly], keys: (1, 1, 1), group: "string",
                    summary: "Bytes of a string between two offsets.",
                    run: .keyed(getrange, split: nil, crossShard: nil))
            .described(since: "2.4.0", acl: [.read, .string, .slow], keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [.key("key"), .integer("start"), .integer("end")]),
        CommandSpec("substr", arity: 4, flags: [.readonly], keys: (1, 1, 1), group: "string",
                    summary: "Bytes of a string between two offsets (older name of GETRANGE).", run: .keyed(getrange, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.read, .string, .slow], keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [.key("key"), .integer("start"), .integer("end")]),
        CommandSpec("setrange", arity: 4, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "string",
                    summary: "Writes bytes into a string at an offset, padding with zeros if needed.",
                    run: .keyed(setrange, split: nil, crossShard: nil))
            .described(since: "2.2.0", acl: [.write, .string, .slow], keySpecs: [KeySpec(["RW", "update"], index: 1)],
                       arguments: [.key("key"), .integer("offset"), .string("value")]),
        CommandSpec("incr", arity: 2, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "string",
                    summary: "Adds one to an integer string (a missing key counts as 0).",
                    run: .keyed(incr, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.write, .string, .fast],
                       keySpecs: [KeySpec(["RW", "access", "update"], index: 1)], arguments: [.key("key")]),
        CommandSpec("decr", arity: 2, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "string",
                    summary: "Subtracts one from an integer string (a missing key counts as 0).",
                    run: .keyed(decr, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.write, .string, .fast],
                       keySpecs: [KeySpec(["RW", "access", "update"], index: 1)], arguments: [.key("key")]),
        CommandSpec("incrby", arity: 3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "string",
                    summary: "Adds an integer to an integer string (a missing key counts as 0).",
                    run: .keyed(incrby, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.write, .string, .fast],
                       keySpecs: [KeySpec(["RW", "access", "update"], index: 1)],
                       arguments: [.key("key"), .integer("increment")]),
        CommandSpec("decrby", arity: 3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "string",
                    summary: "Subtracts an integer from an integer string (a missing key counts as 0).",
                    run: .keyed(decrby, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.write, .string, .fast],
                       keySpecs: [KeySpec(["RW", "access", "update"], index: 1)],
                       arguments: [.key("key"), .integer("decrement")]),
        CommandSpec("incrbyfloat", arity: 3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "string",
                    summary: "Adds a decimal number to a numeric string (a missing key counts as 0).",
                    run: .keyed(incrbyfloat, split: nil, crossShard: nil))
            .described(since: "2.6.0", acl: [.write, .string, .fast],
                       keySpecs: [KeySpec(["RW", "access", "update"], index: 1)],
                       arguments: [.key("key"), .double("increment")]),
    ]

    // MARK: GET

    static func get(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        replyWithValue(ctx, key: args[1], &out)
    }

    /// What `replyWithValue` found (and replied).
    enum ValueReply { case missing, found, wrongType }

    /// Redis's getGenericCommand: replies with the value, a null, or WRONGTYPE.
    @discardableResult
    static func replyWithValue(_ ctx: ShardContext, key: UnsafeRawBufferPointer,
                               _ out: inout ByteBuffer) -> ValueReply {
        guard let e = ctx.shard.lookupForRead(db: ctx.db, key: key) else {
            out.writeNull(ctx.resp)
            return .missing
        }
        guard e.kind == .string else {
            out.writeError(Errors.wrongType)
            return .wrongType
        }
        out.writeBulk(e.value)
        return .found
    }

    // MARK: SET options (Redis's parseExtendedStringArgumentsOrReply)

    enum ExpireUnit { case ex, px, exat, pxat }

    struct ExtendedOptions {
        var nx = false, xx = false, get = false, keepTTL = false, persist = false
        var unit: ExpireUnit?
        /// Index of the EX/PX/EXAT/PXAT value argument.
        var expireArgument = 0
    }

    /// Parses SET's (`forSet`) or GETEX's options from `args[start...]`. As in Redis, an option
    /// may repeat (the last expire value wins) but conflicting ones are a syntax error.
    static func parseExtendedOptions(_ args: Arguments, from start: Int, forSet: Bool,
                                     _ out: inout ByteBuffer) -> ExtendedOptions? {
        var o = ExtendedOptions()
        var j = start
        while j < args.count {
            let a = args[j]
            let hasNext = j + 1 < args.count
            let expireFree = !o.keepTTL && !o.persist
            if forSet && argIs(a, "nx") && !o.xx {
                o.nx = true
            } else if forSet && argIs(a, "xx") && !o.nx {
                o.xx = true
            } else if forSet && argIs(a, "get") {
                o.get = true
            } else if forSet && argIs(a, "keepttl") && !o.persist && o.unit == nil {
                o.keepTTL = true
            } else if !forSet && argIs(a, "persist") && o.unit == nil && !o.keepTTL {
                o.persist = true
            } else if let unit = expireUnit(a), expireFree, o.unit == nil || o.unit == unit, hasNext {
                o.unit = unit
                o.expireArgument = j + 1
                j += 1
            } else {
                out.writeError(Errors.syntax)
                return nil
            }
            j += 1
        }
        return o
    }

    private static func expireUnit(_ a: UnsafeRawBufferPointer) -> ExpireUnit? {
        if argIs(a, "ex") { return .ex }
        if argIs(a, "px") { return .px }
        if argIs(a, "exat") { return .exat }
        if argIs(a, "pxat") { return .pxat }
        return nil
    }

    /// The absolute unix-ms deadline of an EX/PX/EXAT/PXAT value (Redis's
    /// getExpireMillisecondsOrReply), or nil after writing the error reply.
    static func expireDeadline(_ args: Arguments, at index: Int, unit: ExpireUnit, command: String,
                               now: Int64, _ out: inout ByteBuffer) -> Int64? {
        guard var ms = args.integer(index) else { out.writeError(Errors.notInteger); return nil }
        let seconds = unit == .ex || unit == .exat
        if ms <= 0 || (seconds && ms > Int.max / 1000) {
            out.writeError(string: "ERR invalid expire time in '\(command)' command")
            return nil
        }
        if seconds { ms *= 1000 }
        // Relative times are added to the clock; an overflow wraps negative, as in Redis.
        if unit == .ex || unit == .px { ms = ms &+ Int(now) }
        if ms <= 0 {
            out.writeError(string: "ERR invalid expire time in '\(command)' command")
            return nil
        }
        return Int64(ms)
    }

    // MARK: SET family

    /// What SET variants reply when they set the key, and when NX/XX stops them.
    enum SetReplies { case okOrNull, oneOrZero }

    /// Redis's setGenericCommand: `deadline` is the parsed expire (if any).
    static func setGeneric(_ ctx: ShardContext, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer,
                           options o: ExtendedOptions, deadline: Int64?, replies: SetReplies,
                           _ out: inout ByteBuffer) {
        let shard = ctx.shard
        if o.get && replyWithValue(ctx, key: key, &out) == .wrongType { return }
        // Only NX/XX need to know whether the key exists; setString copes with either.
        if o.nx || o.xx, (shard.lookup(db: ctx.db, key: key) != nil) == o.nx {
            if !o.get {
                if replies == .oneOrZero { out.writeInteger(0) } else { out.writeNull(ctx.resp) }
            }
            return
        }
        if let d = deadline, d <= shard.now, shard.expiryDeletesOnAccess {
            // An EXAT/PXAT already past: the key would be born expired, so it is simply gone.
            // Redis stores it and expires it at its next lookup: that counts as an expired key.
            // (A replica stores it: the master's DEL removes it.)
            shard.delete(db: ctx.db, key: key)
            shard.expiredKeys += 1
            if ctx.replicating { ctx.propagate(.text("DEL"), .bytes(key)) }
            // Redis stores it, then expires it at its next lookup: the same three events.
            ctx.notify(KeyspaceEvent.string, "set", key)
            ctx.notify(KeyspaceEvent.generic, "expire", key)
            ctx.notify(KeyspaceEvent.expired, "expired", key)
        } else {
            shard.setString(db: ctx.db, key: key, value: value, expireAt: o.keepTTL ? nil : (deadline ?? 0))
            ctx.notify(KeyspaceEvent.string, "set", key)
            if deadline != nil { ctx.notify(KeyspaceEvent.generic, "expire", key) }
            // Replicas get the absolute deadline (Redis propagates SET key value PXAT ms), and no GET.
            if let d = deadline {
                if ctx.replicating { ctx.propagate(.text("SET"), .bytes(key), .bytes(value), .text("PXAT"), .text(String(d))) }
            } else if o.get && ctx.replicating {
                if o.keepTTL { ctx.propagate(.text("SET"), .bytes(key), .bytes(value), .text("KEEPTTL")) }
                else { ctx.propagate(.text("SET"), .bytes(key), .bytes(value)) }
            }
        }
        if !o.get {
            if replies == .oneOrZero { out.writeInteger(1) } else { out.writeOK() }
        }
    }

    static func set(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let o = parseExtendedOptions(args, from: 3, forSet: true, &out) else { return }
        var deadline: Int64?
        if let unit = o.unit {
            deadline = expireDeadline(args, at: o.expireArgument, unit: unit, command: "set", now: ctx.shard.now, &out)
            if deadline == nil { return }
        }
        setGeneric(ctx, key: args[1], value: args[2], options: o, deadline: deadline, replies: .okOrNull, &out)
    }

    static func setnx(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var o = ExtendedOptions()
        o.nx = true
        setGeneric(ctx, key: args[1], value: args[2], options: o, deadline: nil, replies: .oneOrZero, &out)
    }

    static func setex(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        setWithExpire(ctx, args, unit: .ex, command: "setex", &out)
    }

    static func psetex(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        setWithExpire(ctx, args, unit: .px, command: "psetex", &out)
    }

    /// SETEX/PSETEX key time value.
    private static func setWithExpire(_ ctx: ShardContext, _ args: Arguments, unit: ExpireUnit, command: String,
                                      _ out: inout ByteBuffer) {
        guard let deadline = expireDeadline(args, at: 2, unit: unit, command: command, now: ctx.shard.now, &out)
        else { return }
        var o = ExtendedOptions()
        o.unit = unit
        setGeneric(ctx, key: args[1], value: args[3], options: o, deadline: deadline, replies: .okOrNull, &out)
    }

    static func getset(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard replyWithValue(ctx, key: args[1], &out) != .wrongType else { return }
        ctx.shard.setString(db: ctx.db, key: args[1], value: args[2], expireAt: 0)
        ctx.notify(KeyspaceEvent.string, "set", args[1])
    }

    static func getdel(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard replyWithValue(ctx, key: args[1], &out) == .found else { return }
        ctx.shard.delete(db: ctx.db, key: args[1])
        if ctx.replicating { ctx.propagate(.text("DEL"), .bytes(args[1])) }
        ctx.notify(KeyspaceEvent.generic, "del", args[1])
    }

    static func getex(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let o = parseExtendedOptions(args, from: 2, forSet: false, &out) else { return }
        let shard = ctx.shard
        guard let e = shard.lookupForRead(db: ctx.db, key: args[1]) else { out.writeNull(ctx.resp); return }
        guard e.kind == .string else { out.writeError(Errors.wrongType); return }
        var deadline: Int64 = 0
        if let unit = o.unit {
            guard let d = expireDeadline(args, at: o.expireArgument, unit: unit, command: "getex", now: shard.now, &out)
            else { return }
            deadline = d
        }
        out.writeBulk(e.value)
        if o.unit != nil && deadline <= shard.now && shard.expiryDeletesOnAccess {
            shard.delete(db: ctx.db, key: args[1])   // EXAT/PXAT in the past (a replica waits for the master's DEL)
            if ctx.replicating { ctx.propagate(.text("DEL"), .bytes(args[1])) }
            ctx.notify(KeyspaceEvent.generic, "del", args[1])
        } else if o.unit != nil {
            shard.setExpire(db: ctx.db, entry: e, at: deadline)
            if ctx.replicating { ctx.propagate(.text("PEXPIREAT"), .bytes(args[1]), .text(String(deadline))) }
            ctx.notify(KeyspaceEvent.generic, "expire", args[1])
        } else if o.persist && e.expireAt != 0 {
            shard.setExpire(db: ctx.db, entry: e, at: 0)
            if ctx.replicating { ctx.propagate(.text("PERSIST"), .bytes(args[1])) }
            ctx.notify(KeyspaceEvent.generic, "persist", args[1])
        }
    }

    // MARK: MGET / MSET / MSETNX

    static func mget(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let shard = ctx.shard
        shard.prefetch(db: ctx.db, args, first: 1)
        out.writeArrayHeader(args.count - 1)
        for i in 1..<args.count {
            if let e = shard.lookupForRead(db: ctx.db, key: args[i]), e.kind == .string {
                out.writeBulk(e.value)
            } else {
                out.writeNull(ctx.resp)
            }
        }
    }

    /// MSET/MSETNX take key-value pairs: an even argument count is an arity error.
    private static func pairsOK(_ args: Arguments, _ out: inout ByteBuffer) -> Bool {
        if args.count % 2 == 0 {
            out.writeError(string: "ERR wrong number of arguments for '\(lowercased(args[0]))' command")
            return false
        }
        return true
    }

    private static func setPairs(_ ctx: ShardContext, _ args: Arguments) {
        let shard = ctx.shard
        shard.prefetch(db: ctx.db, args, first: 1, step: 2)
        var i = 1
        while i + 1 < args.count {
            shard.setString(db: ctx.db, key: args[i], value: args[i + 1], expireAt: 0)
            ctx.notify(KeyspaceEvent.string, "set", args[i])
            i += 2
        }
    }

    static func mset(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard pairsOK(args, &out) else { return }
        setPairs(ctx, args)
        out.writeOK()
    }

    static func msetnx(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard pairsOK(args, &out) else { return }
        let shard = ctx.shard
        var i = 1
        while i < args.count {
            if shard.lookup(db: ctx.db, key: args[i]) != nil { out.writeInteger(0); return }
            i += 2
        }
        setPairs(ctx, args)
        out.writeInteger(1)
    }

    /// Part of a cross-shard MSETNX or RENAMENX: how many of the keys exist (no hit/miss
    /// accounting, as Redis's lookupKeyWrite).
    static func countExisting(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let shard = ctx.shard
        shard.prefetch(db: ctx.db, args, first: 1)
        var n = 0
        for i in 1..<args.count where shard.lookup(db: ctx.db, key: args[i]) != nil { n += 1 }
        out.writeInteger(n)
    }

    private static let msetIndex = CommandTable.shared.index(of: "mset")!
    private static let existsCheckIndex = CommandTable.shared.index(of: .countExisting)

    /// Argument indices per shard: for each shard touched, [0 (the name), k, v, k, v...]
    /// (`withValues`) or [0, k, k...]. The operation stores the arguments in order, so an
    /// argument's index is its span index.
    private static func pairsByShard(_ w: Worker, _ args: Arguments, withValues: Bool) -> [(shard: Int, spans: [Int])] {
        var groups = [[Int]](repeating: [], count: w.context.shardCount)
        var i = 1
        while i + 1 < args.count {
            let s = w.shardOf(args, i)
            if groups[s].isEmpty { groups[s].append(0) }
            groups[s].append(i)
            if withValues { groups[s].append(i + 1) }
            i += 2
        }
        return groups.enumerated().filter { !$0.element.isEmpty }.map { (shard: $0.offset, spans: $0.element) }
    }

    private static func storeAll(_ op: MultiShardOperation, _ args: Arguments) {
        for i in 0..<args.count { op.store(args[i]) }
    }

    /// MSET whose keys span shards: one MSET part per shard with that shard's pairs.
    static func msetAcrossShards(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard pairsOK(args, &out) else { return }
        let op = w.operations.make(client: c) { op, out in
            if let error = op.firstError() { out.append(error) } else { out.writeOK() }
            return true
        }
        storeAll(op, args)
        // One part per shard, in the order shards first appear: [name, k, v, k, v...], its
        // pairs in argument order. Each pair's shard is kept on the stack meanwhile.
        let pairs = (args.count - 1) / 2
        withUnsafeTemporaryAllocation(of: Int.self, capacity: pairs + w.context.shardCount) { scratch in
            let shardOfPair = UnsafeMutableBufferPointer(rebasing: scratch[..<pairs])
            let seen = UnsafeMutableBufferPointer(rebasing: scratch[pairs...])
            seen.initialize(repeating: 0)
            for p in 0..<pairs { shardOfPair[p] = w.shardOf(args, 1 + 2 * p) }
            for p in 0..<pairs where seen[shardOfPair[p]] == 0 {
                seen[shardOfPair[p]] = 1
                let first = op.spans.count
                op.spans.append(op.spans[0])
                for q in p..<pairs where shardOfPair[q] == shardOfPair[p] {
                    op.spans.append(op.spans[1 + 2 * q])
                    op.spans.append(op.spans[2 + 2 * q])
                }
                op.addPart(shard: shardOfPair[p], command: msetIndex, spans: first..<op.spans.count, db: op.db, resp: op.resp)
            }
        }
        op.isOneShot = true
        w.start(op, client: c, call: &call, out: &out)
    }

    private static let mgetIndex = CommandTable.shared.index(of: "mget")!

    /// MGET whose keys span shards: one MGET part per shard with that shard's keys (not a
    /// part per key); the reply takes each key's value from its shard's array in turn.
    static func mgetAcrossShards(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        let op = w.operations.make(client: c) { op, out in
            // Part p answers its shard's keys in argument order: a cursor into each reply
            // (on the stack: a cross-shard MGET allocates nothing of its own).
            withUnsafeTemporaryAllocation(of: Int.self, capacity: op.parts.count) { cursors in
                for p in 0..<op.parts.count {
                    let r = op.reply(p)
                    guard r.count > 0, r[0] == UInt8(ascii: "*"), let header = RESPScan.lineEnd(r, from: 0) else {
                        out.append(r)  // an error (none is expected from MGET)
                        return true
                    }
                    cursors[p] = header
                }
                out.writeArrayHeader(op.shardPart.count)
                for p in op.shardPart {
                    let r = op.reply(p)
                    let end = RESPScan.elementEnd(r, from: cursors[p]) ?? r.count
                    out.append(UnsafeRawBufferPointer(rebasing: r[cursors[p]..<end]))
                    cursors[p] = end
                }
                return true
            }
        }
        storeAll(op, args)
        // Parts in the order their shards first appear; each holds [name, its keys...]:
        // first each key's part, then one pass over the keys per part.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: w.context.shardCount) { partOfShard in
            partOfShard.initialize(repeating: -1)
            var shards = 0
            for i in 1..<args.count {
                let s = w.shardOf(args, i)
                if partOfShard[s] < 0 {
                    partOfShard[s] = shards
                    shards += 1
                }
                op.shardPart.append(partOfShard[s])
            }
            for part in 0..<shards {
                let first = op.spans.count
                op.spans.append(op.spans[0])
                for i in 1..<args.count where op.shardPart[i - 1] == part { op.spans.append(op.spans[i]) }
                let shard = partOfShard.firstIndex(of: part)!
                op.addPart(shard: shard, command: mgetIndex, spans: first..<op.spans.count, db: op.db, resp: op.resp)
            }
        }
        op.isOneShot = true
        w.start(op, client: c, call: &call, out: &out)
    }

    /// MSETNX whose keys span shards, in two steps: count the existing keys on every shard,
    /// then, only if there are none, set the pairs (an MSET part per shard).
    /// Both steps run under locks on all the keys, so no other client can create one of
    /// them in between.
    static func msetnxAcrossShards(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard pairsOK(args, &out) else { return }
        let setSteps = pairsByShard(w, args, withValues: true)
        let op = MultiShardOperation(client: c) { op, out in
            if let error = op.firstError() { out.append(error); return true }
            if op.state == 1 { out.writeInteger(1); return true }
            guard op.sumOfIntegers() == 0 else { out.writeInteger(0); return true }
            op.state = 1
            for g in setSteps { op.addPart(shard: g.shard, command: msetIndex, spanIndices: g.spans) }
            return false
        }
        op.pausesClient = true
        storeAll(op, args)
        for g in pairsByShard(w, args, withValues: false) {
            op.addPart(shard: g.shard, command: existsCheckIndex, spanIndices: g.spans)
        }
        w.start(op, client: c, call: &call, out: &out)
    }

    // MARK: APPEND / STRLEN / GETRANGE / SETRANGE

    /// Redis's checkStringLength: `size + append` must fit proto-max-bulk-len.
    private static func lengthOK(_ size: Int, _ append: Int, _ out: inout ByteBuffer) -> Bool {
        let (total, overflow) = size.addingReportingOverflow(append)
        if overflow || total > LiveConfig.protoMaxBulkLen.load(ordering: .relaxed) {
            out.writeError("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
            return false
        }
        return true
    }

    /// Makes `e` (a live string) able to hold `length` value bytes: in place if its block has
    /// room, else in a bigger block (sds-style greedy growth) that replaces it with the same TTL.
    /// Returns the entry to write into, marked raw-encoded; its value length is not changed.
    static func growString(_ ctx: ShardContext, _ e: Entry, to length: Int) -> Entry {
        if length <= e.valueCapacity {
            ctx.shard.noteModified(db: ctx.db, key: e.key)
            e.flags.insert(.rawEncoding)
            return e
        }
        let greedy = length < 1024 * 1024 ? length * 2 : length + 1024 * 1024
        let bigger = Entry.makeString(key: e.key, hash: e.hash, value: e.value, extraCapacity: greedy - e.valueLength)
        bigger.flags = [.rawEncoding]
        bigger.expireAt = e.expireAt
        bigger.lastAccess = e.lastAccess
        bigger.frequency = e.frequency
        ctx.shard.replace(db: ctx.db, old: e, with: bigger)  // notes the change (once, as Redis's dirty++)
        return bigger
    }

    static func append(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let tail = args[2]
        guard let e = ctx.shard.lookup(db: ctx.db, key: args[1]) else {
            ctx.shard.setString(db: ctx.db, key: args[1], value: tail, expireAt: 0)
            ctx.notify(KeyspaceEvent.string, "append", args[1])
            out.writeInteger(tail.count)
            return
        }
        guard e.kind == .string else { out.writeError(Errors.wrongType); return }
        let old = e.valueLength
        guard lengthOK(old, tail.count, &out) else { return }
        let target = growString(ctx, e, to: old + tail.count)
        if tail.count > 0 { (target.valuePointer + old).copyMemory(from: tail.baseAddress!, byteCount: tail.count) }
        target.valueLength = old + tail.count
        ctx.notify(KeyspaceEvent.string, "append", args[1])
        out.writeInteger(target.valueLength)
    }

    static func strlen(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let e = ctx.shard.lookupForRead(db: ctx.db, key: args[1]) else { out.writeInteger(0); return }
        guard e.kind == .string else { out.writeError(Errors.wrongType); return }
        out.writeInteger(e.valueLength)
    }

    static func getrange(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard var start = args.integer(2), var end = args.integer(3) else { out.writeError(Errors.notInteger); return }
        guard let e = ctx.shard.lookupForRead(db: ctx.db, key: args[1]) else { out.append("$0\r\n\r\n"); return }
        guard e.kind == .string else { out.writeError(Errors.wrongType); return }
        let length = e.valueLength
        if start < 0 && end < 0 && start > end { out.append("$0\r\n\r\n"); return }
        if start < 0 { start += length }
        if end < 0 { end += length }
        if start < 0 { start = 0 }
        if end < 0 { end = 0 }
        if end >= length { end = length - 1 }
        if start > end || length == 0 { out.append("$0\r\n\r\n"); return }
        out.writeBulk(UnsafeRawBufferPointer(rebasing: e.value[start...end]))
    }

    static func setrange(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let offset = args.integer(2) else { out.writeError(Errors.notInteger); return }
        guard offset >= 0 else { out.writeError("ERR offset is out of range"); return }
        let patch = args[3]
        let shard = ctx.shard
        let target: Entry
        if let e = shard.lookup(db: ctx.db, key: args[1]) {
            guard e.kind == .string else { out.writeError(Errors.wrongType); return }
            if patch.count == 0 { out.writeInteger(e.valueLength); return }
            guard lengthOK(offset, patch.count, &out) else { return }
            let old = e.valueLength
            let length = max(old, offset + patch.count)
            target = growString(ctx, e, to: length)
            if offset > old { (target.valuePointer + old).initializeMemory(as: UInt8.self, repeating: 0, count: offset - old) }
            target.valueLength = length
        } else {
            if patch.count == 0 { out.writeInteger(0); return }
            guard lengthOK(offset, patch.count, &out) else { return }
            let key = args[1]
            target = Entry.allocate(key: key, hash: KeyTable.hash(key), valueLength: offset + patch.count)
            target.valuePointer.initializeMemory(as: UInt8.self, repeating: 0, count: offset)
            target.flags = [.rawEncoding]
            shard.insertNew(target, db: ctx.db, expireAt: 0)
        }
        (target.valuePointer + offset).copyMemory(from: patch.baseAddress!, byteCount: patch.count)
        ctx.notify(KeyspaceEvent.string, "setrange", args[1])
        out.writeInteger(target.valueLength)
    }

    // MARK: Counters

    static func incr(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        incrDecr(ctx, key: args[1], by: 1, &out)
    }

    static func decr(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        incrDecr(ctx, key: args[1], by: -1, &out)
    }

    static func incrby(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let n = args.integer(2) else { out.writeError(Errors.notInteger); return }
        incrDecr(ctx, key: args[1], by: n, &out)
    }

    static func decrby(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let n = args.integer(2) else { out.writeError(Errors.notInteger); return }
        guard n != Int.min else { out.writeError("ERR decrement would overflow"); return }
        incrDecr(ctx, key: args[1], by: -n, &out)
    }

    /// Redis's incrDecrCommand. The result is stored as decimal text; the TTL is kept.
    private static func incrDecr(_ ctx: ShardContext, key: UnsafeRawBufferPointer, by delta: Int,
                                 _ out: inout ByteBuffer) {
        let e = ctx.shard.lookup(db: ctx.db, key: key)
        var value = 0
        if let e {
            guard e.kind == .string else { out.writeError(Errors.wrongType); return }
            guard let v = parseStrictInt(e.value) else { out.writeError(Errors.notInteger); return }
            value = v
        }
        let (sum, overflow) = value.addingReportingOverflow(delta)
        guard !overflow else { out.writeError(Errors.overflow); return }
        withUnsafeTemporaryAllocation(byteCount: 24, alignment: 8) { digits in
            let n = writeDecimal(sum, to: digits.baseAddress!)
            storeKeepingTTL(ctx, e, key: key, value: UnsafeRawBufferPointer(rebasing: digits[0..<n]))
        }
        ctx.notify(KeyspaceEvent.string, "incrby", key)
        out.writeInteger(sum)
    }

    /// Sets the value of `key`, whose live string entry is `e` (nil: absent), keeping its TTL.
    /// Overwrites in place when the block has room, sparing setString's second lookup.
    /// Returns the entry now holding the value, its encoding flags cleared.
    @discardableResult
    private static func storeKeepingTTL(_ ctx: ShardContext, _ e: Entry?, key: UnsafeRawBufferPointer,
                                        value: UnsafeRawBufferPointer) -> Entry {
        if let e, value.count <= e.valueCapacity, value.count * 2 >= e.valueLength {
            ctx.shard.noteModified(db: ctx.db, key: key)
            if value.count > 0 { e.valuePointer.copyMemory(from: value.baseAddress!, byteCount: value.count) }
            e.valueLength = value.count
            e.flags.subtract(.encoding)
            e.lastAccess = UInt32(truncatingIfNeeded: ctx.shard.now / 1000)
            return e
        }
        return ctx.shard.setString(db: ctx.db, key: key, value: value, expireAt: nil)
    }

    /// Redis's MAX_LONG_DOUBLE_CHARS: longer float arguments are rejected, and every
    /// finite long double fits in this many characters with 17 decimals.
    static let maxLongDoubleChars = 5 * 1024

    static func incrbyfloat(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let e = ctx.shard.lookup(db: ctx.db, key: args[1])
        var value: Float80 = 0
        if let e {
            guard e.kind == .string else { out.writeError(Errors.wrongType); return }
            guard let v = parseLongDouble(e.value) else { out.writeError(Errors.notFloat); return }
            value = v
        }
        guard let increment = parseLongDouble(args[2]) else { out.writeError(Errors.notFloat); return }
        value += increment
        guard value.isFinite else { out.writeError("ERR increment would produce NaN or Infinity"); return }
        withUnsafeTemporaryAllocation(byteCount: maxLongDoubleChars, alignment: 8) { buffer in
            let n = formatHumanFriendly(value, into: buffer)
            let text = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            // Redis stores the text as it is (createStringObjectFromLongDouble), never as an integer.
            storeKeepingTTL(ctx, e, key: args[1], value: text).flags.insert(.notIntegerEncoded)
            // The result, not the increment: float formatting must not differ on the replica.
            if ctx.replicating { ctx.propagate(.text("SET"), .bytes(args[1]), .bytes(text), .text("KEEPTTL")) }
            ctx.notify(KeyspaceEvent.string, "incrbyfloat", args[1])
            out.writeBulk(text)
        }
    }

    /// Redis's string2ld: the whole argument must be a strtold number, no leading space,
    /// no NaN, no overflow to infinity or underflow to zero ("inf" itself is accepted).
    static func parseLongDouble(_ bytes: UnsafeRawBufferPointer) -> Float80? {
        let n = bytes.count
        guard n > 0 && n < maxLongDoubleChars else { return nil }
        switch bytes[0] {
        case 32, 9, 10, 11, 12, 13: return nil
        default: break
        }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: n + 1) { buf -> Float80? in
            let base = buf.baseAddress!
            UnsafeMutableRawPointer(base).copyMemory(from: bytes.baseAddress!, byteCount: n)
            base[n] = 0
            var end: UnsafeMutablePointer<CChar>?
            errno = 0
            let value = strtold(base, &end)
            guard let end, base.distance(to: end) == n else { return nil }
            if errno == ERANGE && (value.isInfinite || value == 0) { return nil }
            if errno == EINVAL || value.isNaN { return nil }
            return value
        }
    }

    /// Redis's ld2string in LD_STR_HUMAN mode: "%.17Lf" without trailing zeros (and without
    /// a trailing '.'), "-0" written as "0". Returns the length written into `buffer`.
    static func formatHumanFriendly(_ value: Float80, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let chars = buffer.baseAddress!.assumingMemoryBound(to: CChar.self)
        var n = Int(withVaList([value]) { vsnprintf(chars, buffer.count, "%.17Lf", $0) })
        guard n > 0 && n < buffer.count else { return 0 }
        if memchr(chars, Int32(UInt8(ascii: ".")), n) != nil {
            while buffer[n - 1] == UInt8(ascii: "0") { n -= 1 }
            if buffer[n - 1] == UInt8(ascii: ".") { n -= 1 }
        }
        if n == 2 && buffer[0] == UInt8(ascii: "-") && buffer[1] == UInt8(ascii: "0") {
            buffer[0] = UInt8(ascii: "0")
            n = 1
        }
        return n
    }
}
