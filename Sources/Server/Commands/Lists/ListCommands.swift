import RESP
import Shards
import Values

/// List commands (Redis 7.0's t_list.c): the rows, the lookups they share, pushes, pops and
/// LMOVE on one shard. Reads and in-place edits (LRANGE, LINDEX, LSET, LTRIM, LREM, LINSERT,
/// LPOS) are in ListEdits.swift, LMPOP and LMOVE across shards in ListAcrossShards.swift,
/// the blocking pops in ListBlocking.swift.
enum ListCommands {
    private static func keyOnly(_ flags: [String]) -> [KeySpec] { [KeySpec(flags, index: 1)] }
    private static let moveKeys = [KeySpec(["RW", "access", "delete"], index: 1), KeySpec(["RW", "insert"], index: 2)]
    static let side = CommandArgument.oneOf("where", [.token("LEFT"), .token("RIGHT")])
    private static func sides(_ name: String) -> CommandArgument { .oneOf(name, [.token("LEFT"), .token("RIGHT")]) }

    static let specs: [CommandSpec] = [
        CommandSpec("lpush", arity: -3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "list",
                    summary: "Prepends elements to a list, creating it if needed; replies with its length.",
                    run: .keyed({ push($0, $1, &$2, head: true, onlyIfExists: false) }, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.write, .list, .fast], keySpecs: keyOnly(["RW", "insert"]),
                       arguments: [.key("key"), .string("element").multiple]),
        CommandSpec("rpush", arity: -3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "list",
                    summary: "Appends elements to a list, creating it if needed; replies with its length.",
                    run: .keyed({ push($0, $1, &$2, head: false, onlyIfExists: false) }, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.write, .list, .fast], keySpecs: keyOnly(["RW", "insert"]),
                       arguments: [.key("key"), .string("element").multiple]),
        CommandSpec("lpushx", arity: -3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "list",
                    summary: "Prepends elements to a list only if it exists.",
                    run: .keyed({ push($0, $1, &$2, head: true, onlyIfExists: true) }, split: nil, crossShard: nil))
            .described(since: "2.2.0", acl: [.write, .list, .fast], keySpecs: keyOnly(["RW", "insert"]),
                       arguments: [.key("key"), .string("element").multiple]),
        CommandSpec("rpushx", arity: -3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "list",
                    summary: "Appends elements to a list only if it exists.",
                    run: .keyed({ push($0, $1, &$2, head: false, onlyIfExists: true) }, split: nil, crossShard: nil))
            .described(since: "2.2.0", acl: [.write, .list, .fast], keySpecs: keyOnly(["RW", "insert"]),
                       arguments: [.key("key"), .string("element").multiple]),
        CommandSpec("lpop", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: "list",
                    summary: "Removes and returns the first element, or the first count elements, of a list.",
                    run: .keyed({ pop($0, $1, &$2, head: true) }, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.write, .list, .fast], keySpecs: keyOnly(["RW", "access", "delete"]),
                       arguments: [.key("key"), .integer("count").optional]),
        CommandSpec("rpop", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: "list",
                    summary: "Removes and returns the last element, or the last count elements, of a list.",
                    run: .keyed({ pop($0, $1, &$2, head: false) }, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.write, .list, .fast], keySpecs: keyOnly(["RW", "access", "delete"]),
                       arguments: [.key("key"), .integer("count").optional]),
        CommandSpec("llen", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "list",
                    summary: "The length of a list.", run: .keyed(ListEdits.llen, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.read, .list, .fast], keySpecs: keyOnly(["RO"]), arguments: [.key("key")]),
        CommandSpec("lindex", arity: 3, flags: [.readonly], keys: (1, 1, 1), group: "list",
                    summary: "The element at an index of a list (negative counts from the tail).",
                    run: .keyed(ListEdits.lindex, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.read, .list, .slow], keySpecs: keyOnly(["RO", "access"]),
                       arguments: [.key("key"), .integer("index")]),
        CommandSpec("lset", arity: 4, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "list",
                    summary: "Replaces the element at an index of a list.",
                    run: .keyed(ListEdits.lset, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.write, .list, .slow], keySpecs: keyOnly(["RW", "update"]),
                       arguments: [.key("key"), .integer("index"), .string("element")]),
        CommandSpec("lrange", arity: 4, flags: [.readonly], keys: (1, 1, 1), group: "list",
                    summary: "The elements of a list between two indexes, both included.",
                    run: .keyed(ListEdits.lrange, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.read, .list, .slow], keySpecs: keyOnly(["RO", "access"]),
                       arguments: [.key("key"), .integer("start"), .integer("stop")]),
        CommandSpec("ltrim", arity: 4, flags: [.write], keys: (1, 1, 1), group: "list",
                    summary: "Keeps only the elements of a list between two indexes.",
                    run: .keyed(ListEdits.ltrim, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.write, .list, .slow], keySpecs: keyOnly(["RW", "delete"]),
                       arguments: [.key("key"), .integer("start"), .integer("stop")]),
        CommandSpec("lrem", arity: 4, flags: [.write], keys: (1, 1, 1), group: "list",
                    summary: "Removes elements equal to a value from a list, from the head or the tail.",
                    run: .keyed(ListEdits.lrem, split: nil, crossShard: nil))
            .described(since: "1.0.0", acl: [.write, .list, .slow], keySpecs: keyOnly(["RW", "delete"]),
                       arguments: [.key("key"), .integer("count"), .string("element")]),
        CommandSpec("linsert", arity: 5, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "list",
                    summary: "Inserts an element before or after the first occurrence of a pivot.",
                    run: .keyed(ListEdits.linsert, split: nil, crossShard: nil))
            .described(since: "2.2.0", acl: [.write, .list, .slow], keySpecs: keyOnly(["RW", "insert"]),
                       arguments: [.key("key"), .oneOf("where", [.token("BEFORE"), .token("AFTER")]),
                                   .string("pivot"), .string("element")]),
        CommandSpec("lpos", arity: -3, flags: [.readonly], keys: (1, 1, 1), group: "list",
                    summary: "The index of matching elements of a list.",
                    run: .keyed(ListEdits.lpos, split: nil, crossShard: nil))
            .described(since: "6.0.6", acl: [.read, .list, .slow], keySpecs: keyOnly(["RO", "access"]),
                       arguments: [.key("key"), .string("element"), .integer("rank", token: "RANK").optional,
                                   .integer("num-matches", token: "COUNT").optional,
                                   .integer("len", token: "MAXLEN").optional]),
        CommandSpec("lmove", arity: 5, flags: [.write, .denyOOM], keys: (1, 2, 1), group: "list",
                    summary: "Pops an element from one end of a list and pushes it onto an end of another.",
                    run: .keyed(lmove, split: nil, crossShard: ListAcrossShards.lmove))
            .described(since: "6.2.0", acl: [.write, .list, .slow], keySpecs: moveKeys,
                       arguments: [.key("source"), .key("destination", spec: 1), sides("wherefrom"), sides("whereto")]),
        CommandSpec("rpoplpush", arity: 3, flags: [.write, .denyOOM], keys: (1, 2, 1), group: "list",
                    summary: "Pops the last element of a list and pushes it at the head of another.",
                    run: .keyed(lmove, split: nil, crossShard: ListAcrossShards.lmove))
            .described(since: "1.2.0", acl: [.write, .list, .slow], keySpecs: moveKeys,
                       arguments: [.key("source"), .key("destination", spec: 1)]),
        CommandSpec("lmpop", arity: -4, flags: [.write, .movableKeys], keys: (0, 0, 0), group: "list",
                    summary: "Pops one or more elements from the first non-empty list.",
                    run: .client(ListAcrossShards.lmpop))
            .described(since: "7.0.0", acl: [.write, .list, .slow],
                       keySpecs: [KeySpec(["RW", "access", "delete"], index: 1, keyCountAt: 0, firstKeyAt: 1)],
                       arguments: [.integer("numkeys"), .key("key").multiple, side, .integer("count", token: "COUNT").optional]),
        CommandSpec(part: .listMulti, propagation: .marked, arity: -3, group: "list",
                    run: .keyed(ListAcrossShards.multiKeyPartRun, split: nil, crossShard: nil)),
        CommandSpec(part: .listProbe, arity: -2, keys: (1, 1, 1), group: "list",
                    run: .keyed(ListAcrossShards.probe, split: nil, crossShard: nil)),
        CommandSpec("blpop", arity: -3, flags: [.write, .noscript, .blocking], keys: (1, -2, 1), group: "list",
                    summary: "Removes and returns the first element of the first non-empty list, waiting for one if none.",
                    run: .client({ ListBlocking.bpop($0, $1, $2, &$3, &$4, head: true) }))
            .described(since: "2.0.0", acl: [.write, .list, .slow, .blocking],
                       keySpecs: [KeySpec(["RW", "access", "delete"], index: 1, lastKey: -2)],
                       arguments: [.key("key").multiple, .double("timeout")]),
        CommandSpec("brpop", arity: -3, flags: [.write, .noscript, .blocking], keys: (1, -2, 1), group: "list",
                    summary: "Removes and returns the last element of the first non-empty list, waiting for one if none.",
                    run: .client({ ListBlocking.bpop($0, $1, $2, &$3, &$4, head: false) }))
            .described(since: "2.0.0", acl: [.write, .list, .slow, .blocking],
                       keySpecs: [KeySpec(["RW", "access", "delete"], index: 1, lastKey: -2)],
                       arguments: [.key("key").multiple, .double("timeout")]),
        CommandSpec("blmove", arity: 6, flags: [.write, .denyOOM, .noscript, .blocking], keys: (1, 2, 1), group: "list",
                    summary: "LMOVE that waits for an element when the source is empty.",
                    run: .client(ListBlocking.blmove))
            .described(since: "6.2.0", acl: [.write, .list, .slow, .blocking], keySpecs: moveKeys,
                       arguments: [.key("source"), .key("destination", spec: 1), sides("wherefrom"), sides("whereto"),
                                   .double("timeout")]),
        CommandSpec("brpoplpush", arity: 4, flags: [.write, .denyOOM, .noscript, .blocking], keys: (1, 2, 1), group: "list",
                    summary: "RPOPLPUSH that waits for an element when the source is empty.",
                    run: .client(ListBlocking.blmove))
            .described(since: "2.2.0", acl: [.write, .list, .slow, .blocking], keySpecs: moveKeys,
                       arguments: [.key("source"), .key("destination", spec: 1), .double("timeout")]),
        CommandSpec("blmpop", arity: -5, flags: [.write, .blocking, .movableKeys], keys: (0, 0, 0), group: "list",
                    summary: "LMPOP that waits for an element when every list is empty.",
                    run: .client(ListBlocking.blmpop))
            .described(since: "7.0.0", acl: [.write, .list, .slow, .blocking],
                       keySpecs: [KeySpec(["RW", "access", "delete"], index: 2, keyCountAt: 0, firstKeyAt: 1)],
                       arguments: [.double("timeout"), .integer("numkeys"), .key("key").multiple, side,
                                   .integer("count", token: "COUNT").optional]),
        CommandSpec(part: .blockingListPop, propagation: .marked, arity: -8, blocking: true, group: "list",
                    run: .keyed(ListBlocking.partRun, split: nil, crossShard: nil)),
    ]

    // MARK: Lookups

    typealias Lookup = ValueLookup<ListValue>

    /// The list at `key` for a read (hit/miss counted): nil and `missing` written if absent,
    /// nil and WRONGTYPE if another type. Every lookup settles the list's compression first
    /// (the middle nodes an earlier command decompressed: see ListValue).
    static func listForRead(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, _ out: inout ByteBuffer,
                            missing: (inout ByteBuffer) -> Void) -> ListValue? {
        let l = ctx.value(ListValue.self, forReadAt: key, &out, missing: missing)
        l?.settle()
        return l
    }

    /// The list at `key` for a write (no hit/miss counted); WRONGTYPE written if another type.
    static func listForWrite(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, _ out: inout ByteBuffer) -> Lookup {
        let lookup = ctx.value(ListValue.self, forWriteAt: key, &out)
        if case .found(let l) = lookup { l.settle() }
        return lookup
    }

    /// A new empty list under `key` (dbAdd: waiters on the key are signalled).
    static func create(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer) -> ListValue {
        let l = ListValue()
        ctx.shard.insertNew(Entry.makeObject(key: key, hash: KeyTable.hash(key), object: l), db: ctx.db, expireAt: 0)
        return l
    }

    /// Before elements are removed or replaced: noteModified first, as every write does
    /// (WATCH, the write count that decides propagation; a running snapshot has copied the
    /// list at its lookup already).
    static func willChange(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer) {
        ctx.shard.noteModified(db: ctx.db, key: key)
    }

    /// After elements were removed (listElementsRemoved): the command's event, then the key
    /// goes with its last element ("del").
    static func removed(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, _ l: ListValue, event: StaticString) {
        ctx.notify(KeyspaceEvent.list, event, key)
        if l.count == 0 {
            ctx.shard.delete(db: ctx.db, key: key)
            ctx.notify(KeyspaceEvent.generic, "del", key)
        }
    }

    static func popEvent(head: Bool) -> StaticString { head ? "lpop" : "rpop" }

    /// getListPositionFromObjectOrReply: LEFT (true) or RIGHT (false), else a syntax error.
    static func parseSide(_ b: UnsafeRawBufferPointer, _ out: inout ByteBuffer) -> Bool? {
        if argIs(b, "left") { return true }
        if argIs(b, "right") { return false }
        out.writeError(Errors.syntax)
        return nil
    }

    // MARK: Push and pop

    /// pushGenericCommand: every element pushed in order; the new length, or 0 for the X
    /// forms on a missing key.
    static func push(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer, head: Bool, onlyIfExists: Bool) {
        let l: ListValue
        switch listForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .found(let found):
            l = found
            ctx.shard.noteModified(db: ctx.db, key: args[1])
        case .missing:
            if onlyIfExists { out.writeInteger(0); return }
            l = create(ctx, args[1])
        }
        for i in 2..<args.count { l.push(args[i], head: head) }
        ctx.notify(KeyspaceEvent.list, head ? "lpush" : "rpush", args[1])
        out.writeInteger(l.count)
    }

    /// popGenericCommand: without a count one bulk (null if missing); with one an array of
    /// up to count elements from that end (null array if missing, empty for count 0).
    static func pop(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer, head: Bool) {
        guard args.count <= 3 else {
            out.writeError(string: "ERR wrong number of arguments for '\(lowercased(args[0]))' command")
            return
        }
        var count = -1
        if args.count == 3 {
            guard let v = parseStrictInt(args[2]), v >= 0 else {
                out.writeError("ERR value is out of range, must be positive")
                return
            }
            count = v
        }
        let l: ListValue
        switch listForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .missing: if count == -1 { out.writeNull(ctx.resp) } else { out.writeNullArray(ctx.resp) }; return
        case .found(let found): l = found
        }
        if count == 0 { out.writeArrayHeader(0); return }
        willChange(ctx, args[1])
        if count == -1 {
            l.withEnd(head: head) { out.writeBulk($0) }
            l.removeEnds(1, head: head)
        } else {
            writeEnd(l, count, head: head, &out)
        }
        removed(ctx, args[1], l, event: popEvent(head: head))
        // Elements left after a woken cross-shard BLMOVE took its own may serve the next waiters.
        if l.count > 0 { ctx.shard.blocked.signal(db: ctx.db, key: args[1]) }
    }

    /// Writes up to `count` elements from one end as an array (head first, or tail first
    /// for the tail) and removes them (addListRangeReply + quicklistDelRange).
    static func writeEnd(_ l: ListValue, _ count: Int, head: Bool, _ out: inout ByteBuffer) {
        let n = min(count, l.count)
        out.writeArrayHeader(n)
        l.forEach(from: head ? 0 : l.count - 1, reverse: !head, limit: n) { out.writeBulk($0); return true }
        l.removeEnds(n, head: head)
    }

    // MARK: LMOVE, RPOPLPUSH

    /// LMOVE source destination LEFT|RIGHT LEFT|RIGHT, or RPOPLPUSH source destination
    /// (RIGHT, LEFT): the sides parsed first; a missing source answers null before the
    /// destination's type is checked.
    static func lmove(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let (from, to) = moveSides(args, &out) else { return }
        let src: ListValue
        switch listForWrite(ctx, args[1], &out) {
        case .wrongType: return
        case .missing: out.writeNull(ctx.resp); return
        case .found(let found): src = found
        }
        move(ctx, src, args[1], args[2], from: from, to: to, &out)
    }

    /// The sides of LMOVE/BLMOVE (arguments 3 and 4) or RPOPLPUSH/BRPOPLPUSH's (RIGHT, LEFT).
    static func moveSides(_ args: Arguments, _ out: inout ByteBuffer) -> (Bool, Bool)? {
        let name = args[0]
        guard argIs(name, "lmove") || argIs(name, "blmove") else { return (false, true) }
        guard let from = parseSide(args[3], &out), let to = parseSide(args[4], &out) else { return nil }
        return (from, to)
    }

    /// lmoveGenericCommand once the source is known to be a non-empty list: the
    /// destination's type checked, then the element popped and pushed (a list rotates onto
    /// itself); replies with the element.
    static func move(_ ctx: ShardContext, _ src: ListValue, _ srcKey: UnsafeRawBufferPointer,
                     _ dstKey: UnsafeRawBufferPointer, from: Bool, to: Bool, _ out: inout ByteBuffer) {
        var dst: ListValue?
        switch listForWrite(ctx, dstKey, &out) {
        case .wrongType: return
        case .missing: dst = nil
        case .found(let found): dst = found
        }
        // One copy of the element: the pop may free the node it lives in.
        let value = src.withEnd(head: from) { Array($0) }!
        willChange(ctx, srcKey)
        src.removeEnds(1, head: from)
        let target = dst ?? create(ctx, dstKey)
        if dst != nil && src !== target { ctx.shard.noteModified(db: ctx.db, key: dstKey) }
        value.withUnsafeBytes { target.push($0, head: to) }
        // Redis's order: the push's event, then the pop's (lmoveGenericCommand).
        ctx.notify(KeyspaceEvent.list, to ? "lpush" : "rpush", dstKey)
        ctx.notify(KeyspaceEvent.list, popEvent(head: from), srcKey)
        out.writeBulk(value)
        if src !== target && src.count == 0 {
            ctx.shard.delete(db: ctx.db, key: srcKey)
            ctx.notify(KeyspaceEvent.generic, "del", srcKey)
        }
    }
}
