import RESP
import Shards
import Values
#if canImport(Glibc)
import Glibc
#endif

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST (expire.c).
extension KeyCommands {
    // MARK: EXPIRE family

    struct ExpireConditions: OptionSet {
        let rawValue: UInt8
        static let nx = ExpireConditions(rawValue: 1)
        static let xx = ExpireConditions(rawValue: 2)
        static let gt = ExpireConditions(rawValue: 4)
        static let lt = ExpireConditions(rawValue: 8)
    }

    /// NX|XX|GT|LT after the time argument; nil after writing Redis's error.
    static func parseExpireConditions(_ args: Arguments, out: inout ByteBuffer) -> ExpireConditions? {
        var flags: ExpireConditions = []
        for i in 3..<max(args.count, 3) {
            let a = args[i]
            if argIs(a, "nx") { flags.insert(.nx) }
            else if argIs(a, "xx") { flags.insert(.xx) }
            else if argIs(a, "gt") { flags.insert(.gt) }
            else if argIs(a, "lt") { flags.insert(.lt) }
            else { out.writeError(quoting: a, "ERR Unsupported option ", ""); return nil }
        }
        if flags.contains(.nx) && !flags.isDisjoint(with: [.xx, .gt, .lt]) {
            out.writeError("ERR NX and XX, GT or LT options at the same time are not compatible")
            return nil
        }
        if flags.contains([.gt, .lt]) {
            out.writeError("ERR GT and LT options at the same time are not compatible")
            return nil
        }
        return flags
    }

    /// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (expire.c's expireGenericCommand).
    static func expireGeneric(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer,
                              name: String, seconds: Bool, absolute: Bool) {
        guard let conditions = parseExpireConditions(args, out: &out) else { return }
        guard var when = args.integer(2) else { out.writeError(Errors.notInteger); return }
        let shard = ctx.shard
        // Negative times are allowed (they delete the key); only overflow is an error.
        if seconds {
            guard when <= Int.max / 1000 && when >= Int.min / 1000 else { invalidExpireTime(name, &out); return }
            when *= 1000
        }
        let base = absolute ? 0 : Int(shard.now)
        guard when <= Int.max - base else { invalidExpireTime(name, &out); return }
        when += base

        guard let e = shard.lookup(db: ctx.db, key: args[1]) else { out.writeInteger(0); return }
        let current = e.expireAt == 0 ? -1 : Int(e.expireAt)
        if conditions.contains(.nx) && current != -1 { out.writeInteger(0); return }
        if conditions.contains(.xx) && current == -1 { out.writeInteger(0); return }
        // No TTL counts as an infinite one.
        if conditions.contains(.gt) && (current == -1 || when <= current) { out.writeInteger(0); return }
        if conditions.contains(.lt) && current != -1 && when >= current { out.writeInteger(0); return }

        // A deadline already past deletes the key, except on a replica, which waits for the master's DEL.
        if when <= Int(shard.now) && shard.expiryDeletesOnAccess {
            shard.delete(db: ctx.db, key: args[1])
            if ctx.replicating { ctx.propagate(.text("DEL"), .bytes(args[1])) }
            ctx.notify(KeyspaceEvent.generic, "del", args[1])
        } else {
            shard.setExpire(db: ctx.db, entry: e, at: Int64(when))
            // Replicas get the absolute deadline, whatever the form (expire.c rewrites to PEXPIREAT).
            if ctx.replicating { ctx.propagate(.text("PEXPIREAT"), .bytes(args[1]), .text(String(when))) }
            ctx.notify(KeyspaceEvent.generic, "expire", args[1])
        }
        out.writeInteger(1)
    }

    static func invalidExpireTime(_ name: String, _ out: inout ByteBuffer) {
        out.writeError(string: "ERR invalid expire time in '\(name)' command")
    }

    /// TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 for a missing key, -1 without a TTL.
    static func ttlGeneric(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer,
                           milliseconds: Bool, absolute: Bool) {
        guard let e = peek(ctx, args[1]) else { out.writeInteger(-2); return }
        guard e.expireAt != 0 else { out.writeInteger(-1); return }
        let ttl = max(0, absolute ? Int(e.expireAt) : Int(e.expireAt - ctx.shard.now))
        // Rounded to the nearest second; (ttl + 500) / 1000 would overflow for the largest deadlines.
        out.writeInteger(milliseconds ? ttl : ttl / 1000 + (ttl % 1000 >= 500 ? 1 : 0))
    }

    static func persist(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let e = ctx.shard.lookup(db: ctx.db, key: args[1]), e.expireAt != 0 else {
            out.writeInteger(0)
            return
        }
        ctx.shard.setExpire(db: ctx.db, entry: e, at: 0)
        ctx.notify(KeyspaceEvent.generic, "persist", args[1])
        out.writeInteger(1)
    }
}
