#if canImport(Glibc)
import Glibc
#endif

// A sorted set's RDB object encodings (Redis 7.0's rdbSaveObject / rdbLoadObject, OBJ_ZSET).

extension SortedSet {
    public static let rdbTypeZSet: UInt8 = 3        // RDB_TYPE_ZSET: scores as length-prefixed text
    public static let rdbTypeZSet2: UInt8 = 5       // RDB_TYPE_ZSET_2: scores as binary doubles
    public static let rdbTypeZiplist: UInt8 = 12    // RDB_TYPE_ZSET_ZIPLIST (before 7.0)
    public static let rdbTypeListpack: UInt8 = 17   // RDB_TYPE_ZSET_LISTPACK (7.0)

    /// A listpack as its blob (17); a skiplist as its length then members and binary
    /// scores from the greatest to the smallest (5), as Redis writes them.
    public func writeRDB<S: RDBItemSink>(to sink: inout S) throws {
        if let lp {
            try sink.rdbString(Listpack.bytes(lp))
            return
        }
        try sink.rdbLength(UInt64(count))
        var failure: Error?
        forEach(fromRank: count - 1, reverse: true) { m, s in
            do {
                try sink.rdbString(m)
                var raw = s.bitPattern.littleEndian
                try withUnsafeBytes(of: &raw) { try sink.rdbRaw($0) }
                return true
            } catch {
                failure = error
                return false
            }
        }
        if let failure { throw failure }
    }

    /// Steps over the skiplist from the greatest member, as `writeRDB` writes it.
    public func writeRDBStep(to sink: inout RDBPlainSink, cursor: inout Int, budget: Int) -> Bool {
        guard lp == nil else { try! writeRDB(to: &sink); return true }
        return writeRDBSteps(to: &sink, cursor: &cursor, budget: budget, length: count) { sink, done, limit in
            var written = 0
            forEach(fromRank: count - 1 - done, reverse: true) { m, s in
                sink.rdbString(m)
                var raw = s.bitPattern.littleEndian
                withUnsafeBytes(of: &raw) { sink.rdbRaw($0) }
                written += 1
                return written < limit
            }
            return done + written < count ? done + written : nil
        }
    }

    public static func readRDB<S: RDBItemSource & ~Copyable>(type: UInt8, from source: inout S) throws -> SortedSet {
        let limits = SortedSetLimits.current
        switch type {
        case rdbTypeZSet, rdbTypeZSet2:
            let n = try source.rdbCount()
            let z = ZSkipList()
            var longest = 0
            for _ in 0..<n {
                let member = try source.rdbString()
                let score: Double
                if type == rdbTypeZSet2 {
                    let raw = try source.rdbRaw(8)
                    var bits: UInt64 = 0
                    for (i, b) in raw.enumerated() { bits |= UInt64(b) << (8 * UInt64(i)) }
                    score = Double(bitPattern: bits)
                } else {
                    score = try readDoubleText(&source)
                }
                guard !score.isNaN else { throw source.rdbCorrupt("Zset with NAN score detected") }
                guard z.score(of: member) == nil else { throw source.rdbCorrupt("Duplicate zset fields detected") }
                longest = max(longest, member.count)
                z.insert(member, score: score)
            }
            let set = SortedSet(skiplist: z)
            set.convertToListpackIfFits(limits)
            return set
        case rdbTypeListpack, rdbTypeZiplist:
            let blob = try source.rdbString()
            let message = type == rdbTypeZiplist ? "Zset ziplist integrity check failed." : "Zset listpack integrity check failed."
            let listpack: UnsafeMutableRawPointer? = blob.withUnsafeBytes { b in
                type == rdbTypeZiplist ? Ziplist.convertToListpack(b) : Listpack.copy(of: b)
            }
            guard var lp = listpack else { throw source.rdbCorrupt(message) }
            guard let pairs = validatedPairs(lp) else { free(lp); throw source.rdbCorrupt(message) }
            Listpack.shrinkToFit(&lp)
            let set = SortedSet(listpack: lp, count: pairs)
            if pairs > limits.maxEntries { set.convertToSkiplist() }
            return set
        default:
            throw source.rdbCorrupt("Unknown zset RDB type \(type)")
        }
    }

    /// zsetZiplistValidateIntegrity's deep pass: an even number of elements, no member twice;
    /// and (beyond Redis) no score reading as NaN, which no ordering could hold.
    /// Returns the number of pairs.
    static func validatedPairs(_ lp: UnsafeRawPointer) -> Int? {
        var seen = Set<[UInt8]>()
        var n = 0
        var p = Listpack.first(lp)
        while let e = p {
            if n % 2 == 0 {
                guard seen.insert(Listpack.withBytes(lp, e) { Array($0) }).inserted else { return nil }
            } else if lpScore(lp, e).isNaN {
                return nil
            }
            n += 1
            p = Listpack.next(lp, e)
        }
        return n % 2 == 0 ? n / 2 : nil
    }

    /// rdbLoadDoubleValue: a length byte (253 NaN, 254 +inf, 255 -inf), then that many
    /// bytes of text read as sscanf's "%lg" would.
    static func readDoubleText<S: RDBItemSource & ~Copyable>(_ source: inout S) throws -> Double {
        let len = try source.rdbRaw(1)[0]
        switch len {
        case 253: return .nan
        case 254: return .infinity
        case 255: return -.infinity
        default:
            let text = try source.rdbRaw(Int(len))
            let (v, consumed, _) = text.withUnsafeBytes { ZScore.strtodC($0) }
            guard consumed > 0 else { throw source.rdbCorrupt("Bad zset score") }
            return v
        }
    }
}

/// Redis's ziplist (before 7.0), read only to convert an RDB_TYPE_*_ZIPLIST blob into a
/// listpack, with ziplistValidateIntegrity's checks.
enum Ziplist {
    /// The listpack holding the ziplist's elements, or nil if the blob is malformed.
    static func convertToListpack(_ zl: UnsafeRawBufferPointer) -> UnsafeMutableRawPointer? {
        let header = 10
        guard zl.count >= header + 1 else { return nil }
        func u32(_ at: Int) -> Int { Int(zl[at]) | Int(zl[at + 1]) << 8 | Int(zl[at + 2]) << 16 | Int(zl[at + 3]) << 24 }
        let total = u32(0), tailOffset = u32(4)
        let declared = Int(zl[8]) | Int(zl[9]) << 8
        guard total == zl.count, zl[total - 1] == 0xFF, tailOffset < total - 1 || (tailOffset == header && total == header + 1) else {
            return nil
        }
        var enc: [UInt8] = []
        var p = header
        var prevSize = 0
        var count = 0
        var lastStart = header
        while p < total - 1 {
            lastStart = p
            let start = p
            // prevlen: one byte, or 0xFE then four
            var prevlen = Int(zl[p])
            if prevlen == 0xFE {
                guard p + 5 <= total - 1 else { return nil }
                prevlen = u32(p + 1)
                p += 5
            } else {
                p += 1
            }
            guard prevlen == prevSize, p < total - 1 else { return nil }
            let b = zl[p]
            var dataLength = 0
            var integer: Int64?
            switch b >> 6 {
            case 0: dataLength = Int(b & 0x3F); p += 1
            case 1:
                guard p + 2 <= total - 1 else { return nil }
                dataLength = Int(b & 0x3F) << 8 | Int(zl[p + 1]); p += 2
            case 2:
                guard b == 0x80, p + 5 <= total - 1 else { return nil }
                dataLength = Int(zl[p + 1]) << 24 | Int(zl[p + 2]) << 16 | Int(zl[p + 3]) << 8 | Int(zl[p + 4]); p += 5
            default:
                p += 1
                func signed(_ width: Int) -> Int64? {
                    guard p + width <= total - 1 else { return nil }
                    var v: UInt64 = 0
                    for i in 0..<width { v |= UInt64(zl[p + i]) << (8 * UInt64(i)) }
                    let shift = UInt64(64 - 8 * width)
                    p += width
                    return Int64(bitPattern: v << shift) >> Int64(shift)
                }
                switch b {
                case 0xC0: integer = signed(2)
                case 0xD0: integer = signed(4)
                case 0xE0: integer = signed(8)
                case 0xF0: integer = signed(3)
                case 0xFE: integer = signed(1)
                case 0xF1...0xFD: integer = Int64(b & 0x0F) - 1
                default: return nil
                }
                guard integer != nil else { return nil }
            }
            if let v = integer {
                Listpack.encode(integer: v, into: &enc)
            } else {
                guard dataLength <= total - 1 - p else { return nil }
                Listpack.encode(string: UnsafeRawBufferPointer(rebasing: zl[p..<(p + dataLength)]), into: &enc)
                p += dataLength
            }
            prevSize = p - start
            count += 1
        }
        guard p == total - 1, lastStart == tailOffset || count == 0, declared == 0xFFFF || declared == count else { return nil }
        var lp = Listpack.new(capacity: enc.count + Listpack.headerSize + 1)
        Listpack.append(&lp, encoded: enc, count: count)
        return lp
    }
}
