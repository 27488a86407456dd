import RESP
import Shards

/// String commands (Redis's t_string.c): GET, SET and its variants, counters, ranges.
enum StringCommands {
    static let specs: [CommandSpec] = [
        CommandSpec("get", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "string",
                    summary: "Returns the string value of a key.", run: .keyed(get, split: nil, crossShard: nil)),
        CommandSpec("set", arity: -3, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "string",
                    summary: "Sets the string value of a key, ignoring its type.", run: .keyed(set, split: nil, crossShard: nil)),
    ]

    // MARK: GET

    static func get(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let e = ctx.shard.lookupForRead(db: ctx.db, key: args[1]) else {
            out.writeNull(ctx.resp)
            return
        }
        guard e.kind == .string else { out.writeError(Errors.wrongType); return }
        out.writeBulk(e.value)
    }

    // MARK: SET

    /// Expiry options shared by SET and GETEX.
    enum ExpiryOption {
        case none, keep, persist
        case at(Int64)   // unix ms
    }

    /// Parses `EX|PX|EXAT|PXAT n` at `args[i]` (keyword already matched) into an absolute deadline.
    /// Returns nil after writing the error reply.
    static func parseExpire(_ args: Arguments, keywordAt i: Int, command: String, now: Int64,
                            out: inout ByteBuffer) -> Int64? {
        guard let n = args.integer(i + 1) else { out.writeError(Errors.notInteger); return nil }
        let keyword = args[i]
        let unitSeconds = argIs(keyword, "ex") || argIs(keyword, "exat")
        let absolute = argIs(keyword, "exat") || argIs(keyword, "pxat")
        guard n > 0 else { out.writeError(string: "ERR invalid expire time in '\(command)' command"); return nil }
        var ms = n
        if unitSeconds {
            let (m, o) = n.multipliedReportingOverflow(by: 1000)
            if o { out.writeError(string: "ERR invalid expire time in '\(command)' command"); return nil }
            ms = m
        }
        if !absolute {
            let (s, o) = ms.addingReportingOverflow(Int(now))
            if o { out.writeError(string: "ERR invalid expire time in '\(command)' command"); return nil }
            ms = s
        }
        return Int64(ms)
    }

    static func set(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var nx = false, xx = false, get = false
        var expiry = ExpiryOption.none
        var i = 3
        while i < args.count {
            let a = args[i]
            let hasNext = i + 1 < args.count
            if argIs(a, "nx") && !xx {
                nx = true
            } else if argIs(a, "xx") && !nx {
                xx = true
            } else if argIs(a, "get") {
                get = true
            } else if argIs(a, "keepttl"), case .none = expiry {
                expiry = .keep
            } else if (argIs(a, "ex") || argIs(a, "px") || argIs(a, "exat") || argIs(a, "pxat")), hasNext,
                      case .none = expiry {
                guard let at = parseExpire(args, keywordAt: i, command: "set", now: ctx.shard.now, out: &out) else { return }
                expiry = .at(at)
                i += 1
            } else {
                out.writeError(Errors.syntax)
                return
            }
            i += 1
        }
        let shard = ctx.shard
        let existing = shard.lookup(db: ctx.db, key: args[1])
        if get {
            if let e = existing {
                guard e.kind == .string else { out.writeError(Errors.wrongType); return }
                out.writeBulk(e.value)
            } else {
                out.writeNull(ctx.resp)
            }
        }
        if (nx && existing != nil) || (xx && existing == nil) {
            if !get { out.writeNull(ctx.resp) }
            return
        }
        let deadline: Int64?
        switch expiry {
        case .none, .persist: deadline = 0
        case .keep: deadline = nil
        case .at(let at): deadline = at
        }
        if let d = deadline, d != 0, d <= shard.now {
            // A deadline already past: Redis deletes the key instead of storing it.
            shard.delete(db: ctx.db, key: args[1])
        } else {
            shard.setString(db: ctx.db, key: args[1], value: args[2], expireAt: deadline)
        }
        if !get { out.writeOK() }
    }
}
