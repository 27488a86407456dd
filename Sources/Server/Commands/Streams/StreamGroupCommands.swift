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
        CommandSpec(part: .xreadgroup, propagation: .marked, arity: 8, keys: (1, 1, 1), blocking: true, group: "stream",
                    run: .keyed(xreadgroupPart, split: nil, crossShard: nil)),
        // Without BLOCK (or inside MULTI): never blocks, so it is not counted among the
        // blocking parts in flight that hold a ready key back (BlockedClients.swift).
        CommandSpec(part: .xreadgroupNow, propagation: .marked, arity: 8, keys: (1, 1, 1), group: "stream",
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

    static func xgroupHelp(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
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
            ctx.notify(KeyspaceEvent.stream, "xgroup-setid", key)
            out.writeOK()
        } else if argIs(sub, "destroy") && args.count == 4, let s = stream {
            guard group != nil, s.destroyGroup(named: groupName) else { out.writeInteger(0); return }
            changed(ctx, key)
            ctx.notify(KeyspaceEvent.stream, "xgroup-destroy", key)
            out.writeInteger(1)
            // Clients blocked reading this group get NOGROUP.
            ctx.shard.blocked.signal(db: ctx.db, key: key)
        } else if argIs(sub, "createconsumer") && args.count == 5, let g = group {
            let created = g.createConsumer(named: args[4], now: ctx.shard.now) != nil
            if created {
                changed(ctx, key)
                ctx.notify(KeyspaceEvent.stream, "xgroup-createconsumer", key)
            }
            out.writeInteger(created ? 1 : 0)
        } else if argIs(sub, "delconsumer") && args.count == 5, let g = group {
            let pending = g.deleteConsumer(named: args[4])
            if pending != nil {
                changed(ctx, key)
                ctx.notify(KeyspaceEvent.stream, "xgroup-delconsumer", key)
            }
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
        ctx.notify(KeyspaceEvent.stream, "xgroup-create", args[2])
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
}
