import RESP
import Shards
import Values
#if canImport(Glibc)
import Glibc
#endif

/// KEYS, SCAN and RANDOMKEY: walks over every shard's table.
extension KeyCommands {
    // MARK: KEYS

    static func keys(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        w.fanOut(c, args, part: .keys, call: &call, out: &out) { op, out in
            concatenateArrays(op, into: &out)
            return true
        }
    }

    /// One shard's matching live keys, as an array.
    static func keysPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let pattern = args[1]
        let all = pattern.count == 1 && pattern[0] == UInt8(ascii: "*")
        var body = ByteBuffer(capacity: 1024)
        var n = 0
        ctx.shard.forEach(db: ctx.db) { e in
            if all || Glob.matches(pattern, e.key) {
                body.writeBulk(e.key)
                n += 1
            }
        }
        out.writeArrayHeader(n)
        out.append(body.readable)
    }

    /// Writes one array holding the elements of every part's array reply, in part order.
    static func concatenateArrays(_ op: MultiShardOperation, into out: inout ByteBuffer) {
        if let error = op.firstError() { out.append(error); return }
        var total = 0
        var bodies: [UnsafeRawBufferPointer] = []
        for i in 0..<op.parts.count {
            guard let (n, bodyStart) = leadingNumber(op.reply(i), marker: UInt8(ascii: "*")) else { continue }
            let r = op.reply(i)
            total += n
            bodies.append(UnsafeRawBufferPointer(rebasing: r[bodyStart...]))
        }
        out.writeArrayHeader(total)
        for b in bodies { out.append(b) }
    }

    /// The number in a reply line like `:12\r\n` or `*3\r\n` at the start of `r`, and where the line ends.
    static func leadingNumber(_ r: UnsafeRawBufferPointer, marker: UInt8) -> (Int, Int)? {
        guard r.count >= 4, r[0] == marker else { return nil }
        var i = 1
        while i < r.count && r[i] != 13 { i += 1 }
        guard i + 1 < r.count, let n = parseStrictInt(r, from: 1, to: i) else { return nil }
        return (n, i + 2)
    }

    // MARK: SCAN

    /// SCAN's cursor names a shard and a position in its table:
    /// cursor = local * shardCount + shard. The scan visits shard 0 to the last; a shard's
    /// local cursor 0 is its start (its cursor is then just its index), and 0 after the last
    /// shard ends the scan. Each shard scan keeps Redis's guarantee (KeyTable.scan), so every
    /// key present for the whole scan is returned at least once. A call that finishes a
    /// shard with room left under COUNT goes on with the next shard, so a small keyspace
    /// is returned in one call, cursor 0, as Redis does.
    static func scan(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard let cursor = parseCursor(args[1]) else { out.writeError("ERR invalid cursor"); return }
        let shards = UInt64(w.context.shardCount)
        let count = scanCount(args)
        var name = 0, zero = 0, shardCount = 0
        var options: [Int] = []
        var returned = 0
        let op = MultiShardOperation(client: c) { op, out in
            let reply = op.reply(op.parts.count - 1)
            guard let page = ScanPage(reply) else { out.append(reply); return true }  // an option error
            returned += page.count
            if page.next != 0 && page.next < shards && returned < count {
                op.addPart(shard: Int(page.next), command: Part.scan, spanIndices: [name, zero, shardCount] + options)
                return false
            }
            out.writeArrayHeader(2)
            out.writeBulk(string: String(page.next))
            out.writeArrayHeader(returned)
            for i in 0..<op.parts.count { if let p = ScanPage(op.reply(i)) { out.append(p.keys) } }
            return true
        }
        op.pausesClient = true  // later steps must run before the client's next commands
        name = op.store(string: InternalCommand.scan.name)
        zero = op.store(string: "0")
        shardCount = op.store(string: String(shards))
        for i in 2..<args.count { options.append(op.store(args[i])) }
        op.addPart(shard: Int(cursor % shards), command: Part.scan,
                   spanIndices: [name, op.store(string: String(cursor / shards)), shardCount] + options)
        w.start(op, client: c, call: &call, out: &out)
    }

    /// SCAN's COUNT if well-formed, else the default (the shard part reports bad options).
    static func scanCount(_ args: Arguments) -> Int {
        var count = 10
        var i = 2
        while i + 1 < args.count {
            if argIs(args[i], "count"), let n = args.integer(i + 1), n >= 1 { count = n }
            i += 2
        }
        return count
    }

    /// A shard's SCAN reply: `*2 $next *n keys...`.
    struct ScanPage {
        var next: UInt64
        var count: Int
        var keys: UnsafeRawBufferPointer

        init?(_ r: UnsafeRawBufferPointer) {
            guard let (two, cursorAt) = leadingNumber(r, marker: UInt8(ascii: "*")), two == 2,
                  let (length, digitsAt) = leadingNumber(UnsafeRawBufferPointer(rebasing: r[cursorAt...]),
                                                         marker: UInt8(ascii: "$")) else { return nil }
            let digits = cursorAt + digitsAt
            let arrayAt = digits + length + 2
            guard arrayAt < r.count,
                  let next = parseCursor(UnsafeRawBufferPointer(rebasing: r[digits..<(digits + length)])),
                  let (n, keysAt) = leadingNumber(UnsafeRawBufferPointer(rebasing: r[arrayAt...]),
                                                  marker: UInt8(ascii: "*")) else { return nil }
            self.next = next
            count = n
            keys = UnsafeRawBufferPointer(rebasing: r[(arrayAt + keysAt)...])
        }
    }

    /// Redis's cursor parsing (strtoul): optional sign, decimal digits, no surrounding
    /// spaces; "-1" wraps around as in C; an empty string is cursor 0.
    static func parseCursor(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        let end = bytes.firstIndex(of: 0) ?? bytes.count  // C string: ends at a NUL
        guard end > 0 else { return 0 }
        let first = bytes[0]
        if first == 32 || (first >= 9 && first <= 13) { return nil }
        var i = 0
        let negative = first == UInt8(ascii: "-")
        if negative || first == UInt8(ascii: "+") { i = 1 }
        let digitsStart = i
        var value: UInt64 = 0
        while i < end, bytes[i] >= 48 && bytes[i] <= 57 {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(bytes[i] - 48))
            if o1 || o2 { return nil }
            value = s
            i += 1
        }
        guard i > digitsStart && i == end else { return nil }
        return negative ? 0 &- value : value
    }

    /// Redis's scanGenericCommand walk of a dict for HSCAN, SSCAN and ZSCAN: one bucket per
    /// `scanBucket` call from `cursor` on, until `count` elements were visited, the dict is
    /// done (cursor 0) or 10×count buckets were scanned; the next cursor. `scanBucket` scans
    /// the bucket at its cursor, adds what it visited (a hash's field and value count two,
    /// as Redis's reply list counts them) and returns the following cursor.
    static func scanBuckets(from cursor: UInt64, count: Int, _ scanBucket: (UInt64, inout Int) -> UInt64) -> UInt64 {
        var visited = 0
        var bucketsLeft = count > Int.max / 10 ? Int.max : count * 10
        var next = cursor
        repeat {
            next = scanBucket(next, &visited)
            let budgetRemained = bucketsLeft != 0
            bucketsLeft -= 1
            if !budgetRemained { break }
        } while next != 0 && visited < count
        return next
    }

    /// SCAN's options, and those of HSCAN, SSCAN and ZSCAN, as Redis's scanGenericCommand
    /// parses them: COUNT (an integer, at least 1), MATCH (`*` alone matches everything)
    /// and, for SCAN only, TYPE.
    struct ScanOptions {
        var count = 10
        var pattern: UnsafeRawBufferPointer?
        var type: String?
    }

    /// The options from argument `from` on; nil after writing the error.
    static func parseScanOptions(_ args: Arguments, from: Int, allowsType: Bool, _ out: inout ByteBuffer) -> ScanOptions? {
        var options = ScanOptions()
        var i = from
        while i < args.count {
            let more = args.count - i >= 2
            if argIs(args[i], "count") && more {
                guard let n = args.integer(i + 1) else { out.writeError(Errors.notInteger); return nil }
                guard n >= 1 else { out.writeError(Errors.syntax); return nil }
                options.count = n
            } else if argIs(args[i], "match") && more {
                let p = args[i + 1]
                options.pattern = p.count == 1 && p[0] == UInt8(ascii: "*") ? nil : p
            } else if allowsType && argIs(args[i], "type") && more {
                options.type = lowercased(args[i + 1])
            } else {
                out.writeError(Errors.syntax)
                return nil
            }
            i += 2
        }
        return options
    }

    /// One SCAN call on this shard: `__scan local shardCount [options...]`.
    static func scanPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let start = parseCursor(args[1]), let shards = parseCursor(args[2]), shards > 0 else {
            out.writeError("ERR invalid cursor")
            return
        }
        guard let options = KeyCommands.parseScanOptions(args, from: 3, allowsType: true, &out) else { return }
        let count = options.count, pattern = options.pattern, wantedType = options.type

        // As Redis: stop after `count` keys (counted before filtering) or 10×count buckets.
        var cursor = start
        var bucketsLeft = count > Int.max / 10 ? Int.max : count * 10
        var visited = 0
        var matched = 0
        var body = ByteBuffer(capacity: 512)
        // Redis looks up (so deletes) an expired key that passes MATCH; with TYPE, that
        // lookup is a keyspace miss.
        let looksUpExpired = { (e: Entry) -> Bool in
            if let pattern, !Glob.matches(pattern, e.key) { return false }
            if wantedType != nil { ctx.shard.keyspaceMisses += 1 }
            return true
        }
        while true {
            cursor = ctx.shard.scan(db: ctx.db, cursor: cursor, looksUpExpired: looksUpExpired) { e in
                visited += 1
                if let pattern, !Glob.matches(pattern, e.key) { return }
                if let wantedType {
                    ctx.shard.keyspaceHits += 1   // Redis 7.0 looks the key up (a read) to learn its type
                    if typeName(e) != wantedType { return }
                }
                body.writeBulk(e.key)
                matched += 1
            }
            let budgetRemained = bucketsLeft != 0
            bucketsLeft -= 1
            if cursor == 0 || !budgetRemained || visited >= count { break }
        }

        let me = UInt64(ctx.shard.index)
        let next: UInt64 = cursor != 0 ? cursor &* shards &+ me : (me + 1 < shards ? me + 1 : 0)
        out.writeArrayHeader(2)
        out.writeBulk(string: String(next))
        out.writeArrayHeader(matched)
        out.append(body.readable)
    }

    /// Runs one internal part on `shard` and relays its reply as the command's reply.
    static func runOnePart(_ w: Worker, _ c: Client, shard: Int, part: UInt16, call: inout CommandCall, out: inout ByteBuffer,
                           arguments: (MultiShardOperation) -> [Int]) {
        let op = MultiShardOperation(client: c) { op, out in
            out.append(op.reply(0))
            return true
        }
        op.addPart(shard: shard, command: part, spanIndices: arguments(op))
        w.start(op, client: c, call: &call, out: &out)
    }

    // MARK: RANDOMKEY

    /// Each shard answers with its key count and one random key; the pick among shards is
    /// weighted by their counts so that every key is about equally likely.
    static func randomKey(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        w.fanOut(c, args, part: .randomkey, call: &call, out: &out) { op, out in
            var candidates: [(weight: Int, key: UnsafeRawBufferPointer)] = []
            for i in 0..<op.parts.count {
                let r = op.reply(i)
                guard let (n, keyStart) = leadingNumber(r, marker: UInt8(ascii: ":")), keyStart < r.count,
                      let (length, bytesStart) = leadingNumber(UnsafeRawBufferPointer(rebasing: r[keyStart...]),
                                                               marker: UInt8(ascii: "$")) else { continue }
                let from = keyStart + bytesStart
                candidates.append((max(n, 1), UnsafeRawBufferPointer(rebasing: r[from..<(from + length)])))
            }
            let total = candidates.reduce(0) { $0 + $1.weight }
            guard total > 0 else { out.writeNull(op.resp); return true }
            var pick = Int.random(in: 0..<total)
            for candidate in candidates {
                if pick < candidate.weight { out.writeBulk(candidate.key); break }
                pick -= candidate.weight
            }
            return true
        }
    }

    /// `:count` followed by a bulk key if this shard has a live one.
    static func randomKeyPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let e = ctx.shard.randomEntry(db: ctx.db)  // first: it may delete expired keys
        out.writeInteger(ctx.shard.keyCount(db: ctx.db))
        if let e { out.writeBulk(e.key) }
    }
}
