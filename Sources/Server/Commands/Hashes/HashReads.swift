import RESP
import Shards
import Values

/// The hash reads (Redis 7.0's t_hash.c): HGET, HMGET, HGETALL/HKEYS/HVALS, HEXISTS, HLEN,
/// HSTRLEN.
enum HashReads {
    static func hget(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let resp = ctx.resp
        guard let h = HashCommands.hashForRead(ctx, args[1], &out, missing: { $0.writeNull(resp) }) else { return }
        writeValue(h, args[2], resp, &out)
    }

    /// addHashFieldToReply: the value, or null.
    private static func writeValue(_ h: HashHandle, _ field: UnsafeRawBufferPointer, _ resp: RESPVersion, _ out: inout ByteBuffer) {
        h.withValue(field) { v in
            if let v { out.writeBulk(v) } else { out.writeNull(resp) }
        }
    }

    /// A missing key reads as an empty hash: one null per field.
    static func hmget(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let e = ctx.shard.lookupForRead(db: ctx.db, key: args[1])
        var hash: HashHandle?
        if let e {
            guard let h = HashCommands.handle(e, &out) else { return }
            hash = h
        }
        out.writeArrayHeader(args.count - 2)
        for i in 2..<args.count {
            if let hash { writeValue(hash, args[i], ctx.resp, &out) } else { out.writeNull(ctx.resp) }
        }
    }

    /// genericHgetallCommand: fields and values as a map (RESP3) or flat array, or one of them.
    static func hgetall(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer, fields: Bool, values: Bool) {
        let resp = ctx.resp
        let both = fields && values
        guard let h = HashCommands.hashForRead(ctx, args[1], &out, missing: { out in
            if both { out.writeMapHeader(0, resp) } else { out.writeArrayHeader(0) }
        }) else { return }
        if both { out.writeMapHeader(h.count, resp) } else { out.writeArrayHeader(h.count) }
        h.forEach { f, v in
            if fields { out.writeBulk(f) }
            if values { out.writeBulk(v) }
        }
    }

    static func hexists(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let h = HashCommands.hashForRead(ctx, args[1], &out, missing: { $0.writeInteger(0) }) else { return }
        out.writeInteger(h.contains(args[2]) ? 1 : 0)
    }

    static func hlen(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let h = HashCommands.hashForRead(ctx, args[1], &out, missing: { $0.writeInteger(0) }) else { return }
        out.writeInteger(h.count)
    }

    static func hstrlen(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let h = HashCommands.hashForRead(ctx, args[1], &out, missing: { $0.writeInteger(0) }) else { return }
        out.writeInteger(h.valueLength(args[2]))
    }
}
