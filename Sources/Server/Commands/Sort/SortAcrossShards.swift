import RESP
import Shards
import Values

/// SORT when the keys it reads or writes live on several shards: one operation holding the
/// source's and the destination's key locks and whole-shard locks on every shard a BY or
/// GET pattern may name (all shards unless a `{tag}` fixes it), since those keys are only
/// known once the source is read. Steps, each a part per shard:
/// 1. `__sort_gather` reads the source on its shard (its type, the output range, the elements);
/// 2. `__sort_fetch` reads BY's values for every element (when sorting by a pattern);
///    the coordinator sorts (SortEngine, as on one shard);
/// 3. `__sort_fetch` reads GET's values for the elements of the output range;
/// 4. `__sort_store` stores the list at the destination (STORE), or the reply is written.
/// The locks make it atomic; it reaches replicas as the command itself.
enum SortAcrossShards {
    /// A key a pattern names, and the hash field (nil: its string value).
    struct Request: Hashable {
        let key: [UInt8]
        let field: [UInt8]?
    }

    /// Values fetched from the shards, read back by the engine through the same patterns.
    final class FetchedLookup: SortLookup {
        var values: [Request: [UInt8]] = [:]

        func withValue(_ p: SortPattern, _ element: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) -> Void) {
            switch p.kind {
            case .element: body(element)
            case .none: body(nil)
            case .key:
                guard let v = values[Request(key: p.key(for: element), field: p.field)] else { body(nil); return }
                v.withUnsafeBytes { body($0) }
            }
        }
    }

    final class State {
        var options: SortOptions
        var source = SortSource(type: .missing, vector: SortVector(), start: 0, end: -1)
        var result = SortEngine.Result(items: [])
        let lookup = FetchedLookup()
        var pending: [Request] = []
        var firstPart = 0
        var partRequests: [[Request]] = []
        init(_ o: SortOptions) { options = o }
    }

    enum Step: Int { case gather = 0, by, get, store }

    static func run(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer,
                    _ o: SortOptions, lockedShards: [Int]) {
        let state = State(o)
        let resp = c.resp
        let sourceShard = w.shardOf(args[1])
        let fetchName = InternalCommand.sortFetch.name
        let storeName = InternalCommand.sortStore.name
        // `args` lives only as long as this call (the client's read buffer): later steps
        // use what is taken from it now.
        let destinationShard = o.storeIndex.map { w.shardOf(args[$0]) } ?? 0
        var destinationSpan = 0

        /// Adds one `__sort_fetch` part per shard for `requests` (deduplicated); false if none.
        func fetch(_ op: MultiShardOperation, _ requests: [Request]) -> Bool {
            var byShard: [Int: [Request]] = [:]
            var seen = Set<Request>()
            for r in requests where seen.insert(r).inserted {
                byShard[r.key.withUnsafeBytes { w.shardOf($0) }, default: []].append(r)
            }
            guard !byShard.isEmpty else { return false }
            state.firstPart = op.parts.count
            state.partRequests = []
            let name = op.store(string: fetchName)
            for (shard, list) in byShard.sorted(by: { $0.key < $1.key }) {
                var spans = [name]
                for r in list {
                    spans.append(r.key.withUnsafeBytes { op.store($0) })
                    spans.append((r.field ?? []).withUnsafeBytes { op.store($0) })
                }
                op.addPart(shard: shard, command: SortCommands.Part.fetch, spanIndices: spans)
                state.partRequests.append(list)
            }
            return true
        }

        /// Records the fetched values; false (with the error written) if a part failed.
        func collect(_ op: MultiShardOperation, _ out: inout ByteBuffer) -> Bool {
            for (k, list) in state.partRequests.enumerated() {
                let reply = op.reply(state.firstPart + k)
                guard let blob = bulkBody(reply) else { out.append(reply); return false }
                var reader = BlobReader(blob)
                for r in list {
                    if reader.byte() == 1 { state.lookup.values[r] = reader.bytes() }
                }
            }
            return true
        }

        func requests(_ p: SortPattern, elements: some Sequence<Int>) -> [Request] {
            state.source.vector.bytes.withUnsafeBytes { all in
                elements.map { j in
                    Request(key: p.key(for: UnsafeRawBufferPointer(rebasing: all[state.source.vector.range(j)])), field: p.field)
                }
            }
        }

        /// After the BY values: sort, then ask for GET's values or finish.
        func sortThenGet(_ op: MultiShardOperation, _ out: inout ByteBuffer) -> Bool {
            let o = state.options
            state.result = SortEngine.sort(state.source, o, lookup: state.lookup)
            if state.result.conversionError {
                out.writeError("ERR One or more scores can't be converted into double")
                return true
            }
            if state.source.end >= state.source.start {
                let outputRange = (state.source.start...state.source.end).map { state.result.items[$0].element }
                var wanted: [Request] = []
                for g in o.gets where g.readsKey { wanted += requests(g, elements: outputRange) }
                if fetch(op, wanted) { op.state = Step.get.rawValue; return false }
            }
            return finish(op, &out)
        }

        /// The reply, or the store step.
        func finish(_ op: MultiShardOperation, _ out: inout ByteBuffer) -> Bool {
            let o = state.options
            guard o.storeIndex != nil else {
                out.writeArrayHeader(SortEngine.outputLength(state.source, o))
                SortEngine.emit(state.source, state.result, o, lookup: state.lookup) { v in
                    if let v { out.writeBulk(v) } else { out.writeNull(resp) }
                }
                return true
            }
            var spans = [op.store(string: storeName), destinationSpan]
            SortEngine.emit(state.source, state.result, o, lookup: state.lookup) { v in
                spans.append(op.store(v ?? UnsafeRawBufferPointer(start: nil, count: 0)))
            }
            op.state = Step.store.rawValue
            op.addPart(shard: destinationShard, command: SortCommands.Part.store, spanIndices: spans)
            return false
        }

        let op = MultiShardOperation(client: c) { op, out in
            switch Step(rawValue: op.state)! {
            case .gather:
                let reply = op.reply(0)
                guard let blob = bulkBody(reply) else { out.append(reply); return true }
                state.source = decodeSource(blob)
                state.options.adjust(for: state.source.type)
                if let by = state.options.lookedUpBy,
                   fetch(op, requests(by, elements: 0..<state.source.vector.count)) {
                    op.state = Step.by.rawValue
                    return false
                }
                return sortThenGet(op, &out)
            case .by:
                guard collect(op, &out) else { return true }
                return sortThenGet(op, &out)
            case .get:
                guard collect(op, &out) else { return true }
                return finish(op, &out)
            case .store:
                out.append(op.reply(op.parts.count - 1))
                return true
            }
        }
        op.pausesClient = true  // later steps must run before the client's next commands
        for s in lockedShards { op.lockWholeShard(s) }
        if let i = o.storeIndex { destinationSpan = op.store(args[i]) }
        var spans = [op.store(string: InternalCommand.sortGather.name)]
        for i in 0..<args.count { spans.append(op.store(args[i])) }
        op.addPart(shard: sourceShard, command: SortCommands.Part.gather, spanIndices: spans)
        w.start(op, client: c, call: &call, out: &out)
    }

    // MARK: Parts

    /// `__sort_gather <command as sent>`: the source as a bulk blob (type, start, end, then
    /// the elements), or WRONGTYPE.
    static func gather(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let a = args.dropFirst(1)
        guard let o = try? SortOptions.parse(a, readonly: argIs(a[0], "sort_ro")) else { out.writeError(Errors.syntax); return }
        guard let value = SortCommands.sourceValue(ctx, a[1], &out) else { return }
        let source = SortSource(value, o)
        var blob = BlobWriter()
        blob.byte(source.type.rawValue)
        blob.int(source.start)
        blob.int(source.end)
        blob.int(source.vector.count)
        source.vector.bytes.withUnsafeBytes { all in
            for j in 0..<source.vector.count { blob.bytes(UnsafeRawBufferPointer(rebasing: all[source.vector.range(j)])) }
        }
        out.writeBulk(blob.data)
    }

    static func decodeSource(_ blob: UnsafeRawBufferPointer) -> SortSource {
        var r = BlobReader(blob)
        let type = SortSourceType(rawValue: r.byte()) ?? .missing
        let start = r.int(), end = r.int(), n = r.int()
        var vector = SortVector()
        vector.ends.reserveCapacity(n)
        for _ in 0..<n { r.withBytes { vector.append($0) } }
        return SortSource(type: type, vector: vector, start: start, end: end)
    }

    /// `__sort_fetch key field key field...` (an empty field: the key's string value): per
    /// pair 0 (nothing there) or 1 and the value, in one bulk blob. Lookups count as reads.
    static func fetch(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var blob = BlobWriter()
        var i = 1
        while i + 1 < args.count {
            let found: Bool = {
                guard let e = ctx.shard.lookupForRead(db: ctx.db, key: args[i]) else { return false }
                if args[i + 1].count > 0 {
                    guard e.kind == .object, let h = e.object as? Hash else { return false }
                    return h.withValue(args[i + 1]) { v in
                        guard let v else { return false }
                        blob.byte(1); blob.bytes(v)
                        return true
                    }
                }
                guard e.kind == .string else { return false }
                blob.byte(1); blob.bytes(e.value)
                return true
            }()
            if !found { blob.byte(0) }
            i += 2
        }
        out.writeBulk(blob.data)
    }

    /// `__sort_store key element...`: the list at `key`, or `key` deleted with no elements.
    static func store(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var list: ListValue?
        if args.count > 2 {
            list = ListValue()
            for i in 2..<args.count { list!.push(args[i], head: false) }
        }
        out.writeInteger(SortCommands.storeResult(ctx, args[1], list))
    }

    /// The body of a bulk reply, nil for anything else (an error).
    static func bulkBody(_ reply: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard reply.count > 0, reply[0] == UInt8(ascii: "$") else { return nil }
        var p = 1
        while p < reply.count && reply[p] != UInt8(ascii: "\r") { p += 1 }
        guard p + 2 <= reply.count - 2 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(rebasing: reply[(p + 2)..<(reply.count - 2)])
    }
}

/// Little-endian framing of the parts' blobs.
struct BlobWriter {
    var data: [UInt8] = []
    mutating func byte(_ b: UInt8) { data.append(b) }
    mutating func int(_ n: Int) { withUnsafeBytes(of: Int64(n).littleEndian) { data.append(contentsOf: $0) } }
    mutating func bytes(_ b: UnsafeRawBufferPointer) { int(b.count); data.append(contentsOf: b) }
}

struct BlobReader {
    let blob: UnsafeRawBufferPointer
    var at = 0
    init(_ blob: UnsafeRawBufferPointer) { self.blob = blob }
    mutating func byte() -> UInt8 { defer { at += 1 }; return blob[at] }
    mutating func int() -> Int {
        defer { at += 8 }
        return Int(Int64(littleEndian: blob.loadUnaligned(fromByteOffset: at, as: Int64.self)))
    }
    mutating func withBytes(_ body: (UnsafeRawBufferPointer) -> Void) {
        let n = int()
        body(UnsafeRawBufferPointer(rebasing: blob[at..<(at + n)]))
        at += n
    }
    mutating func bytes() -> [UInt8] {
        var v: [UInt8] = []
        withBytes { v = Array($0) }
        return v
    }
}
