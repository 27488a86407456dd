import RESP
import Shards

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN] (lcsCommand of Redis 7.0):
/// the longest common subsequence by the dynamic-programming table, its length, or the
/// matching ranges walked back from the end. Keys on two shards are copied to the
/// coordinator (`__string_sources`) and compared there.
enum StringLCS {
    static let spec = CommandSpec("lcs", arity: -3, flags: [.readonly], keys: (1, 2, 1), group: "string",
                                  summary: "The longest common subsequence of two strings, its length or its matches.",
                                  run: .keyed(lcs, split: nil, crossShard: lcsAcrossShards))
        .described(since: "7.0.0", acl: [.read, .string, .slow], keySpecs: [KeySpec(["RO", "access"], index: 1, lastKey: 1)],
                   arguments: [
                       .key("key1"), .key("key2"), .token("LEN").optional, .token("IDX").optional,
                       .integer("len", token: "MINMATCHLEN").optional, .token("WITHMATCHLEN").optional,
                   ])

    static let wrongTypes: StaticString = "ERR The specified keys must contain string values"

    /// The options, parsed up front; an error is replied only after the keys' type check,
    /// where Redis parses them.
    struct Options {
        var length = false, indexes = false, withMatchLength = false
        var minMatchLength = 0
        var error: StaticString?

        init(_ args: Arguments) {
            var j = 3
            while j < args.count {
                let more = args.count - 1 - j
                if argIs(args[j], "idx") {
                    indexes = true
                } else if argIs(args[j], "len") {
                    length = true
                } else if argIs(args[j], "withmatchlen") {
                    withMatchLength = true
                } else if argIs(args[j], "minmatchlen") && more > 0 {
                    guard let n = args.integer(j + 1) else { error = Errors.notInteger; return }
                    minMatchLength = max(0, n)
                    j += 1
                } else {
                    error = Errors.syntax
                    return
                }
                j += 1
            }
        }
    }

    static func lcs(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let a = ctx.shard.lookupForRead(db: ctx.db, key: args[1])
        let b = ctx.shard.lookupForRead(db: ctx.db, key: args[2])
        if a.map({ $0.kind != .string }) ?? false || b.map({ $0.kind != .string }) ?? false {
            out.writeError(wrongTypes)
            return
        }
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        reply(a?.value ?? empty, b?.value ?? empty, Options(args), ctx.resp, &out)
    }

    static func lcsAcrossShards(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall,
                                _ out: inout ByteBuffer) {
        let options = Options(args)
        let resp = c.resp
        let op = MultiShardOperation(client: c) { op, out in
            if let error = op.firstError() { out.append(error); return true }
            var ranges: [Range<Int>] = []
            for part in 0..<2 {
                switch BitOperations.decode(op.reply(part)).first {
                case .string(let range): ranges.append(range)
                case .wrongType: out.writeError(wrongTypes); return true
                case .missing, nil: ranges.append(0..<0)
                }
            }
            reply(UnsafeRawBufferPointer(rebasing: op.reply(0)[ranges[0]]),
                  UnsafeRawBufferPointer(rebasing: op.reply(1)[ranges[1]]), options, resp, &out)
            return true
        }
        let name = op.store(string: InternalCommand.stringSources.name)
        let first = op.store(args[1]), second = op.store(args[2])
        op.addPart(shard: w.shardOf(args[1]), command: BitOperations.sourcesPart, spanIndices: [name, first])
        op.addPart(shard: w.shardOf(args[2]), command: BitOperations.sourcesPart, spanIndices: [name, second])
        w.start(op, client: c, call: &call, out: &out)
    }

    /// Everything after the type check: the options' errors, then the table and the reply.
    static func reply(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, _ options: Options, _ resp: RESPVersion,
                      _ out: inout ByteBuffer) {
        if let error = options.error { out.writeError(error); return }
        if options.length && options.indexes {
            out.writeError("ERR If you want both the length and indexes, please just use IDX.")
            return
        }
        let alen = a.count, blen = b.count
        guard alen < Int(UInt32.max) - 1, blen < Int(UInt32.max) - 1 else { out.writeError("ERR String too long for LCS"); return }
        let cells = (alen + 1).multipliedReportingOverflow(by: blen + 1)
        guard !cells.overflow, cells.partialValue <= Int.max / 4 else {
            out.writeError("ERR Insufficient memory, failed allocating transient memory for LCS")
            return
        }
        guard cells.partialValue * 4 <= LiveConfig.protoMaxBulkLen.load(ordering: .relaxed) else {
            out.writeError("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
            return
        }
        let width = blen + 1
        let table = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: cells.partialValue)
        defer { table.deallocate() }
        for j in 0...blen { table[j] = 0 }
        if alen > 0 {
            for i in 1...alen {
                table[i * width] = 0
                let ai = a[i - 1]
                var j = 1
                while j <= blen {
                    table[i * width + j] = ai == b[j - 1] ? table[(i - 1) * width + j - 1] + 1
                        : max(table[(i - 1) * width + j], table[i * width + j - 1])
                    j += 1
                }
            }
        }
        let total = Int(table[alen * width + blen])
        if options.length && !options.indexes {
            out.writeInteger(total)
            return
        }

        // Walk back from the end, collecting the subsequence and the matching ranges.
        var result = [UInt8](repeating: 0, count: total)
        var matches: [(a: (Int, Int), b: (Int, Int), length: Int)] = []
        var idx = total
        var aStart = alen, aEnd = 0, bStart = 0, bEnd = 0  // aStart == alen: no range open
        var i = alen, j = blen
        while i > 0 && j > 0 {
            var emit = false
            if a[i - 1] == b[j - 1] {
                result[idx - 1] = a[i - 1]
                if aStart == alen {
                    aStart = i - 1; aEnd = i - 1; bStart = j - 1; bEnd = j - 1
                } else if aStart == i && bStart == j {
                    aStart -= 1
                    bStart -= 1
                } else {
                    emit = true
                }
                if aStart == 0 || bStart == 0 { emit = true }
                idx -= 1; i -= 1; j -= 1
            } else {
                if table[(i - 1) * width + j] > table[i * width + j - 1] { i -= 1 } else { j -= 1 }
                if aStart != alen { emit = true }
            }
            if emit {
                let length = aEnd - aStart + 1
                if options.minMatchLength == 0 || length >= options.minMatchLength {
                    matches.append(((aStart, aEnd), (bStart, bEnd), length))
                }
                aStart = alen
            }
        }
        guard options.indexes else {
            out.writeBulk(result)
            return
        }
        out.writeMapHeader(2, resp)
        out.writeBulk(string: "matches")
        out.writeArrayHeader(matches.count)
        for m in matches {
            out.writeArrayHeader(options.withMatchLength ? 3 : 2)
            out.writeArrayHeader(2)
            out.writeInteger(m.a.0)
            out.writeInteger(m.a.1)
            out.writeArrayHeader(2)
            out.writeInteger(m.b.0)
            out.writeInteger(m.b.1)
            if options.withMatchLength { out.writeInteger(m.length) }
        }
        out.writeBulk(string: "len")
        out.writeInteger(total)
    }
}
