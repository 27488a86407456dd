import RESP
import Shards
import Values

/// DUMP and RESTORE (Redis 7.0's cluster.c): a key's value in the RDB encoding with the RDB
/// version and a CRC-64 (RDBWriter.dumpPayload), so payloads move between ValKeyper and
/// redis-server both ways; RESTORE validates them as a dump's values are validated.
enum KeyDumpCommands {
    static let specs: [CommandSpec] = [
        CommandSpec("dump", arity: 2, flags: [.readonly], keys: (1, 1, 1), group: "generic",
                    summary: "The value of a key serialized in the RDB format, for RESTORE.",
                    run: .keyed(dump, split: nil, crossShard: nil))
            .described(since: "2.6.0", acl: [.keyspace, .read, .slow], tips: ["nondeterministic_output"],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)], arguments: [.key("key")]),
        CommandSpec("restore", arity: -4, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "generic",
                    summary: "Creates a key from a DUMP payload, with a TTL and access statistics.",
                    run: .keyed(restore, split: nil, crossShard: nil))
            .described(since: "2.6.0", acl: [.keyspace, .write, .slow, .dangerous],
                       keySpecs: [KeySpec(["OW", "update"], index: 1)],
                       arguments: [
                           .key("key"), .integer("ttl"), .string("serialized-value"),
                           .token("REPLACE").optional, .token("ABSTTL").optional,
                           .integer("seconds", token: "IDLETIME").optional,
                           .integer("frequency", token: "FREQ").optional,
                       ]),
    ]

    static func dump(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let e = ctx.shard.lookupForRead(db: ctx.db, key: args[1]) else { out.writeNull(ctx.resp); return }
        let payload: [UInt8]
        if e.kind == .string {
            payload = RDBWriter.dumpPayload(string: e.value, object: nil)
        } else if let value = e.object as? (any ValueType) {
            payload = RDBWriter.dumpPayload(string: nil, object: value)
        } else {
            out.writeNull(ctx.resp)
            return
        }
        out.writeBulk(payload)
    }

    /// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
    /// (restoreCommand): options, then the key's absence, the TTL and the payload are
    /// checked in Redis's order. A relative TTL reaches replicas as an absolute one (ABSTTL);
    /// a TTL already past creates nothing (a key it replaced reaches them as DEL).
    static func restore(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var replace = false, absolute = false
        var idle = -1, frequency = -1
        var j = 4
        while j < args.count {
            let more = args.count - j - 1
            if argIs(args[j], "replace") {
                replace = true
            } else if argIs(args[j], "absttl") {
                absolute = true
            } else if argIs(args[j], "idletime") && more >= 1 && frequency == -1 {
                guard let n = args.integer(j + 1) else { out.writeError(Errors.notInteger); return }
                guard n >= 0 else { out.writeError("ERR Invalid IDLETIME value, must be >= 0"); return }
                idle = n
                j += 1
            } else if argIs(args[j], "freq") && more >= 1 && idle == -1 {
                guard let n = args.integer(j + 1) else { out.writeError(Errors.notInteger); return }
                guard n >= 0 && n <= 255 else { out.writeError("ERR Invalid FREQ value, must be >= 0 and <= 255"); return }
                frequency = n
                j += 1
            } else {
                out.writeError(Errors.syntax)
                return
            }
            j += 1
        }
        let key = args[1]
        if !replace && ctx.shard.lookup(db: ctx.db, key: key) != nil {
            out.writeError("BUSYKEY Target key name already exists.")
            return
        }
        guard var ttl = args.integer(2) else { out.writeError(Errors.notInteger); return }
        guard ttl >= 0 else { out.writeError("ERR Invalid TTL value, must be >= 0"); return }
        let payload = args[3]
        guard RDBReader.dumpPayloadIsValid(payload, verifyChecksum: !LiveConfig.skipChecksumValidation.load(ordering: .relaxed)) else {
            out.writeError("ERR DUMP payload version or checksum are wrong")
            return
        }
        guard let value = RDBReader.dumpValue(payload) else { out.writeError("ERR Bad data format"); return }

        let deleted = replace && ctx.shard.delete(db: ctx.db, key: key)
        // Wrapping as Redis's C addition does: a TTL too far out lands in the past (no key).
        if ttl != 0 && !absolute { ttl = ttl &+ Int(ctx.shard.now) }
        if ttl != 0 && ttl <= Int(ctx.shard.now) && !ctx.shard.applyingMasterStream {
            // checkAlreadyExpired: nothing is created.
            if deleted {
                if ctx.replicating { ctx.propagate(.text("DEL"), .bytes(key)) }
                ctx.notify(KeyspaceEvent.generic, "del", key)
            }
            out.writeOK()
            return
        }
        let entry: Entry
        switch value {
        case .string(let bytes):
            entry = bytes.withUnsafeBytes { Entry.makeString(key: key, hash: KeyTable.hash(key), value: $0) }
        case .object(let object):
            entry = Entry.makeObject(key: key, hash: KeyTable.hash(key), object: object)
        case .unsupported:
            out.writeError("ERR Bad data format")
            return
        }
        ctx.shard.insertNew(entry, db: ctx.db, expireAt: Int64(ttl))
        if idle >= 0 { entry.lastAccess = UInt32(truncatingIfNeeded: max(0, Int(ctx.shard.now / 1000) - idle)) }
        if frequency >= 0 { entry.frequency = UInt8(frequency) }
        ctx.notify(KeyspaceEvent.generic, "restore", key)
        if ttl != 0 && !absolute && ctx.replicating {
            var rewritten: [PropagatedArgument] = [.text("RESTORE"), .bytes(key), .text(String(ttl))]
            for i in 3..<args.count { rewritten.append(.bytes(args[i])) }
            rewritten.append(.text("ABSTTL"))
            ctx.propagate(rewritten)
        }
        out.writeOK()
    }
}
