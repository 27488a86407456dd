import CShim

/// A hash as a value type: TYPE "hash", OBJECT ENCODING "listpack" or "hashtable", RDB
/// types 4, 9, 13, 16 read and 16 or 4 written (Redis 7.0), its digest and memory estimate.
extension Hash: ValueType {
    public static var typeName: String { "hash" }
    public static var rdbTypesRead: [UInt8] { [rdbTypeHash, rdbTypeZipmap, rdbTypeZiplist, rdbTypeListpack] }

    public var encodingName: String { isListpack ? "listpack" : "hashtable" }
    public var rdbType: UInt8 { isListpack ? Hash.rdbTypeListpack : Hash.rdbTypeHash }
    public var isEmptyCollection: Bool { count == 0 }

    /// The object and its listpack block, or the table's index and arena (Redis's
    /// objectComputeSize counts the listpack's bytes, or the dict's entries and strings).
    public var memoryUsage: Int {
        switch storage {
        case .listpack(let lp):
            // A listpack its entry keeps has no object of its own.
            return (ownsStorage ? MemoryLayout<Hash>.size + 16 : 0) + vk_malloc_usable_size(lp)
        case .table(let t): return MemoryLayout<Hash>.size + 16 + t.memoryUsage
        }
    }

    /// OBJ_HASH (4), then per field-value pair an element digest of the field and the value
    /// mixed in turn, XORed in (xorObjectDigest: the order of fields does not matter).
    public func digest<D: ValueDigest>(into digest: inout D) {
        digest.mix(bigEndian: 4)
        forEach { f, v in
            digest.xorElement { e in
                e.mix(f)
                e.mix(v)
            }
        }
    }

    /// HMSET, 64 pairs a command (rewriteHashObject).
    public func writeRewriteCommands(key: UnsafeRawBufferPointer, to out: inout RewriteCommands) {
        var batch = RewriteCommands.Batch("HMSET", key: key, items: count, width: 2)
        forEach { f, v in
            batch.item(&out)
            out.bulk(f)
            out.bulk(v)
        }
    }

    public func duplicate() -> Hash {
        switch storage {
        case .listpack(let lp):
            let copy = Listpack.copy(of: Listpack.bytes(lp))!
            return Hash(listpack: copy, count: count)
        case .table(let t):
            return Hash(table: t.copy())
        }
    }
}
