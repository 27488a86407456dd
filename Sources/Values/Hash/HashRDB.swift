#if canImport(Glibc)
import Glibc
#endif

// A hash's RDB object encodings (Redis 7.0's rdbSaveObject / rdbLoadObject for OBJ_HASH).

extension Hash {
    public static let rdbTypeHash: UInt8 = 4        // RDB_TYPE_HASH: length, then field and value strings
    public static let rdbTypeZipmap: UInt8 = 9      // RDB_TYPE_HASH_ZIPMAP (Redis < 2.6)
    public static let rdbTypeZiplist: UInt8 = 13    // RDB_TYPE_HASH_ZIPLIST (Redis < 7.0)
    public static let rdbTypeListpack: UInt8 = 16   // RDB_TYPE_HASH_LISTPACK (Redis 7.0)

    // MARK: Writing

    /// As Redis 7.0: a listpack hash is its listpack's bytes as one string (type 16), a
    /// table is its length then each field and value (type 4).
    public func writeRDB<S: RDBItemSink>(to sink: inout S) throws {
        switch storage {
        case .listpack(let lp):
            try sink.rdbString(Listpack.bytes(lp))
        case .table(let t):
            try sink.rdbLength(UInt64(t.count))
            try t.forEach { f, v in
                try sink.rdbString(f)
                try sink.rdbString(v ?? UnsafeRawBufferPointer(start: nil, count: 0))
            }
        }
    }

    /// Steps over a table's slots, as `writeRDB` writes them.
    public func writeRDBStep(to sink: inout RDBPlainSink, cursor: inout Int, budget: Int) -> Bool {
        guard case .table(let t) = storage else { try! writeRDB(to: &sink); return true }
        return writeRDBSteps(to: &sink, cursor: &cursor, budget: budget, length: t.count) { sink, from, limit in
            t.forEach(from: from, limit: limit) { f, v in
                sink.rdbString(f)
                sink.rdbString(v ?? UnsafeRawBufferPointer(start: nil, count: 0))
            }
        }
    }

    // MARK: Reading

    /// Reads a hash of RDB type 4, 9, 13 or 16, validated as Redis's deep sanitization does
    /// (every listpack/ziplist/zipmap byte, an even element count, no duplicate field) and
    /// converted to the encoding Redis 7.0 would choose. An empty hash reads as an empty
    /// value (`isEmpty`), which the loader skips as Redis skips an empty key.
    public static func readRDB<S: RDBItemSource & ~Copyable>(type: UInt8, from src: inout S) throws -> Hash {
        switch type {
        case rdbTypeHash:
            return try readPairs(from: &src)
        case rdbTypeListpack:
            let blob = try src.rdbString()
            guard let lp = blob.withUnsafeBytes({ Listpack.copy(of: $0) }) else {
                throw src.rdbCorrupt("Hash listpack integrity check failed.")
            }
            let elements = Listpack.countElements(lp)
            let h = Hash(listpack: lp, count: elements / 2)  // frees `lp` on a throw
            guard elements % 2 == 0, !h.hasDuplicateFields() else {
                throw src.rdbCorrupt("Hash listpack integrity check failed.")
            }
            if h.count > HashLimits.entries { h.convertToTable() }
            return h
        case rdbTypeZiplist:
            let blob = try src.rdbString()
            guard let elements = LegacyEncodings.ziplistElements(blob), elements.count % 2 == 0 else {
                throw src.rdbCorrupt("Hash ziplist integrity check failed.")
            }
            let h = fromElements(elements)
            guard !h.hasDuplicateFields() else { throw src.rdbCorrupt("Hash ziplist integrity check failed.") }
            if h.count > HashLimits.entries { h.convertToTable() }
            return h
        case rdbTypeZipmap:
            let blob = try src.rdbString()
            guard let pairs = LegacyEncodings.zipmapPairs(blob) else {
                throw src.rdbCorrupt("Zipmap integrity check failed.")
            }
            var elements: [[UInt8]] = []
            var longest = 0
            for (f, v) in pairs {
                elements.append(f); elements.append(v)
                longest = max(longest, f.count, v.count)
            }
            let h = fromElements(elements)
            guard !h.hasDuplicateFields() else { throw src.rdbCorrupt("Hash zipmap with dup elements") }
            if h.count > HashLimits.entries || longest > HashLimits.value { h.convertToTable() }
            return h
        default:
            throw src.rdbCorrupt("Unknown hash encoding \(type)")
        }
    }

    /// Type 4: a listpack while the count and lengths allow (Redis starts with a table when
    /// the count is over the limit, and converts at the first long field or value).
    private static func readPairs<S: RDBItemSource & ~Copyable>(from src: inout S) throws -> Hash {
        let n = try src.rdbCount()
        let h = Hash()
        if n > HashLimits.entries { h.convertToTable() }
        for _ in 0..<n {
            let f = try src.rdbString()
            let v = try src.rdbString()
            if h.isListpack, case .listpack(let lp) = h.storage,
               Listpack.totalBytes(lp) + f.count + v.count > HashLimits.listpackSafetySize {
                h.convertToTable()
            }
            let added = f.withUnsafeBytes { fb in v.withUnsafeBytes { vb in h.set(fb, vb) } }
            guard added else { throw src.rdbCorrupt("Duplicate hash fields detected") }
        }
        return h
    }

    /// A listpack hash of the given elements (field, value, field, value...).
    private static func fromElements(_ elements: [[UInt8]]) -> Hash {
        var enc: [UInt8] = []
        for e in elements { e.withUnsafeBytes { Listpack.encode(string: $0, into: &enc) } }
        var lp = Listpack.new(capacity: Listpack.headerSize + 1 + enc.count)
        Listpack.append(&lp, encoded: enc, count: elements.count)
        return Hash(listpack: lp, count: elements.count / 2)
    }

    /// True if a field appears twice (a loaded listpack is not trusted).
    private func hasDuplicateFields() -> Bool {
        var seen = Set<[UInt8]>()
        var duplicate = false
        forEach { f, _ in if !seen.insert(Array(f)).inserted { duplicate = true } }
        return duplicate
    }
}
