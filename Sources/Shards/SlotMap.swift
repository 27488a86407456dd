/// A map from 64-bit ids or hashes (never bytes a client chooses) to non-negative Ints:
/// the lock tables' "which slot holds this request / this key's queue". Open addressing
/// with linear probing in two flat buffers, Fibonacci hashing and backward-shift deletion
/// (no tombstones). A lookup is a multiply, a shift and usually one probe, ~15
/// instructions against ~60 for a Dictionary with IDKey; insert and remove never allocate
/// unless the table grows. Written here because no package we use has an integer-keyed
/// open-addressing table, and the cross-shard path makes ~25 of these steps per
/// transaction. A class over buffers of its own, not a struct over arrays: every write
/// to an array held in a class paid a uniqueness and a bounds check. Owned by one thread.
public final class SlotMap {
    private var keys: UnsafeMutablePointer<UInt64>
    /// -1 marks an empty cell.
    private var values: UnsafeMutablePointer<Int>
    private var capacity: Int
    private var shift: UInt64
    public private(set) var count = 0

    public init() {
        capacity = 16
        keys = .allocate(capacity: 16)
        keys.initialize(repeating: 0, count: 16)
        values = .allocate(capacity: 16)
        values.initialize(repeating: -1, count: 16)
        shift = 60
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    @inlinable public var isEmpty: Bool { count == 0 }

    @inline(__always) private var mask: Int { capacity - 1 }

    @inline(__always) private func home(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// The cell holding `key`, or the empty cell ending its probe.
    @inline(__always) private func cell(of key: UInt64) -> Int {
        var i = home(key)
        while values[i] >= 0 && keys[i] != key { i = (i + 1) & mask }
        return i
    }

    public subscript(key: UInt64) -> Int? {
        get {
            let v = values[cell(of: key)]
            return v >= 0 ? v : nil
        }
        set {
            if let v = newValue { set(key, v) } else { removeValue(forKey: key) }
        }
    }

    /// Maps `key` to `value` (which must not be negative).
    public func set(_ key: UInt64, _ value: Int) {
        precondition(value >= 0, "SlotMap holds non-negative values")
        var i = cell(of: key)
        if values[i] < 0 {
            if (count + 1) * 4 > capacity * 3 {
                grow()
                i = cell(of: key)
            }
            keys[i] = key
            count += 1
        }
        values[i] = value
    }

    @discardableResult
    public func removeValue(forKey key: UInt64) -> Int? {
        var hole = cell(of: key)
        let old = values[hole]
        guard old >= 0 else { return nil }
        // Pull back every later entry of the run whose probe passed over the hole.
        var j = (hole + 1) & mask
        while values[j] >= 0 {
            let fromHome = (j - home(keys[j])) & mask
            let fromHole = (j - hole) & mask
            if fromHole <= fromHome {
                keys[hole] = keys[j]
                values[hole] = values[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        values[hole] = -1
        count -= 1
        return old
    }

    public func removeAll() {
        guard count > 0 else { return }
        values.update(repeating: -1, count: capacity)
        count = 0
    }

    private func grow() {
        let oldKeys = keys, oldValues = values, oldCapacity = capacity
        capacity *= 2
        keys = .allocate(capacity: capacity)
        keys.initialize(repeating: 0, count: capacity)
        values = .allocate(capacity: capacity)
        values.initialize(repeating: -1, count: capacity)
        shift -= 1
        for i in 0..<oldCapacity where oldValues[i] >= 0 {
            let c = cell(of: oldKeys[i])
            keys[c] = oldKeys[i]
            values[c] = oldValues[i]
        }
        oldKeys.deallocate()
        oldValues.deallocate()
    }
}
