import Synchronization

/// When a set leaves the intset encoding (`set-max-intset-entries`): the server publishes
/// its live setting here; commands and the RDB loader read it.
public enum SetLimits {
    public static let maxIntsetEntries = Atomic<Int>(512)
    /// Capped at 2^30 entries as Redis caps it (an intset's length is 32 bits).
    public static var entries: Int { min(maxIntsetEntries.load(ordering: .relaxed), 1 << 30) }
}

/// A set (Redis's OBJ_SET) in one of Redis 7.0's two encodings: an `Intset` while every
/// member is an integer (as string2ll reads one) and there are at most
/// `set-max-intset-entries`, else a `ByteStringTable` of keys without values. The
/// conversion happens in one place (`convertToTable`, setTypeConvert) and only one way.
public final class SetValue {
    enum Storage {
        case intset(Intset)
        case table(ByteStringTable)
    }
    var storage: Storage

    /// Stands in while an intset is mutated out of `storage` (no copy of its bytes).
    private static let placeholder = Intset()

    /// An empty intset set (createIntsetObject).
    public init() { storage = .intset(Intset()) }
    init(intset: Intset) { storage = .intset(intset) }
    init(table: ByteStringTable) { storage = .table(table) }

    /// An empty set in the hashtable encoding, sized for `capacity` members (a copy of a
    /// table-encoded set, built without growing on the way).
    public static func table(capacity: Int) -> SetValue {
        SetValue(table: ByteStringTable(minimumCapacity: capacity))
    }

    /// setTypeCreate: an intset if `first` (the first member to be added) is an integer.
    public static func create(for first: UnsafeRawBufferPointer) -> SetValue {
        if integer(first) != nil { return SetValue() }
        return SetValue(table: ByteStringTable())
    }

    public var count: Int {
        switch storage {
        case .intset(let s): return s.count
        case .table(let t): return t.count
        }
    }

    public var isIntset: Bool {
        if case .intset = storage { return true }
        return false
    }

    /// The table, when the set is in the hashtable encoding.
    public var table: ByteStringTable? {
        if case .table(let t) = storage { return t }
        return nil
    }

    /// Redis's string2ll: an optional '-', digits without a leading zero (just "0" alone),
    /// fitting in 64 bits; nothing else (no '+', no spaces, no "-0").
    public static func integer(_ b: UnsafeRawBufferPointer) -> Int64? {
        let n = b.count
        guard n > 0, n <= 20 else { return nil }
        if n == 1, b[0] == UInt8(ascii: "0") { return 0 }
        var i = 0
        let negative = b[0] == UInt8(ascii: "-")
        if negative { i = 1; guard n > 1 else { return nil } }
        guard b[i] >= UInt8(ascii: "1"), b[i] <= UInt8(ascii: "9") else { return nil }
        var v: UInt64 = 0
        while i < n {
            let d = b[i] &- UInt8(ascii: "0")
            guard d <= 9 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d))
            guard !o1, !o2 else { return nil }
            v = s
            i += 1
        }
        if negative {
            guard v <= UInt64(Int64.max) + 1 else { return nil }
            return v == UInt64(Int64.max) + 1 ? Int64.min : -Int64(v)
        }
        guard v <= UInt64(Int64.max) else { return nil }
        return Int64(v)
    }

    /// Calls `body` with an integer member's decimal text (formatted on the stack: no
    /// allocation per member when an intset is read out).
    @inline(__always)
    static func withText<R>(_ v: Int64, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeTemporaryAllocation(byteCount: 20, alignment: 1) { buf in
            var u = v.magnitude
            var i = 20
            repeat {
                i -= 1
                buf[i] = UInt8(truncatingIfNeeded: 48 + u % 10)
                u /= 10
            } while u > 0
            if v < 0 { i -= 1; buf[i] = UInt8(ascii: "-") }
            return try body(UnsafeRawBufferPointer(rebasing: buf[i..<20]))
        }
    }

    // MARK: Encoding conversion

    /// setTypeConvert(OBJ_ENCODING_HT): the intset's members into a table.
    public func convertToTable() {
        guard case .intset(let s) = storage else { return }
        let t = ByteStringTable(minimumCapacity: s.count)
        for i in 0..<s.count { SetValue.withText(s.value(at: i)) { _ = t.insert($0, value: nil) } }
        storage = .table(t)
    }

    // MARK: Reading

    public func contains(_ member: UnsafeRawBufferPointer) -> Bool {
        switch storage {
        case .intset(let s):
            guard let v = SetValue.integer(member) else { return false }
            return s.contains(v)
        case .table(let t): return t.find(member) != nil
        }
    }

    /// Calls `body` with every member (intset: ascending).
    public func forEach(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        switch storage {
        case .intset(let s):
            for i in 0..<s.count { try SetValue.withText(s.value(at: i)) { try body($0) } }
        case .table(let t):
            try t.forEach { k, _ in try body(k) }
        }
    }

    /// `forEach` in the order members lie in memory where that is quicker (a table's records
    /// in its arena, not its slots' scattered order): for a copy, whose order does not matter.
    public func forEachInStorageOrder(_ body: (UnsafeRawBufferPointer) -> Void) {
        switch storage {
        case .intset: forEach(body)
        case .table(let t): t.forEachInArenaOrder { k, _ in body(k) }
        }
    }

    /// Every member as bytes (for the commands that pick among them or work on a copy).
    public func members() -> [[UInt8]] {
        var out: [[UInt8]] = []
        out.reserveCapacity(count)
        forEach { out.append(Array($0)) }
        return out
    }

    /// One member chosen uniformly at random (count > 0).
    public func randomMember<R>(using rng: inout FastRandom, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        switch storage {
        case .intset(let s):
            return SetValue.withText(s.value(at: rng.below(s.count))) { body($0) }
        case .table(let t):
            return body(t.key(t.randomHandle(using: &rng)!))
        }
    }

    /// SPOP of one: removes a member chosen uniformly at random (count > 0), after calling
    /// `body` with it. No copy of the member and no second lookup of it.
    public func popRandom(using rng: inout FastRandom, _ body: (UnsafeRawBufferPointer) -> Void) {
        switch storage {
        case .intset(var s):
            let i = rng.below(s.count)
            let v = s.value(at: i)
            SetValue.withText(v) { body($0) }
            storage = .intset(SetValue.placeholder)  // leave `s` uniquely referenced while it changes
            s.remove(v)
            storage = .intset(s)
        case .table(let t):
            let h = t.randomHandle(using: &rng)!
            body(t.key(h))
            t.remove(handle: h)
        }
    }

    // MARK: Writing

    /// setTypeAdd: true if `member` is new. A non-integer member converts an intset to a
    /// table first; passing `set-max-intset-entries` converts after.
    @discardableResult
    public func add(_ member: UnsafeRawBufferPointer) -> Bool {
        switch storage {
        case .intset(var s):
            if let v = SetValue.integer(member) {
                storage = .intset(SetValue.placeholder)  // leave `s` uniquely referenced while it changes
                let added = s.add(v)
                storage = .intset(s)
                if added && s.count > SetLimits.entries { convertToTable() }
                return added
            }
            convertToTable()
            return table!.insert(member, value: nil)
        case .table(let t):
            return t.insert(member, value: nil)
        }
    }

    /// setTypeRemove: true if `member` was there.
    @discardableResult
    public func remove(_ member: UnsafeRawBufferPointer) -> Bool {
        switch storage {
        case .intset(var s):
            guard let v = SetValue.integer(member) else { return false }
            storage = .intset(SetValue.placeholder)
            let removed = s.remove(v)
            storage = .intset(s)
            return removed
        case .table(let t):
            return t.remove(member)
        }
    }
}
