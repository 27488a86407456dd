import RESP
import Shards
import Values

/// Consumer groups (Redis 7.0's t_stream.c): XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM,
/// XINFO, and the shard side of XREADGROUP (its client side is in StreamReads.swift).
///
/// Group state changes are not seen by WATCH (Redis signals no modified key for them) but
/// count as changes (`noteChangedUnwatched`). Replicas get what Redis propagates: XGROUP
/// and XACK as they came; XREADGROUP, XCLAIM and XAUTOCLAIM as one idempotent
/// `XCLAIM ... FORCE JUSTID LASTID` per pending entry they touch, XGROUP SETID when only
/// the group's last ID moved, XGROUP CREATECONSUMER for a consumer NOACK reads created.
enum StreamGroupCommands {
    static let specs: [CommandSpec] = [
        CommandSpec("xgroup", arity: -2, group: "stream", summary: "Consumer group management.",
                    run: .container, subcommands: [
            CommandSpec("xgroup|create", arity: -5, flags: [.write, .denyOOM], keys: (2, 2, 1), group: "stream",
                        summary: "Adds a consumer group to a stream.", run: .keyed(xgroup, split: nil, crossShard: nil))
                .described(since: "5.0.0", acl: [.write, .stream, .slow],
                           keySpecs: [KeySpec(["RW", "insert"], index: 2)],
                           arguments: [
                               .key("key"),
                               .string("groupname"),
                               .oneOf("id", [.string("id"), .token("$", name: "new_id")]),
                               .token("MKSTREAM").optional,
                               .integer("entries_read", token: "ENTRIESREAD").optional,
                           ]),
            CommandSpec("xgroup|createconsumer", arity: 5, flags: [.write, .denyOOM], keys: (2, 2, 1), group: "stream",
                        summary: "Adds a named consumer to a group.", run: .keyed(xgroup, split: nil, crossShard: nil))
                .described(since: "6.2.0", acl: [.write, .stream, .slow],
                           keySpecs: [KeySpec(["RW", "insert"], index: 2)],
                           arguments: [.key("key"), .string("groupname"), .string("consumername")]),
            CommandSpec("xgroup|delconsumer", arity: 5, flags: [.write], keys: (2, 2, 1), group: "stream",
                        summary: "Removes a consumer and its pending entries from a group.", run: .keyed(xgroup, split: nil, crossShard: nil))
                .described(since: "5.0.0", acl: [.write, .stream, .slow],
                           keySpecs: [KeySpec(["RW", "delete"], index: 2)],
                           arguments: [.key("key"), .string("groupname"), .string("consumername")]),
            CommandSpec("xgroup|destroy", arity: 4, flags: [.write], keys: (2, 2, 1), group: "stream",
                        summary: "Removes a consumer group from a stream.", run: .keyed(xgroup, split: nil, crossShard: nil))
                .described(since: "5.0.0", acl: [.write, .stream, .slow],
                           keySpecs: [KeySpec(["RW", "delete"], index: 2)],
                           arguments: [.key("key"), .string("groupname")]),
            CommandSpec("xgroup|setid", arity: -5, flags: [.write], keys: (2, 2, 1), group: "stream",
                        summary: "Moves a group's last-delivered ID.",
                        run: .keyed(xgroup, split: nil, crossShard: nil))
                .described(since: "5.0.0", acl: [.write, .stream, .slow],
                           keySpecs: [KeySpec(["RW", "update"], index: 2)],
                           arguments: [
                               .key("key"),
                               .string("groupname"),
                               .oneOf("id", [.string("id"), .token("$", name: "new_id")]),
                               .integer("entries_read", token: "ENTRIESREAD").optional,
                           ]),
            CommandSpec("xgroup|help", arity: 2, flags: [.loading, .stale], group: "stream",
                        summary: "Lists the subcommands and what they do.", run: .client(xgroupHelp))
                .described(since: "5.0.0", acl: [.stream, .slow]),
        ])
            .described(since: "5.0.0", acl: [.slow]),
        CommandSpec("xinfo", arity: -2, group: "stream", summary: "Stream, group and consumer introspection.",
                    run: .container, subcommands: [
            CommandSpec("xinfo|consumers", arity: 4, flags: [.readonly], keys: (2, 2, 1), group: "stream",
                        summary: "The consumers of a group with their pending counts and idle times.", run: .keyed(xinfo, split: nil, crossShard: nil))
                .described(since: "5.0.0", acl: [.read, .stream, .slow], tips: ["nondeterministic_output"],
                           keySpecs: [KeySpec(["RO", "access"], index: 2)],
                           arguments: [.key("key"), .string("groupname")]),
            CommandSpec("xinfo|groups", arity: 3, flags: [.readonly], keys: (2, 2, 1), group: "stream",
                        summary: "The groups of a stream with their consumers, pending entries and last-delivered IDs.", run: .keyed(xinfo, split: nil, crossShard: nil))
                .described(since: "5.0.0", acl: [.read, .stream, .slow],
                           keySpecs: [KeySpec(["RO", "access"], index: 2)], arguments: [.key("key")]),
            CommandSpec("xinfo|stream", arity: -3, flags: [.readonly], keys: (2, 2, 1), group: "stream",
                        summary: "Length, nodes, IDs and entries of a stream, optionally in full detail.", run: .keyed(xinfo, split: nil, crossShard: nil))
                .described(since: "5.0.0", acl: [.read, .stream, .slow],
                           keySpecs: [KeySpec(["RO", "access"], index: 2)],
                           arguments: [
                               .key("key"),
                               .block("full", token: "FULL", [
                                   .integer("count", token: "COUNT").optional,
                               ]).optional,
                           ]),
            CommandSpec("xinfo|help", arity: 2, flags: [.loading, .stale], group: "stream",
                        summary: "Lists the subcommands and what they do.", run: .client(xinfoHelp))
                .described(since: "5.0.0", acl: [.stream, .slow]),
        ])
            .described(since: "5.0.0", acl: [.slow]),
        CommandSpec("xack", arity: -4, flags: [.write, .fast], keys: (1, 1, 1), group: "stream",
                    summary: "Acknowledges entries of a group, taking them off its pending list.",
                    run: .keyed(xack, split: nil, crossShard: nil))
            .described(since: "5.0.0", acl: [.write, .stream, .fast], keySpecs: [KeySpec(["RW", "update"], index: 1)],
                       arguments: [.key("key"), .string("group"), .string("id").multiple]),
        CommandSpec("xpending", arity: -3, flags: [.readonly], keys: (1, 1, 1), group: "stream",
                    summary: "A group's delivered but unacknowledged entries: a summary, or the entries in an ID range.",
                    run: .keyed(xpending, split: nil, crossShard: nil))
            .described(since: "5.0.0", acl: [.read, .stream, .slow], tips: ["nondeterministic_output"],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [
                           .key("key"),
                           .string("group"),
                           .block("filters", [
                               .integer("min-idle-time", token: "IDLE").optional,
                               .string("start"),
                               .string("end"),
                               .integer("count"),
                               .string("consumer").optional,
                           ]).optional,
                       ]),
        CommandSpec("xclaim", arity: -6, flags: [.write, .fast], keys: (1, 1, 1), group: "stream",
                    summary: "Hands pending entries of a group over to another consumer.",
                    run: .keyed(xclaim, split: nil, crossShard: nil))
            .described(since: "5.0.0", acl: [.write, .stream, .fast], tips: ["nondeterministic_output"],
                       keySpecs: [KeySpec(["RW", "update"], index: 1)],
                       arguments: [
                           .key("key"),
                           .string("group"),
                           .string("consumer"),
                           .string("min-idle-time"),
                           .string("id").multiple,
                           .integer("ms", token: "IDLE").optional,
                           .unixTime("unix-time-milliseconds", token: "TIME").optional,
                           .integer("count", token: "RETRYCOUNT").optional,
                           .token("FORCE").optional,
                           .token("JUSTID").optional,
                           .string("id", token: "LASTID").optional,
                       ]),
        CommandSpec("xautoclaim", arity: -6, flags: [.write, .fast], keys: (1, 1, 1), group: "stream",
                    summary: "Hands pending entries idle long enough over to another consumer, scanning from a start ID.",
                    run: .keyed(xautoclaim, split: nil, crossShard: nil))
            .described(since: "6.2.0", acl: [.write, .stream, .fast], tips: ["nondeterministic_output"],
                       keySpecs: [KeySpec(["RW", "delete"], index: 1)],
                       arguments: [
                           .key("key"),
                           .string("group"),
                           .string("consumer"),
                           .string("min-idle-time"),
                           .string("start"),
                           .integer("count", token: "COUNT").optional,
                           .token("JUSTID").optional,
                       ]),
        CommandSpec("xreadgroup", arity: -7, flags: [.write, .blocking, .movableKeys], group: "stream",
                    summary: "Delivers entries to a consumer of a group (new ones, or its own pending ones), optionally waiting.",
                    run: .client(StreamReads.xreadgroup))
            .described(since: "5.0.0", acl: [.write, .stream, .slow, .blocking],
                       keySpecs: [KeySpec(["RO", "access"], index: 4, lastKey: -1, keyword: "STREAMS", limit: 2)],
                       arguments: [
                           .block("group_consumer", token: "GROUP", [
                               .string("group"),
                               .string("consumer"),
                           ]),
                           .integer("count", token: "COUNT").optional,
                           .integer("milliseconds", token: "BLOCK").optional,
                           .token("NOACK").optional,
                           .block("streams", token: "STREAMS", [
                               .key("key").multiple,
                               .string("id").multiple,
                           ]),
                       ]),
        CommandSpec(part: .xreadgroup, propagation: .marked, arity: 8, keys: (1, 1, 1), group: "stream",
                    run: .keyed(xreadgroupPart, split: nil, crossShard: nil)),
        CommandSpec(part: .xreadgroupCheck, arity: 4, keys: (1, 1, 1), group: "stream",
                    run: .keyed(xreadgroupCheckPart, split: nil, crossShard: nil)),
    ]

    // MARK: Shared helpers

    static let keyRequired: StaticString = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."
    static let invalidStartID: StaticString = "ERR invalid start ID for the interval"
    static let invalidEndID: StaticString = "ERR invalid end ID for the interval"

    /// `NOGROUP No such key '<key>' or consumer group '<group>'<suffix>` (XPENDING, XCLAIM...).
    static func writeNoKeyOrGroup(_ key: UnsafeRawBufferPointer, _ group: UnsafeRawBufferPointer, suffix: String = "",
                                  _ out: inout ByteBuffer) {
        var text = ErrorText("NOGROUP No such key '")
        text.append(argument: key)
        text.append("' or consumer group '")
        text.append(argument: group)
        text.append("'" + suffix)
        out.writeError(text)
    }

    /// `NOGROUP No such consumer group '<group>' for key name '<key>'` (XGROUP, XINFO CONSUMERS).
    static func writeNoGroupForKey(_ group: UnsafeRawBufferPointer, _ key: UnsafeRawBufferPointer, _ out: inout ByteBuffer) {
        var text = ErrorText("NOGROUP No such consumer group '")
        text.append(argument: group)
        text.append("' for key name '")
        text.append(argument: key)
        text.append("'")
        out.writeError(text)
    }

    /// The stream and group for XPENDING/XCLAIM/XAUTOCLAIM/XREADGROUP (a read lookup, as
    /// Redis's lookupKeyRead): nil after WRONGTYPE or the NOGROUP error.
    static func streamAndGroup(_ ctx: ShardContext, key: UnsafeRawBufferPointer, group: UnsafeRawBufferPointer,
                               suffix: String = "", _ out: inout ByteBuffer) -> (Stream, StreamGroup)? {
        var stream: Stream?
        if let e = ctx.shard.lookupForRead(db: ctx.db, key: key) {
            guard e.kind == .object, let s = e.object as? Stream else { out.writeError(Errors.wrongType); return nil }
            stream = s
        }
        guard let s = stream, let g = s.group(named: group) else {
            writeNoKeyOrGroup(key, group, suffix: suffix, &out)
            return nil
        }
        return (s, g)
    }

    static func changed(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer) {
        ctx.shard.noteChangedUnwatched(db: ctx.db, key: key)
    }

    /// The command must not reach replicas as it came (it propagated XCLAIM forms, or nothing).
    static func preventPropagation(_ ctx: ShardContext) {
        ctx.shard.propagation?.propagatedExplicitly = true
    }

    /// Redis's streamPropagateXCLAIM: an idempotent XCLAIM recreating the NACK as it is now.
    static func propagateXCLAIM(_ ctx: ShardContext, key: UnsafeRawBufferPointer, group g: StreamGroup,
                                groupName: UnsafeRawBufferPointer, id: StreamID, nack: StreamNACK) {
        guard ctx.replicating else { return }
        let consumer = nack.consumer?.name ?? []
        consumer.withUnsafeBytes { name in
            ctx.propagate(.text("XCLAIM"), .bytes(key), .bytes(groupName), .bytes(name), .text("0"),
                          .text(id.description), .text("TIME"), .text(String(nack.deliveryTime)),
                          .text("RETRYCOUNT"), .text(String(nack.deliveryCount)), .text("FORCE"), .text("JUSTID"),
                          .text("LASTID"), .text(g.lastID.description))
        }
    }

    /// Redis's streamPropagateGroupID: the group's last ID (and entries-read) as XGROUP SETID.
    static func propagateGroupID(_ ctx: ShardContext, key: UnsafeRawBufferPointer, group g: StreamGroup,
                                 groupName: UnsafeRawBufferPointer) {
        guard ctx.replicating else { return }
        ctx.propagate(.text("XGROUP"), .text("SETID"), .bytes(key), .bytes(groupName), .text(g.lastID.description),
                      .text("ENTRIESREAD"), .text(String(g.entriesRead)))
    }

    /// Redis's streamPropagateConsumerCreation.
    static func propagateConsumerCreation(_ ctx: ShardContext, key: UnsafeRawBufferPointer,
                                          groupName: UnsafeRawBufferPointer, consumer: UnsafeRawBufferPointer) {
        guard ctx.replicating else { return }
        ctx.propagate(.text("XGROUP"), .text("CREATECONSUMER"), .bytes(key), .bytes(groupName), .bytes(consumer))
    }

    /// Writes the entry `id` as `*2 id fields`; false (nothing written) if it is not in the stream.
    static func writeEntry(_ s: Stream, _ id: StreamID, _ out: inout ByteBuffer) -> Bool {
        var found = false
        s.forEach(from: id, to: id) { e in
            StreamCommands.writeEntry(e, &out)
            found = true
            return false
        }
        return found
    }

    // MARK: XGROUP

    static func xgroupHelp(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        writeHelp("XGROUP", [
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ], &out)
    }

    /// XGROUP CREATE/SETID/DESTROY/CREATECONSUMER/DELCONSUMER (Redis's xgroupCommand).
    static func xgroup(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let sub = args[1], key = args[2], groupName = args[3]
        let create = argIs(sub, "create"), setid = argIs(sub, "setid")
        var mkstream = false
        var entriesRead = StreamGroup.invalidEntriesRead
        var i = 5
        while i < args.count {
            if create && argIs(args[i], "mkstream") {
                mkstream = true
                i += 1
            } else if (create || setid) && argIs(args[i], "entriesread") && i + 1 < args.count {
                guard let n = parseStrictInt(args[i + 1]) else { out.writeError(Errors.notInteger); return }
                guard n >= 0 || n == -1 else { out.writeError("ERR value for ENTRIESREAD must be positive or -1"); return }
                entriesRead = Int64(n)
                i += 2
            } else {
                writeSubcommandSyntaxError(args, &out)
                return
            }
        }
        var stream: Stream?
        switch StreamCommands.streamForWrite(ctx, key, &out) {
        case .wrongType: return
        case .found(let s): stream = s
        case .missing: break
        }
        var group: StreamGroup?
        if !mkstream {
            guard let s = stream else { out.writeError(keyRequired); return }
            group = s.group(named: groupName)
            if group == nil && (setid || argIs(sub, "createconsumer") || argIs(sub, "delconsumer")) {
                writeNoGroupForKey(groupName, key, &out)
                return
            }
        }
        if create && args.count <= 8 {
            xgroupCreate(ctx, args, stream, entriesRead: entriesRead, &out)
        } else if setid && (args.count == 5 || args.count == 7), let s = stream, let g = group {
            let id: StreamID
            if isDollar(args[4]) {
                id = s.lastID
            } else {
                guard let parsed = StreamCommands.parseID(args[4], missingSeq: 0, strict: false) else {
                    out.writeError(StreamCommands.invalidID); return
                }
                id = parsed
            }
            g.lastID = id
            g.entriesRead = entriesRead
            changed(ctx, key)
            out.writeOK()
        } else if argIs(sub, "destroy") && args.count == 4, let s = stream {
            guard group != nil, s.destroyGroup(named: groupName) else { out.writeInteger(0); return }
            changed(ctx, key)
            out.writeInteger(1)
            // Clients blocked reading this group get NOGROUP.
            ctx.shard.blocked.signal(db: ctx.db, key: key)
        } else if argIs(sub, "createconsumer") && args.count == 5, let g = group {
            let created = g.createConsumer(named: args[4], now: ctx.shard.now) != nil
            if created { changed(ctx, key) }
            out.writeInteger(created ? 1 : 0)
        } else if argIs(sub, "delconsumer") && args.count == 5, let g = group {
            let pending = g.deleteConsumer(named: args[4])
            if pending != nil { changed(ctx, key) }
            out.writeInteger(pending ?? 0)
        } else {
            writeSubcommandSyntaxError(args, &out)
        }
    }

    static func isDollar(_ b: UnsafeRawBufferPointer) -> Bool { b.count == 1 && b[0] == UInt8(ascii: "$") }

    private static func xgroupCreate(_ ctx: ShardContext, _ args: Arguments, _ stream: Stream?, entriesRead: Int64,
                                     _ out: inout ByteBuffer) {
        let id: StreamID
        if isDollar(args[4]) {
            id = stream?.lastID ?? .zero
        } else {
            guard let parsed = StreamCommands.strictID(args[4], &out) else { return }
            id = parsed
        }
        let s = stream ?? StreamCommands.createStream(ctx, args[2])  // MKSTREAM, now that nothing can fail
        guard s.createGroup(named: args[3], lastID: id, entriesRead: entriesRead) != nil else {
            out.writeError("BUSYGROUP Consumer Group name already exists")
            return
        }
        changed(ctx, args[2])
        out.writeOK()
    }

    // MARK: XACK

    static func xack(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let s = StreamCommands.streamForRead(ctx, args[1], &out, missing: { $0.writeInteger(0) }) else { return }
        guard let g = s.group(named: args[2]) else { out.writeInteger(0); return }
        var ids: [StreamID] = []
        for j in 3..<args.count {
            guard let id = StreamCommands.strictID(args[j], &out) else { return }
            ids.append(id)
        }
        var acknowledged = 0
        for id in ids where g.acknowledge(id) { acknowledged += 1 }
        if acknowledged > 0 { changed(ctx, args[1]) }
        out.writeInteger(acknowledged)
    }

    // MARK: XPENDING

    /// XPENDING key group [[IDLE min-idle] start end count [consumer]]
    static func xpending(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let argc = args.count
        guard argc == 3 || (argc >= 6 && argc <= 9) else { out.writeError(Errors.syntax); return }
        var start = StreamID.zero, end = StreamID.max
        var count = 0, minIdle = 0
        var consumerName: UnsafeRawBufferPointer?
        if argc >= 6 {
            var startIndex = 3
            if argIs(args[3], "idle") {
                guard let n = parseStrictInt(args[4]) else { out.writeError(Errors.notInteger); return }
                minIdle = n
                guard argc >= 8 else { out.writeError(Errors.syntax); return }
                startIndex += 2
            }
            guard let n = parseStrictInt(args[startIndex + 2]) else { out.writeError(Errors.notInteger); return }
            count = max(n, 0)
            guard let (first, startEx) = StreamCommands.intervalID(args[startIndex], missingSeq: 0, &out) else { return }
            start = first
            if startEx {
                guard let next = start.successor else { out.writeError(invalidStartID); return }
                start = next
            }
            guard let (last, endEx) = StreamCommands.intervalID(args[startIndex + 1], missingSeq: .max, &out) else { return }
            end = last
            if endEx {
                guard let prev = end.predecessor else { out.writeError(invalidEndID); return }
                end = prev
            }
            if startIndex + 3 < argc { consumerName = args[startIndex + 3] }
        }
        guard let (_, g) = streamAndGroup(ctx, key: args[1], group: args[2], &out) else { return }
        let now = ctx.shard.now
        if argc == 3 {
            writePendingSummary(g, ctx.resp, &out)
            return
        }
        var pel = g.pel
        if let name = consumerName {
            guard let c = g.consumer(named: name) else { out.writeArrayHeader(0); return }
            pel = c.pel
        }
        var body = ByteBuffer(capacity: 128)
        var emitted = 0
        var i = pel.lowerBound(start)
        while count > 0 && i < pel.count && pel.keys[i] <= end {
            let id = pel.keys[i], nack = pel.values[i]
            i += 1
            if minIdle != 0 && now &- nack.deliveryTime < Int64(minIdle) { continue }
            emitted += 1
            count -= 1
            body.writeArrayHeader(4)
            StreamCommands.writeID(id, &body)
            body.writeBulk(nack.consumer?.name ?? [])
            body.writeInteger(Int(max(now &- nack.deliveryTime, 0)))
            body.writeInteger(Int(nack.deliveryCount))
        }
        out.writeArrayHeader(emitted)
        out.append(body.readable)
    }

    private static func writePendingSummary(_ g: StreamGroup, _ resp: RESPVersion, _ out: inout ByteBuffer) {
        out.writeArrayHeader(4)
        out.writeInteger(g.pel.count)
        guard let first = g.pel.keys.first, let last = g.pel.keys.last else {
            out.writeNull(resp)
            out.writeNull(resp)
            out.writeNullArray(resp)
            return
        }
        StreamCommands.writeID(first, &out)
        StreamCommands.writeID(last, &out)
        let owners = g.consumers.filter { !$0.pel.isEmpty }
        out.writeArrayHeader(owners.count)
        for c in owners {
            out.writeArrayHeader(2)
            out.writeBulk(c.name)
            out.writeBulkDecimal(c.pel.count)
        }
    }

    // MARK: XCLAIM

    /// XCLAIM key group consumer min-idle-time id... [IDLE ms] [TIME ms] [RETRYCOUNT n] [FORCE] [JUSTID] [LASTID id]
    static func xclaim(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let key = args[1], groupName = args[2]
        guard let (s, g) = streamAndGroup(ctx, key: key, group: groupName, &out) else { return }
        guard var minIdle = parseStrictInt(args[4]) else {
            out.writeError("ERR Invalid min-idle-time argument for XCLAIM"); return
        }
        minIdle = max(minIdle, 0)
        var ids: [StreamID] = []
        var j = 5
        while j < args.count, let id = StreamCommands.parseID(args[j], missingSeq: 0, strict: true) {
            ids.append(id)
            j += 1
        }
        let now = ctx.shard.now
        var deliveryTime: Int64 = -1
        var retryCount: Int64 = -1
        var force = false, justID = false
        var lastID = StreamID.zero
        while j < args.count {
            let more = args.count - 1 - j
            let opt = args[j]
            if argIs(opt, "force") {
                force = true
            } else if argIs(opt, "justid") {
                justID = true
            } else if argIs(opt, "idle") && more > 0 {
                j += 1
                guard let n = parseStrictInt(args[j]) else { out.writeError("ERR Invalid IDLE option argument for XCLAIM"); return }
                // Wraps as Redis's C does; the clamp below keeps the result sane.
                deliveryTime = now &- Int64(n)
            } else if argIs(opt, "time") && more > 0 {
                j += 1
                guard let n = parseStrictInt(args[j]) else { out.writeError("ERR Invalid TIME option argument for XCLAIM"); return }
                deliveryTime = Int64(n)
            } else if argIs(opt, "retrycount") && more > 0 {
                j += 1
                guard let n = parseStrictInt(args[j]) else {
                    out.writeError("ERR Invalid RETRYCOUNT option argument for XCLAIM"); return
                }
                retryCount = Int64(n)
            } else if argIs(opt, "lastid") && more > 0 {
                j += 1
                guard let id = StreamCommands.strictID(args[j], &out) else { return }
                lastID = id
            } else {
                out.writeError(quoting: opt, "ERR Unrecognized XCLAIM option '", "'")
                return
            }
            j += 1
        }
        var propagateLastID = false
        if lastID > g.lastID {
            g.lastID = lastID
            propagateLastID = true
            changed(ctx, key)
        }
        // A bogus time (negative, or in the future) means now, as does none.
        if deliveryTime < 0 || deliveryTime > now { deliveryTime = now }

        var claimer: StreamConsumer?
        var body = ByteBuffer(capacity: 128)
        var claimed = 0
        for id in ids {
            var nack = g.pel[id]
            // A deleted entry leaves the PEL (and replicas are told so).
            guard s.contains(id) else {
                if let gone = nack {
                    propagateXCLAIM(ctx, key: key, group: g, groupName: groupName, id: id, nack: gone)
                    propagateLastID = false
                    g.acknowledge(id)
                    changed(ctx, key)
                }
                continue
            }
            if force && nack == nil {
                let created = StreamNACK(deliveryTime: now, deliveryCount: 1, consumer: nil)
                g.pel.insert(id, created)
                nack = created
            }
            guard let n = nack else { continue }
            if n.consumer != nil && minIdle != 0 && now &- n.deliveryTime < Int64(minIdle) { continue }
            let consumer = claimer ?? lazyConsumer(ctx, g, key: key, name: args[3])
            claimer = consumer
            g.transfer(id, n, to: consumer)
            n.deliveryTime = deliveryTime
            if retryCount >= 0 {
                n.deliveryCount = retryCount
            } else if !justID {
                n.deliveryCount &+= 1
            }
            if justID {
                StreamCommands.writeID(id, &body)
            } else {
                _ = writeEntry(s, id, &body)
            }
            claimed += 1
            propagateXCLAIM(ctx, key: key, group: g, groupName: groupName, id: id, nack: n)
            propagateLastID = false
            changed(ctx, key)
        }
        if propagateLastID { propagateGroupID(ctx, key: key, group: g, groupName: groupName) }
        preventPropagation(ctx)
        out.writeArrayHeader(claimed)
        out.append(body.readable)
    }

    /// The claiming consumer, looked up (seen now) or created at the first entry it claims:
    /// in Redis 7.0 a claim that takes nothing leaves the consumers as they were.
    static func lazyConsumer(_ ctx: ShardContext, _ g: StreamGroup, key: UnsafeRawBufferPointer,
                             name: UnsafeRawBufferPointer) -> StreamConsumer {
        let (consumer, created) = g.consumer(named: name, creatingAt: ctx.shard.now)
        consumer.seenTime = ctx.shard.now
        if created { changed(ctx, key) }
        return consumer
    }

    // MARK: XAUTOCLAIM

    /// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
    static func xautoclaim(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let key = args[1], groupName = args[2]
        guard var minIdle = parseStrictInt(args[4]) else {
            out.writeError("ERR Invalid min-idle-time argument for XAUTOCLAIM"); return
        }
        minIdle = max(minIdle, 0)
        guard let (first, startEx) = StreamCommands.intervalID(args[5], missingSeq: 0, &out) else { return }
        var start = first
        if startEx {
            guard let next = start.successor else { out.writeError(invalidStartID); return }
            start = next
        }
        var count = 100
        var justID = false
        var j = 6
        while j < args.count {
            let more = args.count - 1 - j
            if argIs(args[j], "count") && more > 0 {
                // Redis's getRangeLongFromObjectOrReply(1, LONG_MAX / max(sizeof(streamID), attempts factor)).
                guard let n = parseStrictInt(args[j + 1]), n >= 1, n <= Int.max / 16 else {
                    out.writeError("ERR COUNT must be > 0"); return
                }
                count = n
                j += 1
            } else if argIs(args[j], "justid") {
                justID = true
            } else {
                out.writeError(Errors.syntax)
                return
            }
            j += 1
        }
        guard let (s, g) = streamAndGroup(ctx, key: key, group: groupName, &out) else { return }
        let now = ctx.shard.now
        var claimer: StreamConsumer?
        var attempts = count * 10
        var body = ByteBuffer(capacity: 128)
        var claimed = 0
        var deleted: [StreamID] = []
        var i = g.pel.lowerBound(start)
        while attempts > 0 && count > 0 && i < g.pel.count {
            attempts -= 1
            let id = g.pel.keys[i], nack = g.pel.values[i]
            guard s.contains(id) else {
                propagateXCLAIM(ctx, key: key, group: g, groupName: groupName, id: id, nack: nack)
                g.acknowledge(id)  // the PEL shifts down: `i` is now the next entry
                changed(ctx, key)
                deleted.append(id)
                count -= 1
                continue
            }
            i += 1
            if minIdle != 0 && now &- nack.deliveryTime < Int64(minIdle) { continue }
            let consumer = claimer ?? lazyConsumer(ctx, g, key: key, name: args[3])
            claimer = consumer
            g.transfer(id, nack, to: consumer)
            nack.deliveryTime = now
            if !justID { nack.deliveryCount &+= 1 }
            if justID {
                StreamCommands.writeID(id, &body)
            } else {
                _ = writeEntry(s, id, &body)
            }
            claimed += 1
            count -= 1
            propagateXCLAIM(ctx, key: key, group: g, groupName: groupName, id: id, nack: nack)
            changed(ctx, key)
        }
        preventPropagation(ctx)
        // The cursor: the entry after the last one examined, 0-0 at the end.
        out.writeArrayHeader(3)
        StreamCommands.writeID(i < g.pel.count ? g.pel.keys[i] : .zero, &out)
        out.writeArrayHeader(claimed)
        out.append(body.readable)
        out.writeArrayHeader(deleted.count)
        for id in deleted { StreamCommands.writeID(id, &out) }
    }

    // MARK: XINFO

    static func xinfoHelp(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        writeHelp("XINFO", [
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ], &out)
    }

    static func xinfo(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let s = StreamCommands.streamForRead(ctx, args[2], &out, missing: { $0.writeError(Errors.noSuchKey) }) else {
            return
        }
        let resp = ctx.resp
        if argIs(args[1], "consumers") {
            guard let g = s.group(named: args[3]) else { writeNoGroupForKey(args[3], args[2], &out); return }
            let now = ctx.shard.now
            out.writeArrayHeader(g.consumers.count)
            for c in g.consumers {
                out.writeMapHeader(3, resp)
                out.writeBulk(string: "name")
                out.writeBulk(c.name)
                out.writeBulk(string: "pending")
                out.writeInteger(c.pel.count)
                out.writeBulk(string: "idle")
                out.writeInteger(Int(max(now &- c.seenTime, 0)))
            }
        } else if argIs(args[1], "groups") {
            out.writeArrayHeader(s.groups.count)
            for g in s.groups {
                out.writeMapHeader(6, resp)
                out.writeBulk(string: "name")
                out.writeBulk(g.name)
                out.writeBulk(string: "consumers")
                out.writeInteger(g.consumers.count)
                out.writeBulk(string: "pending")
                out.writeInteger(g.pel.count)
                out.writeBulk(string: "last-delivered-id")
                StreamCommands.writeID(g.lastID, &out)
                writeEntriesReadAndLag(s, g, resp, &out)
            }
        } else {
            xinfoStream(s, args, resp, &out)
        }
    }

    private static func writeEntriesReadAndLag(_ s: Stream, _ g: StreamGroup, _ resp: RESPVersion, _ out: inout ByteBuffer) {
        out.writeBulk(string: "entries-read")
        if g.entriesRead != StreamGroup.invalidEntriesRead { out.writeInteger(Int(g.entriesRead)) } else { out.writeNull(resp) }
        out.writeBulk(string: "lag")
        if let lag = s.lag(of: g) { out.writeInteger(Int(lag)) } else { out.writeNull(resp) }
    }

    /// XINFO STREAM key [FULL [COUNT n]] (Redis's xinfoReplyWithStreamInfo).
    private static func xinfoStream(_ s: Stream, _ args: Arguments, _ resp: RESPVersion, _ out: inout ByteBuffer) {
        let options = args.count - 3
        var full = false
        var count = 10
        if options > 0 {
            guard (options == 1 || options == 3) && argIs(args[3], "full") else { writeSubcommandSyntaxError(args, &out); return }
            full = true
            if options == 3 {
                guard argIs(args[4], "count") else { writeSubcommandSyntaxError(args, &out); return }
                guard let n = parseStrictInt(args[5]) else { out.writeError(Errors.notInteger); return }
                count = n < 0 ? 10 : n
            }
        }
        out.writeMapHeader(full ? 9 : 10, resp)
        out.writeBulk(string: "length")
        out.writeInteger(s.length)
        // Our nodes are Redis's rax keys one for one; the rax's inner node count is that of
        // the compressed trie over their master IDs (see Stream.radixTreeNodeCount).
        out.writeBulk(string: "radix-tree-keys")
        out.writeInteger(s.nodes.count)
        out.writeBulk(string: "radix-tree-nodes")
        out.writeInteger(s.radixTreeNodeCount)
        out.writeBulk(string: "last-generated-id")
        StreamCommands.writeID(s.lastID, &out)
        out.writeBulk(string: "max-deleted-entry-id")
        StreamCommands.writeID(s.maxDeletedEntryID, &out)
        out.writeBulk(string: "entries-added")
        out.writeInteger(Int(truncatingIfNeeded: s.entriesAdded))
        out.writeBulk(string: "recorded-first-entry-id")
        StreamCommands.writeID(s.firstID, &out)
        if !full {
            out.writeBulk(string: "groups")
            out.writeInteger(s.groups.count)
            for first in [true, false] {
                out.writeBulk(string: first ? "first-entry" : "last-entry")
                var found = false
                s.forEach(from: .zero, to: .max, reverse: !first) { e in
                    StreamCommands.writeEntry(e, &out)
                    found = true
                    return false
                }
                if !found { out.writeNull(resp) }
            }
            return
        }
        out.writeBulk(string: "entries")
        StreamCommands.writeRange(s, from: .zero, to: .max, count: count, reverse: false, &out)
        out.writeBulk(string: "groups")
        out.writeArrayHeader(s.groups.count)
        for g in s.groups { writeFullGroup(s, g, count: count, resp, &out) }
    }

    private static func writeFullGroup(_ s: Stream, _ g: StreamGroup, count: Int, _ resp: RESPVersion,
                                       _ out: inout ByteBuffer) {
        out.writeMapHeader(7, resp)
        out.writeBulk(string: "name")
        out.writeBulk(g.name)
        out.writeBulk(string: "last-delivered-id")
        StreamCommands.writeID(g.lastID, &out)
        writeEntriesReadAndLag(s, g, resp, &out)
        out.writeBulk(string: "pel-count")
        out.writeInteger(g.pel.count)
        out.writeBulk(string: "pending")
        let shown = count == 0 ? g.pel.count : min(count, g.pel.count)
        out.writeArrayHeader(shown)
        for i in 0..<shown {
            let nack = g.pel.values[i]
            out.writeArrayHeader(4)
            StreamCommands.writeID(g.pel.keys[i], &out)
            out.writeBulk(nack.consumer?.name ?? [])
            out.writeInteger(Int(nack.deliveryTime))
            out.writeInteger(Int(nack.deliveryCount))
        }
        out.writeBulk(string: "consumers")
        out.writeArrayHeader(g.consumers.count)
        for c in g.consumers {
            out.writeMapHeader(4, resp)
            out.writeBulk(string: "name")
            out.writeBulk(c.name)
            out.writeBulk(string: "seen-time")
            out.writeInteger(Int(c.seenTime))
            out.writeBulk(string: "pel-count")
            out.writeInteger(c.pel.count)
            out.writeBulk(string: "pending")
            let shown = count == 0 ? c.pel.count : min(count, c.pel.count)
            out.writeArrayHeader(shown)
            for i in 0..<shown {
                let nack = c.pel.values[i]
                out.writeArrayHeader(3)
                StreamCommands.writeID(c.pel.keys[i], &out)
                out.writeInteger(Int(nack.deliveryTime))
                out.writeInteger(Int(nack.deliveryCount))
            }
        }
    }

    // MARK: XREADGROUP (shard side)

    static let dollarInGroup: StaticString = "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."

    /// Redis's per-stream checks of xreadCommand, in its order: type, group, then the ID.
    /// Returns the stream, group and ID (nil: `>`), or nil after writing the error.
    static func checkGroupRead(_ ctx: ShardContext, key: UnsafeRawBufferPointer, idArg: UnsafeRawBufferPointer,
                               group: UnsafeRawBufferPointer, _ out: inout ByteBuffer) -> (Stream, StreamGroup, StreamID?)? {
        guard let (s, g) = streamAndGroup(ctx, key: key, group: group, suffix: " in XREADGROUP with GROUP option", &out)
        else { return nil }
        if isDollar(idArg) { out.writeError(dollarInGroup); return nil }
        if idArg.count == 1 && idArg[0] == UInt8(ascii: ">") { return (s, g, nil) }
        guard let id = StreamCommands.strictID(idArg, &out) else { return nil }
        return (s, g, id)
    }

    /// `__xreadgroup_check key id group`: `+OK` or the error the stream would give
    /// (XREADGROUP over several streams checks them all before serving any).
    static func xreadgroupCheckPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard checkGroupRead(ctx, key: args[1], idArg: args[2], group: args[3], &out) != nil else { return }
        out.writeOK()
    }

    /// `__xreadgroup key id group consumer count noack deadline`: `*2 key entries`, a null
    /// array (nothing new), or a waiter and `+BLOCKED`.
    static func xreadgroupPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let key = args[1], groupName = args[3], consumerName = args[4]
        guard let (s, g, history) = checkGroupRead(ctx, key: key, idArg: args[2], group: groupName, &out) else { return }
        let count = parseStrictInt(args[5]) ?? 0
        let noack = args[6].count == 1 && args[6][0] == UInt8(ascii: "1")
        if let after = history {
            let consumer = seenConsumer(ctx, g, key: key, groupName: groupName, name: consumerName, noack: noack)
            serveHistory(ctx, s, consumer, key: key, after: after, count: count, &out)
            return
        }
        if serveNew(ctx, s, g, consumerName: consumerName, key: key, groupName: groupName, count: count, noack: noack,
                    &out) { return }
        let deadline = Int64(parseStrictInt(args[7]) ?? -1)
        if deadline >= 0, let sink = ctx.sink {
            ctx.block(StreamReads.xreadgroupPartIndex, on: [Array(key)], sink: sink,
                      request: StreamWait.xreadgroup(group: Array(groupName), consumer: Array(consumerName), count: count,
                                                     noack: noack),
                      deadline: deadline)
            out.append(StreamReads.blockedMarker)
            return
        }
        out.writeNullArray(.resp2)
    }

    /// The reading consumer, created if new, seen now. Redis 7.0 looks it up only for a
    /// stream it serves: a read that finds nothing new (or blocks) neither creates it nor
    /// refreshes its seen-time.
    static func seenConsumer(_ ctx: ShardContext, _ g: StreamGroup, key: UnsafeRawBufferPointer,
                             groupName: UnsafeRawBufferPointer, name: UnsafeRawBufferPointer, noack: Bool) -> StreamConsumer {
        let (consumer, created) = g.consumer(named: name, creatingAt: ctx.shard.now)
        consumer.seenTime = ctx.shard.now
        if created {
            changed(ctx, key)
            if noack { propagateConsumerCreation(ctx, key: key, groupName: groupName, consumer: name) }
        }
        return consumer
    }

    /// The consumer's own pending entries after `after` (Redis's
    /// streamReplyWithRangeFromConsumerPEL): each delivered again, or `[id, nil]` if deleted.
    static func serveHistory(_ ctx: ShardContext, _ s: Stream, _ consumer: StreamConsumer, key: UnsafeRawBufferPointer,
                             after: StreamID, count: Int, _ out: inout ByteBuffer) {
        let start = after.successor ?? .max
        let now = ctx.shard.now
        var body = ByteBuffer(capacity: 128)
        var emitted = 0
        var i = consumer.pel.lowerBound(start)
        while i < consumer.pel.count && (count == 0 || emitted < count) {
            let id = consumer.pel.keys[i], nack = consumer.pel.values[i]
            if writeEntry(s, id, &body) {
                nack.deliveryTime = now
                nack.deliveryCount &+= 1
            } else {
                body.writeArrayHeader(2)
                StreamCommands.writeID(id, &body)
                body.writeNullArray(ctx.resp)
            }
            emitted += 1
            i += 1
        }
        if emitted > 0 { changed(ctx, key) }
        out.writeArrayHeader(2)
        out.writeBulk(key)
        out.writeArrayHeader(emitted)
        out.append(body.readable)
    }

    /// Entries after the group's last delivered ID, delivered to `consumer` (Redis's
    /// streamReplyWithRange with a group); false (nothing written) if there are none.
    static func serveNew(_ ctx: ShardContext, _ s: Stream, _ g: StreamGroup, consumerName: UnsafeRawBufferPointer,
                         key: UnsafeRawBufferPointer, groupName: UnsafeRawBufferPointer, count: Int, noack: Bool,
                         _ out: inout ByteBuffer) -> Bool {
        guard s.length > 0, s.lastValidID > g.lastID, let start = g.lastID.successor else { return false }
        let consumer = seenConsumer(ctx, g, key: key, groupName: groupName, name: consumerName, noack: noack)
        let now = ctx.shard.now
        var body = ByteBuffer(capacity: 256)
        var emitted = 0
        var lastIDMoved = false
        s.forEach(from: start, to: .max) { e in
            if e.id > g.lastID {
                s.advance(g, to: e.id)
                lastIDMoved = true
            }
            StreamCommands.writeEntry(e, &body)
            if !noack {
                let nack = g.recordDelivery(e.id, to: consumer, now: now)
                propagateXCLAIM(ctx, key: key, group: g, groupName: groupName, id: e.id, nack: nack)
            }
            emitted += 1
            return count == 0 || emitted < count
        }
        guard emitted > 0 else { return false }
        changed(ctx, key)
        // Without NOACK the XCLAIMs carry LASTID; with it, the group's new position goes alone.
        if noack && lastIDMoved { propagateGroupID(ctx, key: key, group: g, groupName: groupName) }
        out.writeArrayHeader(2)
        out.writeBulk(key)
        out.writeArrayHeader(emitted)
        out.append(body.readable)
        return true
    }
}
