import CShim
#if canImport(Glibc)
import Glibc
#endif

/// A set as a value type: TYPE "set", OBJECT ENCODING "intset" or "hashtable", RDB types
/// 2, 11 and 20 (Redis 7.2's listpack) read, 11 or 2 written as Redis 7.0 does.
extension SetValue: ValueType {
    public static let rdbTypeSet: UInt8 = 2          // RDB_TYPE_SET: length, then member strings
    public static let rdbTypeIntset: UInt8 = 11      // RDB_TYPE_SET_INTSET: the intset's bytes
    public static let rdbTypeListpack: UInt8 = 20    // RDB_TYPE_SET_LISTPACK (Redis 7.2)

    public static var typeName: String { "set" }
    public static var rdbTypesRead: [UInt8] { [rdbTypeSet, rdbTypeIntset, rdbTypeListpack] }

    public var encodingName: String { isIntset ? "intset" : "hashtable" }
    public var rdbType: UInt8 { isIntset ? SetValue.rdbTypeIntset : SetValue.rdbTypeSet }
    public var isEmptyCollection: Bool { count == 0 }

    public var memoryUsage: Int {
        switch storage {
        case .intset(let s): return MemoryLayout<SetValue>.size + 16 + 32 + s.bytes.capacity
        case .table(let t): return MemoryLayout<SetValue>.size + 16 + t.memoryUsage
        }
    }

    /// OBJ_SET (2), then each member's SHA1 XORed in (xorObjectDigest: order-free).
    public func digest<D: ValueDigest>(into digest: inout D) {
        digest.mix(bigEndian: 2)
        forEach { digest.xor($0) }
    }

    /// SADD, 64 members a command (rewriteSetObject).
    public func writeRewriteCommands(key: UnsafeRawBufferPointer, to out: inout RewriteCommands) {
        var batch = RewriteCommands.Batch("SADD", key: key, items: count, width: 1)
        forEach { m in
            batch.item(&out)
            out.bulk(m)
        }
    }

    public func duplicate() -> SetValue {
        switch storage {
        case .intset(let s): return SetValue(intset: s)
        case .table(let t): return SetValue(table: t.copy())
        }
    }

    // MARK: RDB

    public func writeRDB<S: RDBItemSink>(to sink: inout S) throws {
        switch storage {
        case .intset(let s):
            try s.bytes.withUnsafeBytes { try sink.rdbString($0) }
        case .table(let t):
            try sink.rdbLength(UInt64(t.count))
            try t.forEach { k, _ in try sink.rdbString(k) }
        }
    }

    /// Steps over a table's slots, as `writeRDB` writes them.
    public func writeRDBStep(to sink: inout RDBPlainSink, cursor: inout Int, budget: Int) -> Bool {
        guard case .table(let t) = storage else { try! writeRDB(to: &sink); return true }
        return writeRDBSteps(to: &sink, cursor: &cursor, budget: budget, length: t.count) { sink, from, limit in
            t.forEach(from: from, limit: limit) { k, _ in sink.rdbString(k) }
        }
    }

    /// Reads a set of RDB type 2, 11 or 20, validated as Redis's deep sanitization does (no
    /// duplicate member, an intset sorted at a known width), in the encoding Redis 7.0 would
    /// choose. An empty set reads as an empty value, which the loader skips.
    public static func readRDB<S: RDBItemSource & ~Copyable>(type: UInt8, from src: inout S) throws -> SetValue {
        switch type {
        case rdbTypeSet:
            let n = try src.rdbCount()
            let s = SetValue()
            if n > SetLimits.entries { s.storage = .table(ByteStringTable(minimumCapacity: n)) }
            for _ in 0..<n {
                let m = try src.rdbString()
                let added = m.withUnsafeBytes { s.add($0) }
                guard added else { throw src.rdbCorrupt("Duplicate set members detected") }
            }
            return s
        case rdbTypeIntset:
            let blob = try src.rdbString()
            guard Intset.isValid(blob) else { throw src.rdbCorrupt("Intset integrity check failed.") }
            let s = SetValue(intset: Intset(validated: blob))
            if s.count > SetLimits.entries { s.convertToTable() }
            return s
        case rdbTypeListpack:
            let blob = try src.rdbString()
            guard let lp = blob.withUnsafeBytes({ Listpack.copy(of: $0) }) else {
                throw src.rdbCorrupt("Set listpack integrity check failed.")
            }
            defer { free(lp) }
            // No listpack encoding in 7.0: an intset if every member is an integer and they
            // fit, else a table.
            let s = SetValue()
            var p = Listpack.first(lp)
            var duplicate = false
            while let e = p {
                Listpack.withBytes(lp, e) { if !s.add($0) { duplicate = true } }
                if duplicate { break }
                p = Listpack.next(lp, e)
            }
            guard !duplicate else { throw src.rdbCorrupt("Set listpack integrity check failed.") }
            return s
        default:
            throw src.rdbCorrupt("Unknown set encoding \(type)")
        }
    }
}
