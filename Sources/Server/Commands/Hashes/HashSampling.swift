import RESP
import Shards
import Values

/// HRANDFIELD and HSCAN (Redis 7.0's hrandfieldCommand and scanGenericCommand for hashes).
enum HashSampling {
    // MARK: HRANDFIELD

    static func hrandfield(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard args.count >= 3 else {
            let resp = ctx.resp
            guard let h = HashCommands.hashForRead(ctx, args[1], &out, missing: { $0.writeNull(resp) }) else { return }
            var rng = ctx.shard.random
        defer { ctx.shard.random = rng }
            h.randomPair(using: &rng) { f, _ in out.writeBulk(f) }
            return
        }
        // getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)
        guard let count = parseStrictInt(args[2]) else { out.writeError(Errors.notInteger); return }
        guard count != Int.min else {
            out.writeError("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
            return
        }
        var withValues = false
        if args.count > 4 || (args.count == 4 && !argIs(args[3], "withvalues")) {
            out.writeError(Errors.syntax)
            return
        } else if args.count == 4 {
            withValues = true
            guard count >= -(Int.max / 2) && count <= Int.max / 2 else { out.writeError("ERR value is out of range"); return }
        }
        withCount(ctx, args, count: count, withValues: withValues, &out)
    }

    /// hrandfieldWithCountCommand: a negative count samples with repetition, in random order;
    /// a positive one returns distinct fields (the whole hash if it has no more).
    private static func withCount(_ ctx: ShardContext, _ args: Arguments, count requested: Int, withValues: Bool,
                                  _ out: inout ByteBuffer) {
        guard let h = HashCommands.hashForRead(ctx, args[1], &out, missing: { $0.writeArrayHeader(0) }) else { return }
        let unique = requested >= 0
        let count = requested.magnitude
        if count == 0 { out.writeArrayHeader(0); return }
        let resp3 = ctx.resp == .resp3
        func writePair(_ f: UnsafeRawBufferPointer, _ v: UnsafeRawBufferPointer) {
            if withValues && resp3 { out.writeArrayHeader(2) }
            out.writeBulk(f)
            if withValues { out.writeBulk(v) }
        }
        func header(_ n: Int) { out.writeArrayHeader(withValues && !resp3 ? n * 2 : n) }
        var rng = ctx.shard.random
        defer { ctx.shard.random = rng }

        // CASE 1: repetitions allowed (or a single field).
        if !unique || count == 1 {
            header(Int(count))
            let offsets = h.pairOffsets()  // listpack: pick by index instead of walking each time
            for _ in 0..<count {
                if offsets.isEmpty {
                    h.randomPair(using: &rng) { writePair($0, $1) }
                } else {
                    let p = offsets[Int.random(in: 0..<offsets.count, using: &rng)]
                    h.withPair(listpackField: p.field, value: p.value) { writePair($0, $1) }
                }
            }
            return
        }
        // CASE 2: asking for at least the whole hash.
        if count >= UInt(h.count) {
            header(h.count)
            h.forEach { writePair($0, $1) }
            return
        }
        // CASE 3: distinct fields, fewer than the hash has. A listpack answers in its own
        // order (lpRandomPairsUnique); a table in random order.
        let n = Int(count)
        if h.isListpack {
            var picks = Array(0..<h.count)
            picks.shuffle(using: &rng)
            let chosen = Set(picks.prefix(n))
            header(n)
            var i = 0
            h.forEach { f, v in
                if chosen.contains(i) { writePair(f, v) }
                i += 1
            }
        } else if let t = h.table {
            var handles = t.handles()
            handles.shuffle(using: &rng)
            header(n)
            for handle in handles.prefix(n) {
                writePair(t.key(handle), t.value(handle) ?? UnsafeRawBufferPointer(start: nil, count: 0))
            }
        }
    }

    // MARK: HSCAN

    static func hscan(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let cursor = KeyCommands.parseCursor(args[2]) else { out.writeError("ERR invalid cursor"); return }
        guard let h = HashCommands.hashForRead(ctx, args[1], &out, missing: { out in
            out.writeArrayHeader(2); out.writeBulk(string: "0"); out.writeArrayHeader(0)
        }) else { return }
        guard let options = KeyCommands.parseScanOptions(args, from: 3, allowsType: false, &out) else { return }
        let count = options.count, pattern = options.pattern
        var body = ByteBuffer(capacity: 256)
        var elements = 0
        func add(_ f: UnsafeRawBufferPointer, _ v: UnsafeRawBufferPointer?) {
            if let pattern, !Glob.matches(pattern, f) { return }
            body.writeBulk(f)
            body.writeBulk(v ?? UnsafeRawBufferPointer(start: nil, count: 0))
            elements += 2
        }
        var next: UInt64 = 0
        if let t = h.table {
            next = KeyCommands.scanBuckets(from: cursor, count: count) { bucket, visited in
                t.scan(cursor: bucket) { f, v in
                    visited += 2  // a field and its value, as Redis counts them
                    add(f, v)
                }
            }
        } else {
            h.forEach { add($0, $1) }  // a listpack is returned whole, cursor 0
        }
        out.writeArrayHeader(2)
        out.writeBulk(string: String(next))
        out.writeArrayHeader(elements)
        out.append(body.readable)
    }
}
