import CShim
import RESP
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// When a hash leaves the listpack encoding (`hash-max-listpack-entries`, `-value`): the
/// server publishes its live settings here; commands and the RDB loader read them.
public enum HashLimits {
    public static let maxListpackEntries = Atomic<Int>(512)  // Redis 7.0's built-in default (redis.conf ships 128)
    public static let maxListpackValue = Atomic<Int>(64)
    /// Redis's LISTPACK_MAX_SAFETY_SIZE (lpSafeToAdd): a listpack never grows past 1 GB.
    public static let listpackSafetySize = 1 << 30

    public static var entries: Int { maxListpackEntries.load(ordering: .relaxed) }
    public static var value: Int { maxListpackValue.load(ordering: .relaxed) }
}

/// The listpack encoding's operations (field, value, field, value... in insertion order),
/// shared by `Hash` and by the small hashes whose listpack the key's entry keeps itself
/// (Shards' `Entry.isInlineHash`: no Hash object, 32 bytes less per hash).
public enum ListpackHash {
    /// Calls `body` with the offsets of each field and its value.
    @inline(__always)
    public static func forEachPair(_ lp: UnsafeRawPointer, _ body: (Int, Int) -> Void) {
        var p = Listpack.first(lp)
        while let f = p, let v = Listpack.next(lp, f) {
            body(f, v)
            p = Listpack.next(lp, v)
        }
    }

    /// The offset of `field` in the listpack (the value is the next element).
    public static func find(_ lp: UnsafeRawPointer, _ field: UnsafeRawBufferPointer) -> Int? {
        var p = Listpack.first(lp)
        while let f = p, let v = Listpack.next(lp, f) {
            if Listpack.equals(lp, f, field) { return f }
            p = Listpack.next(lp, v)
        }
        return nil
    }

    /// Pairs, from the header's element count: exact while under 65535 elements (inline
    /// hashes are kept below; `Hash` counts its own).
    @inline(__always) public static func headerPairCount(_ lp: UnsafeRawPointer) -> Int { Listpack.storedCount(lp) / 2 }

    /// Calls `body` with the value of `field` (nil if absent).
    public static func withValue<R>(_ lp: UnsafeRawPointer, _ field: UnsafeRawBufferPointer,
                                    _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        guard let f = find(lp, field) else { return try body(nil) }
        return try Listpack.withBytes(lp, Listpack.next(lp, f)!) { try body($0) }
    }

    /// The length of `field`'s value (HSTRLEN), 0 if absent.
    public static func valueLength(_ lp: UnsafeRawPointer, _ field: UnsafeRawBufferPointer) -> Int {
        guard let f = find(lp, field) else { return 0 }
        return Listpack.textLength(lp, Listpack.next(lp, f)!)
    }

    /// Calls `body` with every field and value, in insertion order.
    public static func forEach(_ lp: UnsafeRawPointer,
                               _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) rethrows {
        var p = Listpack.first(lp)
        while let f = p, let v = Listpack.next(lp, f) {
            try Listpack.withBytes(lp, f) { fb in try Listpack.withBytes(lp, v) { vb in try body(fb, vb) } }
            p = Listpack.next(lp, v)
        }
    }

    /// Replaces `field`'s value or appends the pair (no conversion: the caller decides);
    /// true if the field is new. The listpack may move.
    public static func set(_ lp: inout UnsafeMutableRawPointer, _ field: UnsafeRawBufferPointer,
                           _ value: UnsafeRawBufferPointer) -> Bool {
        if let f = find(lp, field) {
            Listpack.replace(&lp, at: Listpack.next(lp, f)!, withString: value)
            return false
        }
        var enc: [UInt8] = []
        Listpack.encode(string: field, into: &enc)
        Listpack.encode(string: value, into: &enc)
        Listpack.append(&lp, encoded: enc, count: 2)
        return true
    }

    /// Removes `field` and its value; true if it was there. The listpack may move.
    public static func remove(_ lp: inout UnsafeMutableRawPointer, _ field: UnsafeRawBufferPointer) -> Bool {
        guard let f = find(lp, field) else { return false }
        Listpack.delete(&lp, at: f, elements: 2)
        return true
    }

    /// hashTypeTryConversion's test: a write of arguments this long (the longest, and all
    /// together) needs the table encoding first.
    public static func mustConvert(_ lp: UnsafeRawPointer, longest: Int, total: Int) -> Bool {
        longest > HashLimits.value || Listpack.totalBytes(lp) + total > HashLimits.listpackSafetySize
    }

    /// One of the `count` pairs chosen uniformly at random (count > 0).
    public static func randomPair(_ lp: UnsafeRawPointer, count: Int, using rng: inout FastRandom,
                                  _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        var p = Listpack.first(lp)!
        for _ in 0..<(rng.below(count) * 2) { p = Listpack.next(lp, p)! }
        let v = Listpack.next(lp, p)!
        Listpack.withBytes(lp, p) { fb in Listpack.withBytes(lp, v) { vb in body(fb, vb) } }
    }

    /// The pairs' offsets (for sampling many pairs without walking each time).
    public static func pairOffsets(_ lp: UnsafeRawPointer, count: Int) -> [(field: Int, value: Int)] {
        var out: [(Int, Int)] = []
        out.reserveCapacity(count)
        forEachPair(lp) { out.append(($0, $1)) }
        return out
    }

    /// Calls `body` with the pair at offsets from `pairOffsets`.
    public static func withPair(_ lp: UnsafeRawPointer, field f: Int, value v: Int,
                                _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        Listpack.withBytes(lp, f) { fb in Listpack.withBytes(lp, v) { vb in body(fb, vb) } }
    }

    /// hashTypeConvert's copy: the pairs into a new table.
    static func table(of lp: UnsafeRawPointer, count: Int) -> ByteStringTable {
        let t = ByteStringTable(minimumCapacity: count)
        forEachPair(lp) { f, v in
            Listpack.withBytes(lp, f) { fb in Listpack.withBytes(lp, v) { vb in _ = t.set(fb, value: vb) } }
        }
        return t
    }
}

/// A hash (Redis's OBJ_HASH) in one of Redis 7.0's two encodings: a listpack of
/// field, value, field, value... while it is small (insertion order, what an RDB type 16
/// record holds as is), a `ByteStringTable` once it has more than `hash-max-listpack-entries`
/// fields or a field or value longer than `hash-max-listpack-value`. The conversion happens
/// in one place (`convertToTable`, Redis's hashTypeConvert) and only one way. A small hash
/// stored in the keyspace has no Hash object: its entry keeps the listpack
/// (`Entry.isInlineHash`), and generic code (TYPE, RDB, DUMP, digests...) reads it through a
/// `Hash(borrowing:)` made for the occasion.
public final class Hash {
    enum Storage {
        case listpack(UnsafeMutableRawPointer)
        case table(ByteStringTable)
    }
    var storage: Storage
    /// The field count while a listpack (its header's count saturates at 65535). 32 bits
    /// hold it (a listpack stays under 1 GB) and keep the object at 32 bytes, not 48.
    private var listpackCount: UInt32 = 0
    /// False for a view of a listpack an entry owns (`init(borrowing:)`), or once an entry
    /// took the listpack (`takeListpack`): never freed or changed through this object.
    public private(set) var ownsStorage = true

    public var count: Int {
        switch storage {
        case .listpack: return Int(listpackCount)
        case .table(let t): return t.count
        }
    }

    /// A new hash: an empty listpack of its header only (the first write sizes it).
    public init() { storage = .listpack(Listpack.new(capacity: 0)) }

    public init(listpack lp: UnsafeMutableRawPointer, count: Int) {
        storage = .listpack(lp)
        listpackCount = UInt32(count)
    }

    /// A read-only view of a listpack an entry owns, valid while the entry is unchanged.
    public init(borrowing lp: UnsafeMutableRawPointer) {
        storage = .listpack(lp)
        listpackCount = UInt32(ListpackHash.headerPairCount(lp))
        ownsStorage = false
    }

    init(table: ByteStringTable) {
        storage = .table(table)
    }

    deinit {
        if ownsStorage, case .listpack(let lp) = storage { free(lp) }
    }

    /// Most pairs an entry keeps inline: the listpack header then still counts exactly.
    public static let inlineMaxPairs = 32000

    /// The listpack, handed to an entry that keeps it from now on (this object becomes a
    /// view of it), if this hash is a listpack small enough to be kept inline.
    public func takeListpack() -> UnsafeMutableRawPointer? {
        guard ownsStorage, case .listpack(let lp) = storage, count <= Hash.inlineMaxPairs else { return nil }
        ownsStorage = false
        return lp
    }

    public var isListpack: Bool {
        if case .listpack = storage { return true }
        return false
    }

    // MARK: Encoding conversion

    /// hashTypeConvert(OBJ_ENCODING_HT): the listpack's pairs into a table. The only way a
    /// hash changes encoding; never back.
    public func convertToTable() {
        guard case .listpack(let lp) = storage else { return }
        precondition(ownsStorage, "a borrowed hash is read-only")
        let t = ListpackHash.table(of: lp, count: count)
        free(lp)
        storage = .table(t)
    }

    /// hashTypeTryConversion: before a write of these field and value arguments, a long
    /// one (or a listpack about to pass 1 GB) turns the listpack into a table.
    /// `longest`: the longest argument's length; `total`: all of them together.
    public func convertIfNeeded(longest: Int, total: Int) {
        guard case .listpack(let lp) = storage else { return }
        if ListpackHash.mustConvert(lp, longest: longest, total: total) { convertToTable() }
    }

    // MARK: Reading

    public func contains(_ field: UnsafeRawBufferPointer) -> Bool {
        switch storage {
        case .listpack(let lp): return ListpackHash.find(lp, field) != nil
        case .table(let t): return t.find(field) != nil
        }
    }

    /// Calls `body` with the value of `field` (nil if absent).
    public func withValue<R>(_ field: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        switch storage {
        case .listpack(let lp):
            return try ListpackHash.withValue(lp, field, body)
        case .table(let t):
            guard let h = t.find(field) else { return try body(nil) }
            return try body(t.value(h) ?? UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }

    /// The length of `field`'s value (HSTRLEN), 0 if absent.
    public func valueLength(_ field: UnsafeRawBufferPointer) -> Int {
        switch storage {
        case .listpack(let lp):
            return ListpackHash.valueLength(lp, field)
        case .table(let t):
            guard let h = t.find(field) else { return 0 }
            return t.value(h)?.count ?? 0
        }
    }

    /// Calls `body` with every field and value (listpack: insertion order).
    public func forEach(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) rethrows {
        switch storage {
        case .listpack(let lp):
            try ListpackHash.forEach(lp, body)
        case .table(let t):
            try t.forEach { f, v in try body(f, v ?? UnsafeRawBufferPointer(start: nil, count: 0)) }
        }
    }

    // MARK: Writing

    /// hashTypeSet: stores `value` under `field`; true if the field is new. A field or value
    /// too long for the listpack converts first (the HINCRBY* path; HSET converted already),
    /// and passing the entry limit converts after.
    @discardableResult
    public func set(_ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool {
        if case .listpack = storage, field.count > HashLimits.value || value.count > HashLimits.value {
            convertToTable()
        }
        switch storage {
        case .listpack(var lp):
            precondition(ownsStorage, "a borrowed hash is read-only")
            let added = ListpackHash.set(&lp, field, value)
            storage = .listpack(lp)
            if added {
                listpackCount += 1
                if count > HashLimits.entries { convertToTable() }
            }
            return added
        case .table(let t):
            return t.set(field, value: value)
        }
    }

    /// hashTypeDelete: true if `field` was there.
    @discardableResult
    public func remove(_ field: UnsafeRawBufferPointer) -> Bool {
        switch storage {
        case .listpack(var lp):
            precondition(ownsStorage, "a borrowed hash is read-only")
            guard ListpackHash.remove(&lp, field) else { return false }
            storage = .listpack(lp)
            listpackCount -= 1
        case .table(let t):
            guard t.remove(field) else { return false }
        }
        return true
    }

    // MARK: Sampling and scanning

    /// One field-value pair chosen uniformly at random (count > 0).
    public func randomPair(using rng: inout FastRandom, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        switch storage {
        case .listpack(let lp):
            ListpackHash.randomPair(lp, count: count, using: &rng, body)
        case .table(let t):
            let h = t.randomHandle(using: &rng)!
            body(t.key(h), t.value(h) ?? UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }

    /// The listpack's pair offsets (for sampling many pairs without walking each time).
    public func pairOffsets() -> [(field: Int, value: Int)] {
        guard case .listpack(let lp) = storage else { return [] }
        return ListpackHash.pairOffsets(lp, count: count)
    }

    /// Calls `body` with the pair at listpack offsets (from `pairOffsets`), or table handle.
    public func withPair(listpackField f: Int, value v: Int,
                         _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        guard case .listpack(let lp) = storage else { return }
        ListpackHash.withPair(lp, field: f, value: v, body)
    }

    /// The table, when the hash is in the hashtable encoding.
    public var table: ByteStringTable? {
        if case .table(let t) = storage { return t }
        return nil
    }
}
