import RESP
import Shards
import Values

/// The list commands that read or edit a list in place (t_list.c): LLEN, LINDEX, LSET,
/// LRANGE, LTRIM, LREM, LINSERT, LPOS, each checking its arguments and keys in Redis's order.
enum ListEdits {
    static func llen(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let l = ListCommands.listForRead(ctx, args[1], &out, missing: { $0.writeInteger(0) }) else { return }
        out.writeInteger(l.count)
    }

    /// The index Redis resolves: negative counts from the tail.
    private static func resolve(_ index: Int, _ count: Int) -> Int { index < 0 ? count + index : index }

    /// LINDEX: the key is looked up before the index is parsed.
    static func lindex(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let resp = ctx.resp
        guard let l = ListCommands.listForRead(ctx, args[1], &out, missing: { $0.writeNull(resp) }) else { return }
        guard let index = parseStrictInt(args[2]) else { out.writeError(Errors.notInteger); return }
        guard let c = l.cursor(at: resolve(index, l.count)) else { out.writeNull(resp); return }
        l.withElement(c) { out.writeBulk($0) }
    }

    static func lset(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let l: ListValue
        switch ListCommands.listForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .missing: out.writeError(Errors.noSuchKey); return
        case .found(let found): l = found
        }
        guard let index = parseStrictInt(args[2]) else { out.writeError(Errors.notInteger); return }
        guard let c = l.cursor(at: resolve(index, l.count)) else { out.writeError("ERR index out of range"); return }
        ListCommands.willChange(ctx, args[1])
        l.replace(c, with: args[3])
        ctx.notify(KeyspaceEvent.list, "lset", args[1])
        out.writeOK()
    }

    /// The inclusive range [start, end] of a list of `count` (addListRangeReply, ltrimCommand),
    /// nil if empty.
    static func range(_ start: Int, _ end: Int, _ count: Int) -> ClosedRange<Int>? {
        var s = resolve(start, count), e = resolve(end, count)
        if s < 0 { s = 0 }
        if s > e || s >= count { return nil }
        if e >= count { e = count - 1 }
        return s...e
    }

    /// LRANGE: the indexes are parsed before the key is looked up.
    static func lrange(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let start = parseStrictInt(args[2]), let end = parseStrictInt(args[3]) else {
            out.writeError(Errors.notInteger)
            return
        }
        guard let l = ListCommands.listForRead(ctx, args[1], &out, missing: { $0.writeArrayHeader(0) }) else { return }
        guard let r = range(start, end, l.count) else { out.writeArrayHeader(0); return }
        out.writeArrayHeader(r.count)
        l.forEach(from: r.lowerBound, limit: r.count) { out.writeBulk($0); return true }
    }

    static func ltrim(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let start = parseStrictInt(args[2]), let end = parseStrictInt(args[3]) else {
            out.writeError(Errors.notInteger)
            return
        }
        let l: ListValue
        switch ListCommands.listForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .missing: out.writeOK(); return
        case .found(let found): l = found
        }
        let count = l.count
        let kept = range(start, end, count)
        let fromHead = kept?.lowerBound ?? count, fromTail = kept.map { count - 1 - $0.upperBound } ?? 0
        if fromHead + fromTail > 0 {
            ListCommands.willChange(ctx, args[1])
            l.removeEnds(fromHead, head: true)
            l.removeEnds(fromTail, head: false)
        }
        // Redis notifies "ltrim" even when nothing went (its dirty count stays put).
        ListCommands.removed(ctx, args[1], l, event: "ltrim")
        out.writeOK()
    }

    /// LREM key count element: count > 0 from the head, < 0 from the tail, 0 all.
    static func lrem(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let toRemove = parseStrictInt(args[2]) else { out.writeError(Errors.notInteger); return }
        let l: ListValue
        switch ListCommands.listForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .missing: out.writeInteger(0); return
        case .found(let found): l = found
        }
        let element = args[3]
        let limit = toRemove == 0 ? Int.max : toRemove.magnitude > UInt(Int.max) ? Int.max : abs(toRemove)
        var removed = 0
        if toRemove >= 0 {
            guard var c = l.first else { return }
            while removed < limit {
                if l.elementEquals(c, element) {
                    if removed == 0 { ListCommands.willChange(ctx, args[1]) }
                    let node = c.node
                    let nodeGone = l.remove(at: c)
                    removed += 1
                    // The cursor now holds the next element of the node, or its end.
                    if nodeGone {
                        guard node < l.nodeCount else { break }
                        c = ListValue.Cursor(node: node, offset: Listpack.headerSize)
                    } else if c.offset >= l.nodeEnd(node) {
                        guard node + 1 < l.nodeCount else { break }
                        c = ListValue.Cursor(node: node + 1, offset: Listpack.headerSize)
                    }
                    continue
                }
                guard l.advance(&c) else { break }
            }
        } else {
            guard var c = l.last else { return }
            while removed < limit {
                if l.elementEquals(c, element) {
                    if removed == 0 { ListCommands.willChange(ctx, args[1]) }
                    let before = c
                    var previous = c
                    let hasPrevious = l.retreat(&previous)
                    l.remove(at: before)
                    removed += 1
                    guard hasPrevious else { break }
                    // Removing an element after it leaves the previous one where it was.
                    c = previous
                    continue
                }
                guard l.retreat(&c) else { break }
            }
        }
        if removed > 0 { ListCommands.removed(ctx, args[1], l, event: "lrem") }
        out.writeInteger(removed)
    }

    /// LINSERT key BEFORE|AFTER pivot element: the length, -1 if the pivot is not found, 0 if
    /// the key is missing.
    static func linsert(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let after: Bool
        if argIs(args[2], "after") { after = true } else if argIs(args[2], "before") { after = false }
        else { out.writeError(Errors.syntax); return }
        let l: ListValue
        switch ListCommands.listForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .missing: out.writeInteger(0); return
        case .found(let found): l = found
        }
        guard var c = l.first else { out.writeInteger(-1); return }
        while !l.elementEquals(c, args[3]) {
            guard l.advance(&c) else { out.writeInteger(-1); return }
        }
        ListCommands.willChange(ctx, args[1])
        l.insert(args[4], at: c, after: after)
        ctx.notify(KeyspaceEvent.list, "linsert", args[1])
        out.writeInteger(l.count)
    }

    /// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]: options parsed before
    /// the key is looked up; a negative rank searches from the tail.
    static func lpos(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var rank = 1, count = -1, maxlen = 0
        var j = 3
        while j < args.count {
            let more = j + 1 < args.count
            if argIs(args[j], "rank") && more {
                j += 1
                guard let v = parseStrictInt(args[j]) else { out.writeError(Errors.notInteger); return }
                guard v != 0 else {
                    out.writeError("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
                    return
                }
                rank = v
            } else if argIs(args[j], "count") && more {
                j += 1
                guard let v = parseStrictInt(args[j]), v >= 0 else { out.writeError("ERR COUNT can't be negative"); return }
                count = v
            } else if argIs(args[j], "maxlen") && more {
                j += 1
                guard let v = parseStrictInt(args[j]), v >= 0 else { out.writeError("ERR MAXLEN can't be negative"); return }
                maxlen = v
            } else {
                out.writeError(Errors.syntax)
                return
            }
            j += 1
        }
        let fromTail = rank < 0
        // Redis negates LONG_MIN into itself: still "from the tail", every match qualifying.
        if fromTail { rank = 0 &- rank }
        let resp = ctx.resp
        guard let l = ListCommands.listForRead(ctx, args[1], &out, missing: { o in
            if count != -1 { o.writeArrayHeader(0) } else { o.writeNull(resp) }
        }) else { return }
        let n = l.count
        var matches = 0, index = 0
        var found: [Int] = []
        l.forEach(from: fromTail ? n - 1 : 0, reverse: fromTail) { e in
            if maxlen != 0 && index >= maxlen { return false }
            defer { index += 1 }
            guard e.count == args[2].count, e.elementsEqual(args[2]) else { return true }
            matches += 1
            guard matches >= rank else { return true }
            found.append(fromTail ? n - index - 1 : index)
            if count == -1 { return false }
            return count == 0 || matches - rank + 1 < count
        }
        if count != -1 {
            out.writeArrayHeader(found.count)
            for i in found { out.writeInteger(i) }
        } else if let i = found.first {
            out.writeInteger(i)
        } else {
            out.writeNull(resp)
        }
    }
}
