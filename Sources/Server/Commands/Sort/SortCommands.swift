import RESP
import Shards
import Values

/// SORT and SORT_RO (Redis 7.0's sort.c). Both are client commands that choose where to run:
/// when the source, STORE's destination and every key BY and GET patterns can name live on
/// one shard (always with one shard; a pattern fixes its shard with a `{tag}` before its
/// `*`), the whole command runs there as one request (`__sort`), inline if this worker owns
/// it. Otherwise it runs across shards (SortAcrossShards: gather, fetch, store).
enum SortCommands {
    private static let patternKeys = KeySpec(["RO", "access"], unknown: true,
                                             notes: "For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort")
    private static let storeKey = KeySpec(["OW", "update"], unknown: true,
                                          notes: "For the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the argument array")
    private static func arguments(store: Bool) -> [CommandArgument] {
        var a: [CommandArgument] = [
            .key("key"), CommandArgument.pattern("pattern", token: "BY").withKeySpec(1).optional,
            .block("offset_count", token: "LIMIT", [.integer("offset"), .integer("count")]).optional,
            CommandArgument.pattern("pattern", token: "GET").withKeySpec(1).optional.multiple.multipleToken,
            .oneOf("order", [.token("ASC"), .token("DESC")]).optional,
            .token("ALPHA", name: "sorting").optional,
        ]
        if store { a.append(.key("destination", spec: 2, token: "STORE").optional) }
        return a
    }

    static let specs: [CommandSpec] = [
        CommandSpec("sort", arity: -2, flags: [.write, .denyOOM, .movableKeys], keys: (1, 1, 1), group: "generic",
                    summary: "Sorts the elements of a list, set or sorted set, or stores them sorted in a list.",
                    run: .client({ start($0, $1, $2, &$3, &$4, readonly: false) }))
            .described(since: "1.0.0", acl: [.write, .set, .sortedset, .list, .slow, .dangerous],
                       keySpecs: [KeySpec(["RO", "access"], index: 1), patternKeys, storeKey],
                       arguments: arguments(store: true)),
        CommandSpec("sort_ro", arity: -2, flags: [.readonly, .movableKeys], keys: (1, 1, 1), group: "generic",
                    summary: "SORT without STORE, for read-only contexts.",
                    run: .client({ start($0, $1, $2, &$3, &$4, readonly: true) }))
            .described(since: "7.0.0", acl: [.read, .set, .sortedset, .list, .slow, .dangerous],
                       keySpecs: [KeySpec(["RO", "access"], index: 1), patternKeys],
                       arguments: arguments(store: false)),
        // The whole command on one shard, with the client's arguments (propagated as itself).
        CommandSpec(part: .sortHere, propagation: .asItself, arity: -2, keys: (1, -1, 1), group: "generic",
                    run: .keyed(runHere, split: nil, crossShard: nil)),
        // The same inside an operation (EXEC): `__sortop <command as sent>`.
        CommandSpec(part: .sortInOperation, propagation: .marked, arity: -3, group: "generic",
                    run: .keyed({ runHere($0, $1.dropFirst(1), &$2) }, split: nil, crossShard: nil)),
        CommandSpec(part: .sortGather, arity: -3, group: "generic",
                    run: .keyed(SortAcrossShards.gather, split: nil, crossShard: nil)),
        CommandSpec(part: .sortFetch, arity: -1, group: "generic",
                    run: .keyed(SortAcrossShards.fetch, split: nil, crossShard: nil)),
        CommandSpec(part: .sortStore, propagation: .marked, arity: -2, group: "generic",
                    run: .keyed(SortAcrossShards.store, split: nil, crossShard: nil)),
    ]

    enum Part {
        static let here = CommandTable.shared.index(of: .sortHere)
        static let inOperation = CommandTable.shared.index(of: .sortInOperation)
        static let gather = CommandTable.shared.index(of: .sortGather)
        static let fetch = CommandTable.shared.index(of: .sortFetch)
        static let store = CommandTable.shared.index(of: .sortStore)
    }
    private static let hereHandler = CommandTable.shared.shardHandlers[Int(Part.here)]!

    /// Options are parsed here first: a syntax error is answered before any key is read, as
    /// in Redis. Then the shards the command reads and writes decide how it runs.
    static func start(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer,
                      readonly: Bool) {
        let o: SortOptions
        do { o = try SortOptions.parse(args, readonly: readonly) } catch {
            out.writeError(error == .syntax ? Errors.syntax : Errors.notInteger)
            return
        }
        let count = w.context.shardCount
        let source = w.shardOf(args[1])
        var patternShards = Set<Int>()
        var anyShard = false
        if count > 1 {
            // BY is read only when it sorts; a set sorted for STORE ignores it, but then it has no `*`.
            for p in o.patternsReadingKeys {
                if let s = p.fixedShard(count: count) { patternShards.insert(s) } else { anyShard = true }
            }
        }
        let destination = o.storeIndex.map { w.shardOf(args[$0]) }
        let local = !anyShard && patternShards.subtracting([source]).isEmpty && (destination ?? source) == source
        if local && call.nesting == nil {
            w.runOnShard(source, command: Part.here, handler: hereHandler, client: c, args: args, out: &out)
            return
        }
        call.locks.append((source, IntentLocks.lockKey(args[1])))
        if let i = o.storeIndex { call.locks.append((destination!, IntentLocks.lockKey(args[i]))) }
        if local {
            let op = MultiShardOperation(client: c) { op, out in
                out.append(op.reply(0))
                return true
            }
            var spans = [op.store(string: InternalCommand.sortInOperation.name)]
            for i in 0..<args.count { spans.append(op.store(args[i])) }
            op.addPart(shard: source, command: Part.inOperation, spanIndices: spans)
            w.start(op, client: c, call: &call, out: &out)
            return
        }
        let locked = anyShard ? Set(0..<count) : patternShards
        SortAcrossShards.run(w, c, args, &call, &out, o, lockedShards: locked.sorted())
    }

    /// The whole SORT on the source's shard: every key it names is here.
    static func runHere(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var o: SortOptions
        do { o = try SortOptions.parse(args, readonly: argIs(args[0], "sort_ro")) } catch {
            out.writeError(error == .syntax ? Errors.syntax : Errors.notInteger)
            return
        }
        guard let value = sourceValue(ctx, args[1], &out) else { return }
        let source = SortSource(value, o)
        o.adjust(for: source.type)
        let lookup = ShardSortLookup(ctx: ctx)
        let result = SortEngine.sort(source, o, lookup: lookup)
        guard !result.conversionError else {
            out.writeError("ERR One or more scores can't be converted into double")
            return
        }
        if let i = o.storeIndex {
            var list: ListValue?
            SortEngine.emit(source, result, o, lookup: lookup) { v in
                if list == nil { list = ListValue() }
                list!.push(v ?? UnsafeRawBufferPointer(start: nil, count: 0), head: false)
            }
            out.writeInteger(storeResult(ctx, args[i], list))
        } else {
            out.writeArrayHeader(SortEngine.outputLength(source, o))
            SortEngine.emit(source, result, o, lookup: lookup) { v in
                if let v { out.writeBulk(v) } else { out.writeNull(ctx.resp) }
            }
        }
    }

    /// The source (lookupKeyRead): nil after writing WRONGTYPE; `.some(nil)` when missing.
    static func sourceValue(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, _ out: inout ByteBuffer) -> AnyObject?? {
        guard let e = ctx.shard.lookupForRead(db: ctx.db, key: key) else { return .some(nil) }
        guard e.kind == .object, let object = e.object,
              object is ListValue || object is SetValue || object is SortedSet else {
            out.writeError(Errors.wrongType)
            return nil
        }
        return .some(object)
    }

    /// STORE: the list replaces `key` (setKey), or `key` is deleted when the result is
    /// empty; replies with the list's length.
    static func storeResult(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, _ list: ListValue?) -> Int {
        if let list, list.count > 0 {
            ctx.shard.delete(db: ctx.db, key: key)
            ctx.shard.insertNew(Entry.makeObject(key: key, hash: KeyTable.hash(key), object: list), db: ctx.db, expireAt: 0)
            ctx.notify(KeyspaceEvent.list, "sortstore", key)
            return list.count
        }
        if ctx.shard.delete(db: ctx.db, key: key) { ctx.notify(KeyspaceEvent.generic, "del", key) }
        return 0
    }
}

/// lookupKeyByPattern on the shard that holds every key the patterns name.
final class ShardSortLookup: SortLookup {
    let ctx: ShardContext
    /// The key being looked up, reused (no allocation per element).
    private var key: [UInt8] = []

    init(ctx: ShardContext) { self.ctx = ctx }

    func withValue(_ p: SortPattern, _ element: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) -> Void) {
        switch p.kind {
        case .element: body(element)
        case .none: body(nil)
        case .key:
            key.removeAll(keepingCapacity: true)
            key.append(contentsOf: p.prefix)
            key.append(contentsOf: element)
            key.append(contentsOf: p.postfix)
            key.withUnsafeBytes { k in
                guard let e = ctx.shard.lookupForRead(db: ctx.db, key: k) else { body(nil); return }
                if let field = p.field {
                    guard e.kind == .object, let h = e.object as? Hash else { body(nil); return }
                    field.withUnsafeBytes { f in h.withValue(f) { body($0) } }
                } else {
                    guard e.kind == .string else { body(nil); return }
                    body(e.value)
                }
            }
        }
    }
}
