import CShim
#if canImport(Glibc)
import Glibc
#endif

/// A list as a value type: TYPE "list", OBJECT ENCODING "quicklist" (Redis 7.0's only list
/// encoding), RDB types 1, 10, 14 and 18 read, 18 written as Redis 7.0 does.
extension ListValue: ValueType {
    public static let rdbTypeList: UInt8 = 1             // RDB_TYPE_LIST: length, then element strings
    public static let rdbTypeZiplist: UInt8 = 10         // RDB_TYPE_LIST_ZIPLIST: one ziplist
    public static let rdbTypeQuicklist: UInt8 = 14       // RDB_TYPE_LIST_QUICKLIST: ziplist nodes
    public static let rdbTypeQuicklist2: UInt8 = 18      // RDB_TYPE_LIST_QUICKLIST_2: listpack nodes
    static let containerPlain: UInt64 = 1
    static let containerPacked: UInt64 = 2

    public static var typeName: String { "list" }
    public static var rdbTypesRead: [UInt8] { [rdbTypeList, rdbTypeZiplist, rdbTypeQuicklist, rdbTypeQuicklist2] }

    public var encodingName: String { "quicklist" }
    public var rdbType: UInt8 { ListValue.rdbTypeQuicklist2 }
    public var isEmptyCollection: Bool { count == 0 }

    /// RPUSH, 64 elements a command, head to tail (rewriteListObject).
    public func writeRewriteCommands(key: UnsafeRawBufferPointer, to out: inout RewriteCommands) {
        var batch = RewriteCommands.Batch("RPUSH", key: key, items: count, width: 1)
        forEach(from: 0) { e in
            batch.item(&out)
            out.bulk(e)
            return true
        }
    }

    public var memoryUsage: Int {
        var bytes = MemoryLayout<ListValue>.size + 16 + 40 + nodes.capacity * MemoryLayout<Node>.stride
        for n in nodes { bytes += vk_malloc_usable_size(n.storage) }
        return bytes
    }

    /// OBJ_LIST (1), then each element mixed in order (mixStringObjectDigest).
    public func digest<D: ValueDigest>(into digest: inout D) {
        digest.mix(bigEndian: 1)
        for i in nodes.indices {
            withListpack(i) { lp in
                var p = Listpack.first(lp)
                while let at = p {
                    Listpack.withBytes(lp, at) { digest.mix($0) }
                    p = Listpack.next(lp, at)
                }
            }
        }
    }

    // MARK: RDB

    /// rdbSaveObject for a quicklist: the node count, then per node its container (packed)
    /// and its listpack as a string.
    public func writeRDB<S: RDBItemSink>(to sink: inout S) throws {
        try sink.rdbLength(UInt64(nodes.count))
        for i in nodes.indices {
            try sink.rdbLength(ListValue.containerPacked)
            try withListpack(i) { try sink.rdbString(Listpack.bytes($0)) }
        }
    }

    /// Steps over the nodes (about `budget` elements each step), as `writeRDB` writes them.
    public func writeRDBStep(to sink: inout RDBPlainSink, cursor: inout Int, budget: Int) -> Bool {
        writeRDBSteps(to: &sink, cursor: &cursor, budget: budget, length: nodes.count, elements: count) { sink, from, limit in
            var i = from, elements = 0
            while i < nodes.count && elements < limit {
                sink.rdbLength(ListValue.containerPacked)
                withListpack(i) { sink.rdbString(Listpack.bytes($0)) }
                elements += nodes[i].count
                i += 1
            }
            return i < nodes.count ? i : nil
        }
    }

    /// Reads a list of RDB type 1, 10, 14 or 18, validated as Redis's deep sanitization does
    /// (every listpack and ziplist well formed, a known container); empty nodes are skipped,
    /// and a list left empty reads as an empty value, which the loader skips.
    public static func readRDB<S: RDBItemSource & ~Copyable>(type: UInt8, from src: inout S) throws -> ListValue {
        let list = ListValue()
        switch type {
        case rdbTypeList:
            let n = try src.rdbCount()
            for _ in 0..<n {
                let e = try src.rdbString()
                e.withUnsafeBytes { list.push($0, head: false) }
            }
        case rdbTypeZiplist:
            let blob = try src.rdbString()
            guard let elements = LegacyEncodings.ziplistElements(blob) else {
                throw src.rdbCorrupt("Ziplist integrity check failed.")
            }
            for e in elements { e.withUnsafeBytes { list.push($0, head: false) } }
        case rdbTypeQuicklist, rdbTypeQuicklist2:
            let n = try src.rdbCount()
            for _ in 0..<n {
                var container = containerPacked
                if type == rdbTypeQuicklist2 {
                    container = try src.rdbLength()
                    guard container == containerPacked || container == containerPlain else {
                        throw src.rdbCorrupt("Quicklist integrity check failed.")
                    }
                }
                let blob = try src.rdbString()
                guard !blob.isEmpty else { throw src.rdbCorrupt("Empty quicklist node") }
                if container == containerPlain {
                    blob.withUnsafeBytes { list.push($0, head: false) }
                    continue
                }
                if type == rdbTypeQuicklist {
                    guard let elements = LegacyEncodings.ziplistElements(blob) else {
                        throw src.rdbCorrupt("Ziplist integrity check failed.")
                    }
                    for e in elements { e.withUnsafeBytes { list.push($0, head: false) } }
                    continue
                }
                guard let lp = blob.withUnsafeBytes({ Listpack.copy(of: $0) }) else {
                    throw src.rdbCorrupt("Listpack integrity check failed.")
                }
                let count = Listpack.countElements(lp)
                if count == 0 { free(lp); continue }  // Redis skips empty listpacks silently
                list.appendNode(lp, count: count)
            }
        default:
            throw src.rdbCorrupt("Unknown list encoding \(type)")
        }
        list.compressMiddle()
        return list
    }
}
