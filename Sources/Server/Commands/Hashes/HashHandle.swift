import RESP
import Shards
import Values

/// A hash key's value as the hash commands read and write it: the listpack its entry keeps
/// itself (a small hash: `Entry.isInlineHash`, no `Hash` object), or its `Hash` object. An
/// inline hash that must leave the listpack, or grows past `Hash.inlineMaxPairs`, gets an
/// object in its entry (`promote`); the entry block itself never moves.
struct HashHandle {
    let entry: Entry
    /// nil while the entry keeps the listpack.
    private(set) var object: Hash?

    init(entry: Entry, object: Hash?) {
        self.entry = entry
        self.object = object
    }

    var count: Int { object?.count ?? ListpackHash.headerPairCount(entry.inlineListpack) }
    var isListpack: Bool { object?.isListpack ?? true }
    var table: ByteStringTable? { object?.table }

    func contains(_ field: UnsafeRawBufferPointer) -> Bool {
        if let object { return object.contains(field) }
        return ListpackHash.find(entry.inlineListpack, field) != nil
    }

    func withValue<R>(_ field: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        if let object { return try object.withValue(field, body) }
        return try ListpackHash.withValue(entry.inlineListpack, field, body)
    }

    func valueLength(_ field: UnsafeRawBufferPointer) -> Int {
        if let object { return object.valueLength(field) }
        return ListpackHash.valueLength(entry.inlineListpack, field)
    }

    func forEach(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) rethrows {
        if let object { return try object.forEach(body) }
        try ListpackHash.forEach(entry.inlineListpack, body)
    }

    func randomPair(using rng: inout FastRandom, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        if let object { return object.randomPair(using: &rng, body) }
        ListpackHash.randomPair(entry.inlineListpack, count: count, using: &rng, body)
    }

    func pairOffsets() -> [(field: Int, value: Int)] {
        if let object { return object.pairOffsets() }
        return ListpackHash.pairOffsets(entry.inlineListpack, count: count)
    }

    func withPair(listpackField f: Int, value v: Int, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        if let object { return object.withPair(listpackField: f, value: v, body) }
        ListpackHash.withPair(entry.inlineListpack, field: f, value: v, body)
    }

    // MARK: Writing

    /// hashTypeSet (see `Hash.set`): true if the field is new.
    @discardableResult
    mutating func set(_ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool {
        if object == nil && (field.count > HashLimits.value || value.count > HashLimits.value) { promote() }
        if let object { return object.set(field, value) }
        var lp = entry.inlineListpack
        let added = ListpackHash.set(&lp, field, value)
        entry.inlineListpack = lp
        if added {
            let n = ListpackHash.headerPairCount(lp)
            if n > HashLimits.entries {
                promote()
                object!.convertToTable()
            } else if n >= Hash.inlineMaxPairs {
                promote()
            }
        }
        return added
    }

    /// hashTypeDelete: true if `field` was there.
    @discardableResult
    func remove(_ field: UnsafeRawBufferPointer) -> Bool {
        if let object { return object.remove(field) }
        var lp = entry.inlineListpack
        let removed = ListpackHash.remove(&lp, field)
        entry.inlineListpack = lp
        return removed
    }

    /// hashTypeTryConversion (see `Hash.convertIfNeeded`).
    mutating func convertIfNeeded(longest: Int, total: Int) {
        if object == nil && ListpackHash.mustConvert(entry.inlineListpack, longest: longest, total: total) {
            promote()
            object!.convertToTable()
        } else {
            object?.convertIfNeeded(longest: longest, total: total)
        }
    }

    /// The entry's listpack handed to a `Hash` object the entry holds from now on.
    private mutating func promote() {
        let lp = entry.inlineListpack
        let h = Hash(listpack: lp, count: ListpackHash.headerPairCount(lp))
        entry.replaceInlineHash(with: h)
        object = h
    }
}
