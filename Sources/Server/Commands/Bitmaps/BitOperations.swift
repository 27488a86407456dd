import RESP
import Shards

/// BITOP AND | OR | XOR | NOT destkey key... (bitopCommand of Redis 7.0). Missing keys are
/// empty strings and shorter strings are zero-padded; the result replaces destkey as a raw
/// string without TTL, or deletes it when every source is empty. When the keys live on
/// several shards, the sources are copied to the coordinator (`__string_sources`, a part
/// per shard), combined there, and stored on destkey's shard (`__bitop_store`), under the
/// locks of every key; replicas get the BITOP itself.
enum BitOperations {
    enum Kind { case and, or, xor, not }

    /// The operation, or nil after its error reply (checked before any key is read).
    private static func kind(_ args: Arguments, _ out: inout ByteBuffer) -> Kind? {
        let name = args[1]
        let kind: Kind
        if argIs(name, "and") { kind = .and }
        else if argIs(name, "or") { kind = .or }
        else if argIs(name, "xor") { kind = .xor }
        else if argIs(name, "not") { kind = .not }
        else { out.writeError(Errors.syntax); return nil }
        if kind == .not && args.count != 4 {
            out.writeError("ERR BITOP NOT must be called with a single source key.")
            return nil
        }
        return kind
    }

    /// The bytes of the result: as long as the longest source.
    static func compute(_ kind: Kind, _ sources: [UnsafeRawBufferPointer]) -> [UInt8] {
        let length = sources.map(\.count).max() ?? 0
        guard length > 0 else { return [] }
        var result = [UInt8](repeating: 0, count: length)
        result.withUnsafeMutableBytes { res in
            if let first = sources.first, first.count > 0 { res.copyMemory(from: first) }
            if kind == .not {
                combine(res, count: length) { r, _ in ~r }
                return
            }
            for source in sources.dropFirst() {
                let n = source.count
                switch kind {
                case .and:
                    combine(res, with: source, count: n) { $0 & $1 }
                    if n < length { (res.baseAddress! + n).initializeMemory(as: UInt8.self, repeating: 0, count: length - n) }
                case .or: combine(res, with: source, count: n) { $0 | $1 }
                case .xor: combine(res, with: source, count: n) { $0 ^ $1 }
                case .not: break
                }
            }
        }
        return result
    }

    /// res[i] = op(res[i], source[i]) for i < count, eight bytes at a time.
    @inline(__always)
    private static func combine(_ res: UnsafeMutableRawBufferPointer, with source: UnsafeRawBufferPointer = .init(start: nil, count: 0),
                                count: Int, _ op: (UInt64, UInt64) -> UInt64) {
        var i = 0
        while i + 8 <= count {
            let s = source.baseAddress == nil ? 0 : source.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            res.storeBytes(of: op(res.loadUnaligned(fromByteOffset: i, as: UInt64.self), s), toByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < count {
            let s = source.baseAddress == nil ? 0 : UInt64(source[i])
            res[i] = UInt8(truncatingIfNeeded: op(UInt64(res[i]), s))
            i += 1
        }
    }

    /// Stores the result in `key` (setKey: any old value and its TTL replaced, raw encoding)
    /// or deletes `key` if it is empty; replies with its length.
    private static func storeResult(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, _ result: [UInt8],
                                    _ out: inout ByteBuffer) {
        if result.isEmpty {
            if ctx.shard.delete(db: ctx.db, key: key) { ctx.notify(KeyspaceEvent.generic, "del", key) }
        } else {
            let e = result.withUnsafeBytes { ctx.shard.setString(db: ctx.db, key: key, value: $0, expireAt: 0) }
            e.flags.insert(.rawEncoding)
            ctx.notify(KeyspaceEvent.string, "set", key)
        }
        out.writeInteger(result.count)
    }

    /// BITOP with every key on this shard.
    static func bitop(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let kind = kind(args, &out) else { return }
        var sources: [UnsafeRawBufferPointer] = []
        sources.reserveCapacity(args.count - 3)
        for i in 3..<args.count {
            guard let e = ctx.shard.lookupForRead(db: ctx.db, key: args[i]) else {
                sources.append(UnsafeRawBufferPointer(start: nil, count: 0))
                continue
            }
            guard e.kind == .string else { out.writeError(Errors.wrongType); return }
            sources.append(e.value)
        }
        // Computed before storing: the destination may be a source.
        storeResult(ctx, args[2], compute(kind, sources), &out)
    }

    // MARK: Across shards

    static let sourcesPart = CommandTable.shared.index(of: .stringSources)
    private static let storePart = CommandTable.shared.index(of: .bitopStore)

    /// `__string_sources key...`: one bulk string holding, per key, 0 (missing), 2 (another
    /// type) or 1, a u32 length and the string's bytes; every lookup counts as a read.
    static func sources(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var blob: [UInt8] = []
        for i in 1..<args.count {
            guard let e = ctx.shard.lookupForRead(db: ctx.db, key: args[i]) else { blob.append(0); continue }
            guard e.kind == .string else { blob.append(2); continue }
            blob.append(1)
            let value = e.value
            for k in 0..<4 { blob.append(UInt8(truncatingIfNeeded: value.count >> (8 * k))) }
            blob.append(contentsOf: value)
        }
        out.writeBulk(blob)
    }

    /// `__bitop_store key bytes`: stores BITOP's result (or deletes the key if empty).
    static func store(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        storeResult(ctx, args[1], Array(args[2]), &out)
    }

    /// A key as `__string_sources` reports it (also read by LCS across shards).
    enum Source { case missing, wrongType, string(Range<Int>) }

    /// The sources of a `__string_sources` reply, as ranges of the reply's bytes.
    static func decode(_ reply: UnsafeRawBufferPointer) -> [Source] {
        let body = SourceGather.bulkBody(reply)
        var p = body.lowerBound
        var sources: [Source] = []
        while p < body.upperBound {
            let status = reply[p]
            p += 1
            guard status == 1 else { sources.append(status == 0 ? .missing : .wrongType); continue }
            var n = 0
            for k in 0..<4 { n |= Int(reply[p + k]) << (8 * k) }
            p += 4
            sources.append(.string(p..<(p + n)))
            p += n
        }
        return sources
    }

    static func bitopAcrossShards(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall,
                                  _ out: inout ByteBuffer) {
        guard let kind = kind(args, &out) else { return }
        let gather = SourceGather(w, args, keys: 3..<args.count)
        let destinationShard = w.shardOf(args[2])
        var storeName = 0, destination = 0
        let op = MultiShardOperation(client: c) { op, out in
            switch op.state {
            case 1:
                out.append(op.reply(op.parts.count - 1))
                return true
            case 2:
                out.writeError(Errors.wrongType)
                return true
            default: break
            }
            if let error = op.firstError() { out.append(error); return true }
            let decoded = (0..<gather.partCount).map { decode(op.reply($0)) }
            var sources: [UnsafeRawBufferPointer] = []
            for (k, (part, position)) in gather.location.enumerated() {
                switch decoded[part][position] {
                case .missing:
                    sources.append(UnsafeRawBufferPointer(start: nil, count: 0))
                case .string(let range):
                    sources.append(UnsafeRawBufferPointer(rebasing: op.reply(part)[range]))
                case .wrongType:
                    // Redis stops at this key: the lookups of the keys after it were not made.
                    let corrected = gather.takeBackLookups(after: k, op) { part, position in
                        if case .missing = decoded[part][position] { return .miss }
                        return .hit
                    }
                    guard corrected else { out.writeError(Errors.wrongType); return true }
                    op.state = 2
                    return false
                }
            }
            let result = compute(kind, sources)
            op.state = 1
            let bytes = result.withUnsafeBytes { op.store($0) }
            op.addPart(shard: destinationShard, command: storePart, spanIndices: [storeName, destination, bytes])
            return false
        }
        op.pausesClient = true
        storeName = op.store(string: InternalCommand.bitopStore.name)
        destination = op.store(args[2])
        gather.addParts(to: op, command: sourcesPart, name: InternalCommand.stringSources.name, args: args)
        w.start(op, client: c, call: &call, out: &out)
    }
}
