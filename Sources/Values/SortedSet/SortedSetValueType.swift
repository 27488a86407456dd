import CShim
#if canImport(Glibc)
import Glibc
#endif

/// A sorted set as a value type: TYPE "zset", OBJECT ENCODING "listpack" or "skiplist", RDB
/// types 3, 5, 12 and 17 read and 17 or 5 written (Redis 7.0), digest and memory estimate.
extension SortedSet: ValueType {
    public static var typeName: String { "zset" }
    public static var rdbTypesRead: [UInt8] { [rdbTypeZSet, rdbTypeZSet2, rdbTypeZiplist, rdbTypeListpack] }

    public var encodingName: String { isListpack ? "listpack" : "skiplist" }
    public var rdbType: UInt8 { isListpack ? SortedSet.rdbTypeListpack : SortedSet.rdbTypeZSet2 }
    public var isEmptyCollection: Bool { count == 0 }

    /// ZADD score member, 64 members a command, the score as "%.17g" (rewriteSortedSetObject).
    public func writeRewriteCommands(key: UnsafeRawBufferPointer, to out: inout RewriteCommands) {
        var batch = RewriteCommands.Batch("ZADD", key: key, items: count, width: 2)
        forEach { m, score in
            batch.item(&out)
            out.bulk(score: score)
            out.bulk(m)
        }
    }

    /// The object and its listpack block; or the skiplist's node and level arrays, its
    /// member arena and index (objectComputeSize counts the same parts).
    public var memoryUsage: Int {
        let object = MemoryLayout<SortedSet>.size + 16
        if let lp { return object + vk_malloc_usable_size(lp) }
        return object + skiplist!.memoryUsage
    }

    /// OBJ_ZSET (3), then for each element the SHA1 of a digest with the member and the
    /// score's "%.17g" text mixed in, XORed in (order-free), as Redis 7.0's xorObjectDigest.
    public func digest<D: ValueDigest>(into digest: inout D) {
        digest.mix(bigEndian: 3)
        forEach { m, s in ZScore.withText(s) { text in digest.xorElement { $0.mix(m); $0.mix(text) } } }
    }
}
