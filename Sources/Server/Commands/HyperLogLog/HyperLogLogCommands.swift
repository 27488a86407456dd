import RESP
import Shards

/// HyperLogLog on strings (Redis 7.0's hyperloglog.c): PFADD, PFCOUNT, PFMERGE, PFDEBUG and
/// PFSELFTEST, on the representation of HLLRepresentation.swift. HLLs are read and changed
/// in place in their entry. A PFCOUNT of one key writes the cardinality it computed back
/// into the string's cache, and so, as in Redis, changes the key and reaches replicas.
enum HyperLogLogCommands {
    static let specs: [CommandSpec] = [
        CommandSpec("pfadd", arity: -2, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "hyperloglog",
                    summary: "Counts elements into a HyperLogLog, creating it if needed.",
                    run: .keyed(pfadd, split: nil, crossShard: nil))
            .described(since: "2.8.9", acl: [.write, .hyperloglog, .fast],
                       keySpecs: [KeySpec(["RW", "insert"], index: 1)],
                       arguments: [.key("key"), .string("element").optional.multiple]),
        CommandSpec("pfcount", arity: -2, flags: [.readonly], keys: (1, -1, 1), group: "hyperloglog",
                    summary: "Estimated number of distinct elements counted into one HyperLogLog, or into the union of several.",
                    run: .keyed(pfcount, split: nil, crossShard: HLLAcrossShards.pfcount))
            .described(since: "2.8.9", acl: [.read, .hyperloglog, .slow],
                       keySpecs: [KeySpec(["RW", "access"], index: 1, lastKey: -1,
                                          notes: "RW because it may change the internal representation of the key, and propagate to replicas")],
                       arguments: [.key("key").multiple])
            .propagatingAsItself(),
        CommandSpec("pfmerge", arity: -2, flags: [.write, .denyOOM], keys: (1, -1, 1), group: "hyperloglog",
                    summary: "Stores in a HyperLogLog the union of it and other HyperLogLogs.",
                    run: .keyed(pfmerge, split: nil, crossShard: HLLAcrossShards.pfmerge))
            .described(since: "2.8.9", acl: [.write, .hyperloglog, .slow],
                       keySpecs: [KeySpec(["RW", "access", "insert"], index: 1),
                                  KeySpec(["RO", "access"], index: 2, lastKey: -1)],
                       arguments: [.key("destkey"), .key("sourcekey", spec: 1).multiple]),
        CommandSpec("pfdebug", arity: 3, flags: [.write, .denyOOM, .admin], keys: (2, 2, 1), group: "hyperloglog",
                    summary: "Shows the registers or encoding of a HyperLogLog, or makes it dense (debugging).",
                    run: .keyed(pfdebug, split: nil, crossShard: nil))
            .described(since: "2.8.9", acl: [.write, .hyperloglog, .admin, .slow, .dangerous],
                       keySpecs: [KeySpec(["RW", "access"], index: 2)],
                       arguments: [.string("subcommand"), .key("key")]),
        CommandSpec("pfselftest", arity: 1, flags: [.admin], group: "hyperloglog",
                    summary: "Checks the HyperLogLog register packing and estimator on random data.",
                    run: .client(pfselftest))
            .described(since: "2.8.9", acl: [.hyperloglog, .admin, .slow, .dangerous]),
        CommandSpec(part: .pfGather, arity: -2, keys: (1, -1, 1), group: "hyperloglog",
                    run: .keyed(HLLAcrossShards.gather, split: nil, crossShard: nil)),
        CommandSpec(part: .pfmergeStore, propagation: .marked, arity: 4, keys: (1, 1, 1), group: "hyperloglog",
                    run: .keyed(HLLAcrossShards.store, split: nil, crossShard: nil)),
    ]

    static let corrupt: StaticString = "INVALIDOBJ Corrupted HLL object detected"
    static let notAnHLL: StaticString = "WRONGTYPE Key is not a valid HyperLogLog string value."

    /// True if `e` holds an HLL Redis accepts, else replies with the error.
    static func isHLL(_ e: Entry, _ out: inout ByteBuffer) -> Bool {
        guard e.kind == .string else { out.writeError(Errors.wrongType); return false }
        guard HLL.isValid(e.value) else { out.writeError(notAnHLL); return false }
        return true
    }

    /// The HLL at `key` for a write: the existing one (checked, and raw-encoded from now on,
    /// as dbUnshareStringValue leaves it) or a new empty one; nil after an error reply.
    static func openForWrite(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer,
                       _ out: inout ByteBuffer) -> (target: HLLTarget, created: Bool)? {
        if let e = ctx.shard.lookup(db: ctx.db, key: key) {
            guard isHLL(e, &out) else { return nil }
            e.flags.insert(.rawEncoding)
            return (HLLTarget(ctx: ctx, entry: e), false)
        }
        let created = HLL.empty.withUnsafeBytes {
            Entry.makeString(key: key, hash: KeyTable.hash(key), value: $0, extraCapacity: 16)
        }
        created.flags = [.rawEncoding]
        ctx.shard.insertNew(created, db: ctx.db, expireAt: 0)
        return (HLLTarget(ctx: ctx, entry: created, noted: true), true)
    }

    // MARK: PFADD, PFCOUNT, PFMERGE

    static func pfadd(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let changesBefore = ctx.shard.changes
        guard let opened = openForWrite(ctx, args[1], &out) else { return }
        var target = opened.target
        var raised = 0
        for i in 2..<args.count {
            let (index, count) = HLL.pattern(args[i])
            switch target.raise(index, count) {
            case .changed: raised += 1
            case .corrupt: out.writeError(corrupt); return
            case .unchanged: break
            }
        }
        let updated = opened.created || raised > 0
        if updated {
            target.willModify()
            HLL.invalidateCache(target.entry.valuePointer)
            ctx.notify(KeyspaceEvent.string, "pfadd", args[1])
            // Redis's server.dirty += updated: the creation and each raised register.
            ctx.shard.countChanges((opened.created ? 1 : 0) + raised, since: changesBefore)
        }
        out.writeInteger(updated ? 1 : 0)
    }

    static func pfcount(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        if args.count > 2 {
            // The union's cardinality; no key's cache changes.
            var max = [UInt8](repeating: 0, count: HLL.registerCount)
            for i in 1..<args.count {
                guard let e = ctx.shard.lookupForRead(db: ctx.db, key: args[i]) else { continue }
                guard isHLL(e, &out) else { return }
                guard max.withUnsafeMutableBufferPointer({ HLL.merge(e.value, into: $0.baseAddress!) }) else {
                    out.writeError(corrupt)
                    return
                }
            }
            out.writeInteger(Int(truncatingIfNeeded: HLL.estimate(raw: max)))
            return
        }
        guard let e = ctx.shard.lookupForRead(db: ctx.db, key: args[1]) else { out.writeInteger(0); return }
        guard isHLL(e, &out) else { return }
        e.flags.insert(.rawEncoding)
        if let cached = HLL.cachedCardinality(e.valuePointer) {
            out.writeInteger(Int(truncatingIfNeeded: cached))
            return
        }
        guard let card = HLL.count(e.value) else { out.writeError(corrupt); return }
        ctx.shard.noteModified(db: ctx.db, key: args[1])
        HLL.storeCardinality(e.valuePointer, card)
        out.writeInteger(Int(truncatingIfNeeded: card))
    }

    /// PFMERGE with every key on this shard. The destination is a source too.
    static func pfmerge(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var max = [UInt8](repeating: 0, count: HLL.registerCount)
        var useDense = false
        for i in 1..<args.count {
            guard let e = ctx.shard.lookupForRead(db: ctx.db, key: args[i]) else { continue }
            guard isHLL(e, &out) else { return }
            if e.value[4] == HLL.dense { useDense = true }
            guard max.withUnsafeMutableBufferPointer({ HLL.merge(e.value, into: $0.baseAddress!) }) else {
                out.writeError(corrupt)
                return
            }
        }
        max.withUnsafeBufferPointer { storeMerged(ctx, args[1], $0.baseAddress!, useDense: useDense, &out) }
    }

    /// Raises `key`'s registers to `max` (creating it empty first if missing), dense first if
    /// any source was dense; the end of pfmergeCommand.
    static func storeMerged(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, _ max: UnsafePointer<UInt8>,
                            useDense: Bool, _ out: inout ByteBuffer) {
        guard var target = openForWrite(ctx, key, &out)?.target else { return }
        target.willModify()
        if useDense && !target.makeDense() { out.writeError(corrupt); return }
        for j in 0..<HLL.registerCount where max[j] != 0 { _ = target.raise(j, max[j]) }
        HLL.invalidateCache(target.entry.valuePointer)
        ctx.notify(KeyspaceEvent.string, "pfadd", key)
        out.writeOK()
    }

    // MARK: PFDEBUG, PFSELFTEST

    static func pfdebug(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let sub = args[1]
        guard let e = ctx.shard.lookup(db: ctx.db, key: args[2]) else {
            out.writeError("ERR The specified key does not exist")
            return
        }
        guard isHLL(e, &out) else { return }
        e.flags.insert(.rawEncoding)
        var target = HLLTarget(ctx: ctx, entry: e)
        if argIs(sub, "getreg") {
            guard target.makeDense() else { out.writeError(corrupt); return }
            let r = UnsafePointer(target.registers)
            out.writeArrayHeader(HLL.registerCount)
            for j in 0..<HLL.registerCount { out.writeInteger(Int(HLL.register(r, j))) }
        } else if argIs(sub, "decode") {
            guard !target.isDense else { out.writeError("ERR HLL encoding is not sparse"); return }
            out.writeBulk(string: decode(UnsafeRawBufferPointer(rebasing: e.value[HLL.headerSize...])))
        } else if argIs(sub, "encoding") {
            if target.isDense { out.writeSimple("dense") } else { out.writeSimple("sparse") }
        } else if argIs(sub, "todense") {
            let converting = !target.isDense
            guard target.makeDense() else { out.writeError(corrupt); return }
            out.writeInteger(converting ? 1 : 0)
        } else {
            // The name as sent (Redis formats it with %s: up to a NUL byte).
            var message = Array("ERR Unknown PFDEBUG subcommand '".utf8)
            message += sub.prefix { $0 != 0 }
            message.append(UInt8(ascii: "'"))
            message.withUnsafeBytes { out.writeError(bytes: $0) }
        }
    }

    /// PFDEBUG DECODE's text: "Z:n" XZERO, "z:n" ZERO, "v:value,n" VAL, space separated.
    static func decode(_ body: UnsafeRawBufferPointer) -> String {
        var parts: [String] = []
        var p = 0
        while p < body.count {
            let op = body[p]
            if op & 0xc0 == 0 {
                parts.append("z:\(Int(op & 0x3f) + 1)")
                p += 1
            } else if op & 0xc0 == 0x40 {
                let next = p + 1 < body.count ? Int(body[p + 1]) : 0
                parts.append("Z:\((Int(op & 0x3f) << 8 | next) + 1)")
                p += 2
            } else {
                parts.append("v:\(Int(op >> 2 & 0x1f) + 1),\(Int(op & 3) + 1)")
                p += 1
            }
        }
        return parts.joined(separator: " ")
    }

    static func pfselftest(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall,
                           _ out: inout ByteBuffer) {
        if let failure = HLLSelfTest.run(sparseMaxBytes: HLLTarget.sparseMaxBytes) {
            out.writeError(string: failure)
        } else {
            out.writeOK()
        }
    }
}

/// An HLL string changed in place in its entry. WATCH, snapshots and replication hear of
/// the change once, before its first byte changes; the entry moves when it grows.
struct HLLTarget {
    let ctx: ShardContext
    var entry: Entry
    var noted = false

    enum Raise { case unchanged, changed, corrupt }

    static var sparseMaxBytes: Int { LiveConfig.hllSparseMaxBytes.load(ordering: .relaxed) }

    var isDense: Bool { entry.valuePointer.load(fromByteOffset: 4, as: UInt8.self) == HLL.dense }
    var registers: UnsafeMutablePointer<UInt8> {
        (entry.valuePointer + HLL.headerSize).assumingMemoryBound(to: UInt8.self)
    }

    mutating func willModify() {
        guard !noted else { return }
        ctx.shard.noteModified(db: ctx.db, key: entry.key)
        noted = true
    }

    /// Raises register `index` to `count` (hllDenseSet / hllSparseSet, promoting a sparse
    /// HLL to dense as Redis does).
    mutating func raise(_ index: Int, _ count: UInt8) -> Raise {
        if isDense {
            let r = registers
            guard count > HLL.register(UnsafePointer(r), index) else { return .unchanged }
            willModify()
            HLL.setRegister(r, index, count)
            return .changed
        }
        var length = entry.valueLength - HLL.headerSize
        let needed = entry.valueLength + 5
        let result = HLL.sparseSet(registers, length: &length, index: index, count: count,
                                   maxBytes: Self.sparseMaxBytes) { reserve(needed) }
        switch result {
        case .unchanged: return .unchanged
        case .invalid: return .corrupt
        case .updated:
            entry.valueLength = HLL.headerSize + length
            HLL.invalidateCache(entry.valuePointer)
            return .changed
        case .promote:
            guard makeDense() else { return .corrupt }
            _ = HLL.raiseRegister(registers, index, count)
            return .changed
        }
    }

    /// Room for `length` value bytes; returns the registers' address.
    private mutating func reserve(_ length: Int) -> UnsafeMutablePointer<UInt8> {
        willModify()
        if length > entry.valueCapacity { entry = StringCommands.growString(ctx, entry, to: length) }
        return registers
    }

    /// Makes the HLL dense (hllSparseToDense); false if its sparse body is corrupt.
    mutating func makeDense() -> Bool {
        guard !isDense else { return true }
        guard let dense = HLL.densified(entry.value) else { return false }
        willModify()
        let old = entry
        if HLL.denseSize <= old.valueCapacity {
            dense.withUnsafeBytes { old.valuePointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            old.valueLength = HLL.denseSize
            return true
        }
        let e = dense.withUnsafeBytes { Entry.makeString(key: old.key, hash: old.hash, value: $0) }
        e.flags = [.rawEncoding]
        e.expireAt = old.expireAt
        e.lastAccess = old.lastAccess
        e.frequency = old.frequency
        ctx.shard.replace(db: ctx.db, old: old, with: e)
        entry = e
        return true
    }
}
