import RESP
import Shards
import Values
#if canImport(Glibc)
import Glibc
#endif

/// RENAME, COPY, MOVE and SWAPDB: on one shard at once, across shards as a multi-step
/// operation under locks.
extension KeyCommands {
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
        ctx.notify(KeyspaceEvent.generic, "rename_from", args[1])
        ctx.notify(KeyspaceEvent.generic, "rename_to", args[2])
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
        shard.notify(KeyspaceEvent.generic, "copy_to", db: target, key: dst)
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
        ctx.notify(KeyspaceEvent.generic, "move_from", args[1])
        shard.notify(KeyspaceEvent.generic, "move_to", db: target, key: args[1])
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
        if argIs(args[0], "__rename") {
            ctx.notify(KeyspaceEvent.generic, "rename_from", args[1])
        } else {
            ctx.notify(KeyspaceEvent.generic, "del", args[1])  // a sorted-set STORE's empty result
        }
        writeHandoff(moved, &out)
    }

    /// ZUNIONSTORE/ZINTERSTORE/ZDIFFSTORE/ZRANGESTORE and the GEO stores across shards attach
    /// their result with parts named after the command (argument 0), whose event this is.
    static func notifySortedSetStore(_ ctx: ShardContext, _ name: UnsafeRawBufferPointer, db: Int,
                                     key: UnsafeRawBufferPointer) {
        let zset = KeyspaceEvent.zset
        if argIs(name, "zunionstore") { ctx.shard.notify(zset, "zunionstore", db: db, key: key) }
        else if argIs(name, "zinterstore") { ctx.shard.notify(zset, "zinterstore", db: db, key: key) }
        else if argIs(name, "zdiffstore") { ctx.shard.notify(zset, "zdiffstore", db: db, key: key) }
        else if argIs(name, "zrangestore") { ctx.shard.notify(zset, "zrangestore", db: db, key: key) }
        else if argIs(name, "geosearchstore") { ctx.shard.notify(zset, "geosearchstore", db: db, key: key) }
        else if argIs(name, "georadiusstore") { ctx.shard.notify(zset, "georadiusstore", db: db, key: key) }
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
            // The operation (its name, argument 0) says which event Redis sends here.
            if argIs(args[0], "__rename") {
                ctx.shard.notify(KeyspaceEvent.generic, "rename_to", db: db, key: args[1])
            } else if argIs(args[0], "__copy") {
                ctx.shard.notify(KeyspaceEvent.generic, "copy_to", db: db, key: args[1])
            } else {
                notifySortedSetStore(ctx, args[0], db: db, key: args[1])
            }
            out.writeInteger(1)
        } else {
            writeHandoff(e, &out)
        }
    }

    /// RENAME/RENAMENX of keys on two shards, in steps:
    /// RENAMENX first checks both keys (the error for a missing source wins over 0);
    /// then the source is detached, then attached at the destination. If a destination
    /// appeared in between, RENAMENX puts the value back under the source key.
    static func renameAcrossShards(_ w: Worker, _ c: Client, _ args: Arguments, nx: Bool, _ call: inout CommandCall,
                                   _ out: inout ByteBuffer) {
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
        // Later steps must run before the client's next commands: unchained, it pauses the
        // client; chained, every later command but another such move waits (chainsInSteps).
        op.pausesClient = true
        op.chainsInSteps = true
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
        w.start(op, client: c, call: &call, out: &out)
    }

    static func isZero(_ reply: UnsafeRawBufferPointer) -> Bool {
        reply.count == 4 && reply[0] == UInt8(ascii: ":") && reply[1] == UInt8(ascii: "0")
    }

    /// COPY of keys on two shards: copy out of the source, then attach at the destination.
    static func copyAcrossShards(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
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
        op.pausesClient = true  // unless chained: see renameAcrossShards
        op.chainsInSteps = true
        name = op.store(string: "__copy")
        let src = op.store(args[1])
        dst = op.store(args[2])
        dbSpan = op.store(string: String(target))
        mode = op.store(string: replace ? "replace" : "nx")
        op.addPart(shard: w.shardOf(args[1]), command: Part.copyOut, spanIndices: [name, src, dst])
        w.start(op, client: c, call: &call, out: &out)
    }

    // MARK: SWAPDB

    static func swapdb(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
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
        w.fanOut(c, args, part: .swapdb, call: &call, out: &out) { op, out in
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
}
