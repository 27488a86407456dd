import RESP
import Shards
#if canImport(Glibc)
import Glibc
import Values
#endif

/// Stream commands (Redis 7.0's t_stream.c): XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM,
/// XSETID, XREAD; the consumer group commands are in StreamGroupCommands.swift.
enum StreamCommands {
    /// XADD's and XTRIM's MAXLEN|MINID [=|~] threshold [LIMIT count], as COMMAND DOCS describes it.
    private static let trimArgument: CommandArgument = .block("trim", [
        .oneOf("strategy", [.token("MAXLEN"), .token("MINID")]),
        .oneOf("operator", [.token("=", name: "equal"), .token("~", name: "approximately")]).optional,
        .string("threshold"),
        .integer("count", token: "LIMIT").optional,
    ])

    static let specs: [CommandSpec] = [
        CommandSpec("xadd", arity: -5, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "stream",
                    summary: "Adds an entry to a stream, optionally trimming it.",
                    run: .keyed(xadd, split: nil, crossShard: nil))
            .described(since: "5.0.0", acl: [.write, .stream, .fast], tips: ["nondeterministic_output"],
                       keySpecs: [KeySpec(["RW", "update"], index: 1, notes: "UPDATE instead of INSERT because of the optional trimming feature")],
                       arguments: [
                           .key("key"),
                           .token("NOMKSTREAM").optional,
                           trimArgument.optional,
                           .oneOf("id_or_auto", [.token("*", name: "auto_id"), .string("id")]),
                           .block("field_value", [.string("field"), .string("value")]).multiple,
                       ]),
        CommandSpec("xrange", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "stream",
                    summary: "Entries of a stream between two IDs.",
                    run: .keyed({ xrange($0, $1, &$2, reverse: false) }, split: nil, crossShard: nil))
            .described(since: "5.0.0", acl: [.read, .stream, .slow], keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [
                           .key("key"),
                           .string("start"),
                           .string("end"),
                           .integer("count", token: "COUNT").optional,
                       ]),
        CommandSpec("xrevrange", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "stream",
                    summary: "Entries of a stream between two IDs, newest first.",
                    run: .keyed({ xrange($0, $1, &$2, reverse: true) }, split: nil, crossShard: nil))
            .described(since: "5.0.0", acl: [.read, .stream, .slow], keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [
                           .key("key"),
                           .string("end"),
                           .string("start"),
                           .integer("count", token: "COUNT").optional,
                       ]),
        CommandSpec("xlen", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "stream",
                    summary: "Number of entries in a stream.", run: .keyed(xlen, split: nil, crossShard: nil))
            .described(since: "5.0.0", acl: [.read, .stream, .fast], keySpecs: [KeySpec(["RO"], index: 1)],
                       arguments: [.key("key")]),
        CommandSpec("xdel", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "stream",
                    summary: "Removes entries from a stream by ID.",
                    run: .keyed(xdel, split: nil, crossShard: nil))
            .described(since: "5.0.0", acl: [.write, .stream, .fast], keySpecs: [KeySpec(["RW", "delete"], index: 1)],
                       arguments: [.key("key"), .string("id").multiple]),
        CommandSpec("xtrim", arity: -4, flags: [.write], keys: (1, 1, 1), group: "stream",
                    summary: "Drops the oldest entries of a stream, by length or minimum ID.", run: .keyed(xtrim, split: nil, crossShard: nil))
            .described(since: "5.0.0", acl: [.write, .stream, .slow], tips: ["nondeterministic_output"],
                       keySpecs: [KeySpec(["RW", "delete"], index: 1)],
                       arguments: [
                           .key("key"),
                           trimArgument,
                       ]),
        CommandSpec("xsetid", arity: -3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "stream",
                    summary: "Sets a stream's last ID and counters (used by replication).", run: .keyed(xsetid, split: nil, crossShard: nil))
            .described(since: "5.0.0", acl: [.write, .stream, .fast], keySpecs: [KeySpec(["RW", "update"], index: 1)],
                       arguments: [
                           .key("key"),
                           .string("last-id"),
                           .integer("entries_added", token: "ENTRIESADDED").optional,
                           .string("max_deleted_entry_id", token: "MAXDELETEDID").optional,
                       ]),
        CommandSpec("xread", arity: -4, flags: [.readonly, .blocking, .movableKeys], group: "stream",
                    summary: "Entries after given IDs from one or more streams, optionally waiting for new ones.",
                    run: .client(StreamReads.xread))
            .described(since: "5.0.0", acl: [.read, .stream, .slow, .blocking],
                       keySpecs: [KeySpec(["RO", "access"], index: 1, lastKey: -1, keyword: "STREAMS", limit: 2)],
                       arguments: [
                           .integer("count", token: "COUNT").optional,
                           .integer("milliseconds", token: "BLOCK").optional,
                           .block("streams", token: "STREAMS", [
                               .key("key").multiple,
                               .string("id").multiple,
                           ]),
                       ]),
        CommandSpec(part: .xread, arity: -4, keys: (1, 1, 1), blocking: true, group: "stream",
                    run: .keyed(StreamReads.xreadPart, split: nil, crossShard: nil)),
    ]

    // MARK: Helpers

    /// The stream at `key` for a read: nil and `missing` written if absent, nil and
    /// WRONGTYPE if another type.
    static func streamForRead(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, _ out: inout ByteBuffer,
                              missing: (inout ByteBuffer) -> Void) -> Stream? {
        guard let e = ctx.shard.lookupForRead(db: ctx.db, key: key) else { missing(&out); return nil }
        guard e.kind == .object, let s = e.object as? Stream else { out.writeError(Errors.wrongType); return nil }
        return s
    }

    /// The stream at `key` for a write (no hit/miss counted); `.wrongType` after writing the error.
    enum Lookup { case missing, wrongType, found(Stream) }
    static func streamForWrite(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, _ out: inout ByteBuffer) -> Lookup {
        guard let e = ctx.shard.lookup(db: ctx.db, key: key) else { return .missing }
        guard e.kind == .object, let s = e.object as? Stream else { out.writeError(Errors.wrongType); return .wrongType }
        return .found(s)
    }

    static func createStream(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer) -> Stream {
        let s = Stream()
        ctx.shard.insertNew(Entry.makeObject(key: key, hash: KeyTable.hash(key), object: s), db: ctx.db, expireAt: 0)
        return s
    }

    static let invalidID: StaticString = "ERR Invalid stream ID specified as stream command argument"

    /// Redis's string2ull: string2ll if it can (negatives refused), else strtoull's rules.
    static func parseUnsigned(_ b: UnsafeRawBufferPointer) -> UInt64? {
        if let v = parseInt64Strict(b) { return v < 0 ? nil : UInt64(v) }
        guard b.count > 0, b.count < 128, !b.contains(0) else { return nil }
        var text = Array(b); text.append(0)
        return text.withUnsafeBufferPointer { p -> UInt64? in
            let start = UnsafeRawPointer(p.baseAddress!).assumingMemoryBound(to: CChar.self)
            var end: UnsafeMutablePointer<CChar>?
            errno = 0
            let v = strtoull(start, &end, 10)
            guard errno != ERANGE && errno != EINVAL, let end, end.pointee == 0 else { return nil }
            return UInt64(v)
        }
    }

    static func parseInt64Strict(_ b: UnsafeRawBufferPointer) -> Int64? { parseStrictInt(b).map { Int64($0) } }

    /// Redis's streamGenericParseIDOrReply. `seqGiven` non-nil accepts `<ms>-*` (XADD).
    static func parseID(_ b: UnsafeRawBufferPointer, missingSeq: UInt64, strict: Bool,
                        seqGiven: UnsafeMutablePointer<Bool>? = nil) -> StreamID? {
        guard b.count <= 127 else { return nil }
        // Redis copies into a C string: a NUL ends it.
        let end = b.firstIndex(of: 0) ?? b.count
        let s = UnsafeRawBufferPointer(rebasing: b[0..<end])
        if s.count == 1 && (s[0] == UInt8(ascii: "-") || s[0] == UInt8(ascii: "+")) {
            if strict { return nil }
            seqGiven?.pointee = true
            return s[0] == UInt8(ascii: "-") ? .zero : .max
        }
        seqGiven?.pointee = true
        guard let dash = s.firstIndex(of: UInt8(ascii: "-")) else {
            guard let ms = parseUnsigned(s) else { return nil }
            return StreamID(ms: ms, seq: missingSeq)
        }
        guard let ms = parseUnsigned(UnsafeRawBufferPointer(rebasing: s[0..<dash])) else { return nil }
        let rest = UnsafeRawBufferPointer(rebasing: s[(dash + 1)...])
        if let seqGiven, rest.count == 1 && rest[0] == UInt8(ascii: "*") {
            seqGiven.pointee = false
            return StreamID(ms: ms, seq: 0)
        }
        guard let seq = parseUnsigned(rest) else { return nil }
        return StreamID(ms: ms, seq: seq)
    }

    /// A strict ID ("-" and "+" refused) or the invalid-ID error.
    static func strictID(_ b: UnsafeRawBufferPointer, _ out: inout ByteBuffer, missingSeq: UInt64 = 0) -> StreamID? {
        guard let id = parseID(b, missingSeq: missingSeq, strict: true) else { out.writeError(invalidID); return nil }
        return id
    }

    static func writeID(_ id: StreamID, _ out: inout ByteBuffer) {
        out.writeBulk(string: id.description)
    }

    /// `*2 id *2n field value...`
    static func writeEntry(_ e: StreamEntry, _ out: inout ByteBuffer) {
        out.writeArrayHeader(2)
        writeID(e.id, &out)
        out.writeArrayHeader(e.fieldCount * 2)
        e.forEachPair { f, v in
            Listpack.withBytes(e.lp, f) { out.writeBulk($0) }
            Listpack.withBytes(e.lp, v) { out.writeBulk($0) }
        }
    }

    /// Writes up to `count` (0: all) entries of the range as an array; returns how many.
    @discardableResult
    static func writeRange(_ s: Stream, from start: StreamID, to end: StreamID, count: Int, reverse: Bool,
                           _ out: inout ByteBuffer, each: ((StreamEntry) -> Void)? = nil) -> Int {
        var body = ByteBuffer(capacity: 256)
        var n = 0
        s.forEach(from: start, to: end, reverse: reverse) { e in
            writeEntry(e, &body)
            each?(e)
            n += 1
            return count == 0 || n < count
        }
        out.writeArrayHeader(n)
        out.append(body.readable)
        return n
    }

    // MARK: XADD / XTRIM options

    struct TrimOptions {
        var strategy: Stream.Trim?
        var approximate = false
        var limit = 0
        var limitGiven = false
        var noMakeStream = false
        var id: StreamID?
        var seqGiven = true
        /// Index of the ID argument (XADD).
        var idIndex = 0
    }

    /// Redis's streamParseAddOrTrimArgsOrReply.
    static func parseTrimOptions(_ args: Arguments, xadd: Bool, _ out: inout ByteBuffer) -> TrimOptions? {
        var o = TrimOptions()
        var i = 2
        while i < args.count {
            let more = args.count - 1 - i
            let opt = args[i]
            if xadd && opt.count == 1 && opt[0] == UInt8(ascii: "*") {
                break
            } else if (argIs(opt, "maxlen") || argIs(opt, "minid")) && more > 0 {
                let maxlen = argIs(opt, "maxlen")
                if o.strategy != nil {
                    out.writeError("ERR syntax error, MAXLEN and MINID options at the same time are not compatible")
                    return nil
                }
                o.approximate = false
                let next = args[i + 1]
                if more >= 2 && next.count == 1 && next[0] == UInt8(ascii: "~") {
                    o.approximate = true
                    i += 1
                } else if more >= 2 && next.count == 1 && next[0] == UInt8(ascii: "=") {
                    i += 1
                }
                if maxlen {
                    guard let n = parseStrictInt(args[i + 1]) else { out.writeError(Errors.notInteger); return nil }
                    guard n >= 0 else { out.writeError("ERR The MAXLEN argument must be >= 0."); return nil }
                    o.strategy = .maxLength(n)
                } else {
                    guard let id = strictID(args[i + 1], &out) else { return nil }
                    o.strategy = .minID(id)
                }
                i += 1
            } else if argIs(opt, "limit") && more > 0 {
                guard let n = parseStrictInt(args[i + 1]) else { out.writeError(Errors.notInteger); return nil }
                guard n >= 0 else { out.writeError("ERR The LIMIT argument must be >= 0."); return nil }
                o.limit = n
                o.limitGiven = true
                i += 1
            } else if xadd && argIs(opt, "nomkstream") {
                o.noMakeStream = true
            } else if xadd {
                var seqGiven = true
                guard let id = parseID(opt, missingSeq: 0, strict: true, seqGiven: &seqGiven) else {
                    out.writeError(invalidID)
                    return nil
                }
                o.id = id
                o.seqGiven = seqGiven
                break
            } else {
                out.writeError(Errors.syntax)
                return nil
            }
            i += 1
        }
        o.idIndex = i
        if o.limit != 0 && o.strategy == nil {
            out.writeError("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")
            return nil
        }
        if !xadd && o.strategy == nil {
            out.writeError("ERR syntax error, XTRIM must be called with a trimming strategy")
            return nil
        }
        if o.limitGiven {
            if !o.approximate {
                out.writeError("ERR syntax error, LIMIT cannot be used without the special ~ option")
                return nil
            }
        } else {
            // Wrapping, as Redis's C multiplication: a huge stream-node-max-entries must not trap.
            let perNode = 100 &* LiveConfig.streamNodeMaxEntries.load(ordering: .relaxed)
            o.limit = o.approximate ? min(max(perNode, 1), 10000) : 0
            if perNode <= 0 { o.limit = 10000 }
        }
        return o
    }

    // MARK: XADD

    static func xadd(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let o = parseTrimOptions(args, xadd: true, &out) else { return }
        let fieldStart = o.idIndex + 1
        let n = args.count - fieldStart
        if n < 2 || n % 2 == 1 {
            out.writeError("ERR wrong number of arguments for 'xadd' command")
            return
        }
        if let id = o.id, o.seqGiven, id == .zero {
            out.writeError("ERR The ID specified in XADD must be greater than 0-0")
            return
        }
        let s: Stream
        switch streamForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .found(let found): s = found
        case .missing:
            if o.noMakeStream { out.writeNull(ctx.resp); return }
            s = createStream(ctx, args[1])
        }
        if s.lastID == .max {
            out.writeError("ERR The stream has exhausted the last possible ID, unable to add more items")
            return
        }
        let id: StreamID
        if let given = o.id {
            if o.seqGiven {
                id = given
            } else if s.lastID.ms == given.ms {
                guard s.lastID.seq < .max else { writeTopItemError(&out); return }
                id = StreamID(ms: given.ms, seq: s.lastID.seq + 1)
            } else {
                id = given
            }
        } else {
            let now = UInt64(max(ctx.shard.now, 0))
            id = now > s.lastID.ms ? StreamID(ms: now, seq: 0) : (s.lastID.successor ?? .max)
        }
        guard id > s.lastID else { writeTopItemError(&out); return }
        ctx.shard.noteModified(db: ctx.db, key: args[1])
        s.append(id: id, pairs: n / 2, limits: LiveConfig.streamNodeLimits) { args[fieldStart + $0] }
        writeID(id, &out)
        ctx.notify(KeyspaceEvent.stream, "xadd", args[1])
        if let strategy = o.strategy, s.trim(strategy, approximate: o.approximate, limit: o.limit) > 0 {
            ctx.notify(KeyspaceEvent.stream, "xtrim", args[1])
        }
        if ctx.replicating { propagateXAdd(ctx, args, o, id: id, s) }  // concrete ID, exact trim
        ctx.shard.blocked.signal(db: ctx.db, key: args[1])
    }

    static func writeTopItemError(_ out: inout ByteBuffer) {
        out.writeError("ERR The ID specified in XADD is equal or smaller than the target stream top item")
    }

    // MARK: XRANGE / XREVRANGE

    /// Redis's streamParseIntervalIDOrReply: `(` marks an exclusive bound.
    static func intervalID(_ b: UnsafeRawBufferPointer, missingSeq: UInt64, _ out: inout ByteBuffer)
        -> (id: StreamID, exclusive: Bool)? {
        if b.count > 1 && b[0] == UInt8(ascii: "(") {
            guard let id = parseID(UnsafeRawBufferPointer(rebasing: b[1...]), missingSeq: missingSeq, strict: true) else {
                out.writeError(invalidID); return nil
            }
            return (id, true)
        }
        guard let id = parseID(b, missingSeq: missingSeq, strict: false) else { out.writeError(invalidID); return nil }
        return (id, false)
    }

    static func xrange(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer, reverse: Bool) {
        let startArg = reverse ? args[3] : args[2]
        let endArg = reverse ? args[2] : args[3]
        guard let (first, startEx) = intervalID(startArg, missingSeq: 0, &out) else { return }
        var start = first
        if startEx {
            guard let next = start.successor else { out.writeError("ERR invalid start ID for the interval"); return }
            start = next
        }
        guard let (last, endEx) = intervalID(endArg, missingSeq: .max, &out) else { return }
        var end = last
        if endEx {
            guard let prev = end.predecessor else { out.writeError("ERR invalid end ID for the interval"); return }
            end = prev
        }
        var count = -1
        var j = 4
        while j < args.count {
            if argIs(args[j], "count") && j + 1 < args.count {
                guard let n = parseStrictInt(args[j + 1]) else { out.writeError(Errors.notInteger); return }
                count = max(n, 0)
                j += 2
            } else {
                out.writeError(Errors.syntax)
                return
            }
        }
        guard let s = streamForRead(ctx, args[1], &out, missing: { $0.writeArrayHeader(0) }) else { return }
        if count == 0 { out.writeNullArray(ctx.resp); return }
        writeRange(s, from: start, to: end, count: max(count, 0), reverse: reverse, &out)
    }

    // MARK: XLEN, XDEL, XTRIM, XSETID

    static func xlen(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let s = streamForRead(ctx, args[1], &out, missing: { $0.writeInteger(0) }) else { return }
        out.writeInteger(s.length)
    }

    static func xdel(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let s: Stream
        switch streamForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .missing: out.writeInteger(0); return
        case .found(let found): s = found
        }
        var ids: [StreamID] = []
        for j in 2..<args.count {
            guard let id = strictID(args[j], &out) else { return }
            ids.append(id)
        }
        var deleted = 0
        var firstDeleted = false
        for id in ids where s.delete(id) {
            if id == s.firstID { firstDeleted = true }
            if id > s.maxDeletedEntryID { s.maxDeletedEntryID = id }
            deleted += 1
        }
        if deleted > 0 {
            ctx.shard.noteModified(db: ctx.db, key: args[1])
            if s.length == 0 { s.firstID = .zero } else if firstDeleted { s.firstID = s.edgeID(first: true) ?? .zero }
            ctx.notify(KeyspaceEvent.stream, "xdel", args[1])
        }
        out.writeInteger(deleted)
    }

    static func xtrim(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let o = parseTrimOptions(args, xadd: false, &out) else { return }
        let s: Stream
        switch streamForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .missing: out.writeInteger(0); return
        case .found(let found): s = found
        }
        let deleted = s.trim(o.strategy!, approximate: o.approximate, limit: o.limit)
        if deleted > 0 {
            ctx.shard.noteModified(db: ctx.db, key: args[1])
            if ctx.replicating { propagateXTrim(ctx, args, o, s) }  // `~` made exact
            ctx.notify(KeyspaceEvent.stream, "xtrim", args[1])
        }
        out.writeInteger(deleted)
    }

    static func xsetid(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let id = strictID(args[2], &out) else { return }
        var entriesAdded: Int64 = -1
        var maxDeleted = StreamID.zero
        var i = 3
        while i < args.count {
            let more = args.count - 1 - i
            if argIs(args[i], "entriesadded") && more > 0 {
                guard let n = parseStrictInt(args[i + 1]) else { out.writeError(Errors.notInteger); return }
                guard n >= 0 else { out.writeError("ERR entries_added must be positive"); return }
                entriesAdded = Int64(n)
            } else if argIs(args[i], "maxdeletedid") && more > 0 {
                guard let m = strictID(args[i + 1], &out) else { return }
                guard id >= m else {
                    out.writeError("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
                    return
                }
                maxDeleted = m
            } else {
                out.writeError(Errors.syntax)
                return
            }
            i += 2
        }
        let s: Stream
        switch streamForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .missing: out.writeError(Errors.noSuchKey); return
        case .found(let found): s = found
        }
        if s.length > 0 {
            if id < (s.edgeID(first: false) ?? .zero) {
                out.writeError("ERR The ID specified in XSETID is smaller than the target stream top item")
                return
            }
            if entriesAdded != -1 && Int64(s.length) > entriesAdded {
                out.writeError("ERR The entries_added specified in XSETID is smaller than the target stream length")
                return
            }
        }
        if id < s.maxDeletedEntryID {
            out.writeError("ERR The ID specified in XSETID is smaller than current max_deleted_entry_id")
            return
        }
        ctx.shard.noteModified(db: ctx.db, key: args[1])
        s.lastID = id
        if entriesAdded != -1 { s.entriesAdded = UInt64(entriesAdded) }
        if maxDeleted != .zero { s.maxDeletedEntryID = maxDeleted }
        ctx.notify(KeyspaceEvent.stream, "xsetid", args[1])
        out.writeOK()
    }
}
