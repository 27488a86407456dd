import RESP
import Shards
import Values

/// Hash commands (Redis 7.0's t_hash.c): the rows, the lookups they share, and the writes
/// (HSET, HSETNX, HMSET, HDEL, HINCRBY, HINCRBYFLOAT). Reads are in HashReads.swift,
/// HRANDFIELD and HSCAN in HashSampling.swift.
enum HashCommands {
    private static let fieldValue: CommandArgument = .block("field_value", [.string("field"), .string("value")]).multiple
    private static func keyOnly(_ flags: [String]) -> [KeySpec] { [KeySpec(flags, index: 1)] }

    static let specs: [CommandSpec] = [
        CommandSpec("hset", arity: -4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "hash",
                    summary: "Sets fields of a hash to values, creating the hash if needed; replies with the number of new fields.",
                    run: .keyed({ hset($0, $1, &$2, okReply: false) }, split: nil, crossShard: nil))
            .described(since: "2.0.0", acl: [.write, .hash, .fast], keySpecs: keyOnly(["RW", "update"]),
                       arguments: [.key("key"), fieldValue]),
        CommandSpec("hmset", arity: -4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "hash",
                    summary: "Sets fields of a hash to values (older form of HSET that replies OK).",
                    run: .keyed({ hset($0, $1, &$2, okReply: true) }, split: nil, crossShard: nil))
            .described(since: "2.0.0", acl: [.write, .hash, .fast], keySpecs: keyOnly(["RW", "update"]),
                       arguments: [.key("key"), fieldValue]),
        CommandSpec("hsetnx", arity: 4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "hash",
                    summary: "Sets a field of a hash only if the field is not there yet.",
                    run: .keyed(hsetnx, split: nil, crossShard: nil))
            .described(since: "2.0.0", acl: [.write, .hash, .fast], keySpecs: keyOnly(["RW", "insert"]),
                       arguments: [.key("key"), .string("field"), .string("value")]),
        CommandSpec("hget", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "hash",
                    summary: "The value of one field of a hash.", run: .keyed(HashReads.hget, split: nil, crossShard: nil))
            .described(since: "2.0.0", acl: [.read, .hash, .fast], keySpecs: keyOnly(["RO", "access"]),
                       arguments: [.key("key"), .string("field")]),
        CommandSpec("hmget", arity: -3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "hash",
                    summary: "The values of several fields of a hash, nil for the missing ones.",
                    run: .keyed(HashReads.hmget, split: nil, crossShard: nil))
            .described(since: "2.0.0", acl: [.read, .hash, .fast], keySpecs: keyOnly(["RO", "access"]),
                       arguments: [.key("key"), .string("field").multiple]),
        CommandSpec("hgetall", arity: 2, flags: [.readonly], keys: (1, 1, 1), group: "hash",
                    summary: "Every field of a hash with its value.",
                    run: .keyed({ HashReads.hgetall($0, $1, &$2, fields: true, values: true) }, split: nil, crossShard: nil))
            .described(since: "2.0.0", acl: [.read, .hash, .slow], tips: ["nondeterministic_output_order"],
                       keySpecs: keyOnly(["RO", "access"]), arguments: [.key("key")]),
        CommandSpec("hkeys", arity: 2, flags: [.readonly], keys: (1, 1, 1), group: "hash",
                    summary: "Every field name of a hash.",
                    run: .keyed({ HashReads.hgetall($0, $1, &$2, fields: true, values: false) }, split: nil, crossShard: nil))
            .described(since: "2.0.0", acl: [.read, .hash, .slow], tips: ["nondeterministic_output_order"],
                       keySpecs: keyOnly(["RO", "access"]), arguments: [.key("key")]),
        CommandSpec("hvals", arity: 2, flags: [.readonly], keys: (1, 1, 1), group: "hash",
                    summary: "Every value of a hash.",
                    run: .keyed({ HashReads.hgetall($0, $1, &$2, fields: false, values: true) }, split: nil, crossShard: nil))
            .described(since: "2.0.0", acl: [.read, .hash, .slow], tips: ["nondeterministic_output_order"],
                       keySpecs: keyOnly(["RO", "access"]), arguments: [.key("key")]),
        CommandSpec("hdel", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "hash",
                    summary: "Removes fields from a hash; the key goes when its last field does.",
                    run: .keyed(hdel, split: nil, crossShard: nil))
            .described(since: "2.0.0", acl: [.write, .hash, .fast], keySpecs: keyOnly(["RW", "delete"]),
                       arguments: [.key("key"), .string("field").multiple]),
        CommandSpec("hexists", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "hash",
                    summary: "Whether a hash has a field (1 or 0).", run: .keyed(HashReads.hexists, split: nil, crossShard: nil))
            .described(since: "2.0.0", acl: [.read, .hash, .fast], keySpecs: keyOnly(["RO"]),
                       arguments: [.key("key"), .string("field")]),
        CommandSpec("hlen", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "hash",
                    summary: "Number of fields in a hash.", run: .keyed(HashReads.hlen, split: nil, crossShard: nil))
            .described(since: "2.0.0", acl: [.read, .hash, .fast], keySpecs: keyOnly(["RO"]), arguments: [.key("key")]),
        CommandSpec("hstrlen", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "hash",
                    summary: "Length in bytes of the value of a hash field.",
                    run: .keyed(HashReads.hstrlen, split: nil, crossShard: nil))
            .described(since: "3.2.0", acl: [.read, .hash, .fast], keySpecs: keyOnly(["RO"]),
                       arguments: [.key("key"), .string("field")]),
        CommandSpec("hincrby", arity: 4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "hash",
                    summary: "Adds an integer to the integer value of a hash field (missing counts as 0).",
                    run: .keyed(hincrby, split: nil, crossShard: nil))
            .described(since: "2.0.0", acl: [.write, .hash, .fast], keySpecs: keyOnly(["RW", "access", "update"]),
                       arguments: [.key("key"), .string("field"), .integer("increment")]),
        CommandSpec("hincrbyfloat", arity: 4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "hash",
                    summary: "Adds a floating point number to the value of a hash field (missing counts as 0).",
                    run: .keyed(hincrbyfloat, split: nil, crossShard: nil))
            .described(since: "2.6.0", acl: [.write, .hash, .fast], keySpecs: keyOnly(["RW", "access", "update"]),
                       arguments: [.key("key"), .string("field"), .double("increment")]),
        CommandSpec("hrandfield", arity: -2, flags: [.readonly], keys: (1, 1, 1), group: "hash",
                    summary: "One or more random fields of a hash, optionally with values; a negative count may repeat them.",
                    run: .keyed(HashSampling.hrandfield, split: nil, crossShard: nil))
            .described(since: "6.2.0", acl: [.read, .hash, .slow], tips: ["nondeterministic_output"],
                       keySpecs: keyOnly(["RO", "access"]),
                       arguments: [.key("key"), .block("options", [.integer("count"), .token("WITHVALUES").optional]).optional]),
        CommandSpec("hscan", arity: -3, flags: [.readonly], keys: (1, 1, 1), group: "hash",
                    summary: "Walks the fields and values of a hash a few at a time with a cursor.",
                    run: .keyed(HashSampling.hscan, split: nil, crossShard: nil))
            .described(since: "2.8.0", acl: [.read, .hash, .slow], tips: ["nondeterministic_output"],
                       keySpecs: keyOnly(["RO", "access"]),
                       arguments: [.key("key"), .integer("cursor"), .pattern("pattern", token: "MATCH").optional,
                                   .integer("count", token: "COUNT").optional]),
    ]

    // MARK: Lookups

    /// The hash at `key` for a read (hit/miss counted): nil and `missing` written if absent,
    /// nil and WRONGTYPE if another type.
    static func hashForRead(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, _ out: inout ByteBuffer,
                            missing: (inout ByteBuffer) -> Void) -> HashHandle? {
        guard let e = ctx.shard.lookupForRead(db: ctx.db, key: key) else { missing(&out); return nil }
        return handle(e, &out)
    }

    /// `e`'s hash, or nil and WRONGTYPE.
    @inline(__always)
    static func handle(_ e: Entry, _ out: inout ByteBuffer) -> HashHandle? {
        if e.isInlineHash { return HashHandle(entry: e, object: nil) }
        guard e.kind == .object, let h = e.object as? Hash else { out.writeError(Errors.wrongType); return nil }
        return HashHandle(entry: e, object: h)
    }

    typealias Lookup = ValueLookup<HashHandle>

    /// The hash at `key` for a write (no hit/miss counted); WRONGTYPE written if another type.
    static func hashForWrite(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, _ out: inout ByteBuffer) -> Lookup {
        guard let e = ctx.shard.lookup(db: ctx.db, key: key) else { return .missing }
        guard let h = handle(e, &out) else { return .wrongType }
        return .found(h)
    }

    /// The hash at `key`, created empty if absent (hashTypeLookupWriteOrCreate); nil after
    /// WRONGTYPE. A new hash is a listpack its entry keeps.
    static func hashForWriteOrCreate(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer,
                                     _ out: inout ByteBuffer) -> HashHandle? {
        switch hashForWrite(ctx, key, &out) {
        case .wrongType: return nil
        case .found(let h): return h
        case .missing:
            let e = Entry.makeInlineHash(key: key, hash: KeyTable.hash(key), listpack: Listpack.new(capacity: 0))
            ctx.shard.insertNew(e, db: ctx.db, expireAt: 0)
            return HashHandle(entry: e, object: nil)
        }
    }

    static func wrongArity(_ name: String, _ out: inout ByteBuffer) {
        out.writeError(string: "ERR wrong number of arguments for '\(name)' command")
    }

    // MARK: HSET, HMSET, HSETNX

    static func hset(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer, okReply: Bool) {
        guard args.count % 2 == 0 else { wrongArity(okReply ? "hmset" : "hset", &out); return }
        guard var h = hashForWriteOrCreate(ctx, args[1], &out) else { return }
        if h.isListpack {
            var longest = 0, total = 0
            for i in 2..<args.count {
                longest = max(longest, args[i].count)
                total += args[i].count
            }
            h.convertIfNeeded(longest: longest, total: total)
        }
        var created = 0
        for i in stride(from: 2, to: args.count, by: 2) where h.set(args[i], args[i + 1]) { created += 1 }
        ctx.shard.noteModified(db: ctx.db, key: args[1])
        ctx.notify(KeyspaceEvent.hash, "hset", args[1])
        if okReply { out.writeOK() } else { out.writeInteger(created) }
    }

    static func hsetnx(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard var h = hashForWriteOrCreate(ctx, args[1], &out) else { return }
        if h.contains(args[2]) { out.writeInteger(0); return }
        h.convertIfNeeded(longest: max(args[2].count, args[3].count), total: args[2].count + args[3].count)
        h.set(args[2], args[3])
        ctx.shard.noteModified(db: ctx.db, key: args[1])
        ctx.notify(KeyspaceEvent.hash, "hset", args[1])
        out.writeInteger(1)
    }

    // MARK: HDEL

    static func hdel(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let h: HashHandle
        switch hashForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .missing: out.writeInteger(0); return
        case .found(let found): h = found
        }
        var deleted = 0
        for i in 2..<args.count where h.remove(args[i]) {
            deleted += 1
            if h.count == 0 { break }
        }
        if deleted > 0 {
            ctx.notify(KeyspaceEvent.hash, "hdel", args[1])
            if h.count == 0 {
                ctx.shard.delete(db: ctx.db, key: args[1])
                ctx.notify(KeyspaceEvent.generic, "del", args[1])
            } else {
                ctx.shard.noteModified(db: ctx.db, key: args[1])
            }
        }
        out.writeInteger(deleted)
    }

    // MARK: HINCRBY, HINCRBYFLOAT

    static func hincrby(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let increment = parseStrictInt(args[3]) else { out.writeError(Errors.notInteger); return }
        guard var h = hashForWriteOrCreate(ctx, args[1], &out) else { return }
        var current = 0
        let ok = h.withValue(args[2]) { v -> Bool in
            guard let v else { return true }
            guard let n = parseStrictInt(v) else { return false }
            current = n
            return true
        }
        guard ok else { out.writeError("ERR hash value is not an integer"); return }
        let (sum, overflow) = current.addingReportingOverflow(increment)
        guard !overflow else { out.writeError(Errors.overflow); return }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { buf in
            let n = writeDecimal(sum, to: buf.baseAddress!)
            h.set(args[2], UnsafeRawBufferPointer(rebasing: buf[0..<n]))
        }
        ctx.shard.noteModified(db: ctx.db, key: args[1])
        ctx.notify(KeyspaceEvent.hash, "hincrby", args[1])
        out.writeInteger(sum)
    }

    static func hincrbyfloat(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let increment = StringCommands.parseLongDouble(args[3]) else { out.writeError(Errors.notFloat); return }
        guard increment.isFinite else { out.writeError("ERR value is NaN or Infinity"); return }
        guard var h = hashForWriteOrCreate(ctx, args[1], &out) else { return }
        var current: Float80 = 0
        let ok = h.withValue(args[2]) { v -> Bool in
            guard let v else { return true }
            guard let n = StringCommands.parseLongDouble(v) else { return false }
            current = n
            return true
        }
        guard ok else { out.writeError("ERR hash value is not a float"); return }
        let value = current + increment
        guard value.isFinite else { out.writeError("ERR increment would produce NaN or Infinity"); return }
        withUnsafeTemporaryAllocation(byteCount: StringCommands.maxLongDoubleChars, alignment: 8) { buffer in
            let n = StringCommands.formatHumanFriendly(value, into: buffer)
            let text = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            h.set(args[2], text)
            ctx.shard.noteModified(db: ctx.db, key: args[1])
            ctx.notify(KeyspaceEvent.hash, "hincrbyfloat", args[1])
            // The result, not the increment: float arithmetic and formatting must not differ
            // on a replica (Redis rewrites the command as HSET).
            if ctx.replicating { ctx.propagate(.text("HSET"), .bytes(args[1]), .bytes(args[2]), .bytes(text)) }
            out.writeBulk(text)
        }
    }
}
