/// A map from 64-bit ids or hashes (never bytes a client chooses) to non-negative Ints:
/// the lock tables' "which slot holds this request / this key's queue". Open addressing
/// with linear probing in two flat arrays, Fibonacci hashing and backward-shift deletion
/// (no tombstones). A lookup is a multiply, a shift and usually one probe, ~15
/// instructions against ~60 for a Dictionary with IDKey; insert and remove never allocate
/// unless the table grows. Written here because no package we use has an integer-keyed
/// open-addressing table, and the cross-shard path makes ~25 of these steps per
/// transaction.
public struct SlotMap {
    private var keys: [UInt64]
    /// -1 marks an empty cell.
    private var values: [Int]
    private var shift: UInt64
    public private(set) var count = 0

    public init() {
        keys = Array(repeating: 0, count: 16)
        values = Array(repeating: -1, count: 16)
        shift = 60
    }

    @inlinable public var isEmpty: Bool { count == 0 }

    @inline(__always) private var mask: Int { values.count - 1 }

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
    public mutating func set(_ key: UInt64, _ value: Int) {
        precondition(value >= 0, "SlotMap holds non-negative values")
        var i = cell(of: key)
        if values[i] < 0 {
            if (count + 1) * 4 > values.count * 3 {
                grow()
                i = cell(of: key)
            }
            keys[i] = key
            count += 1
        }
        values[i] = value
    }

    @discardableResult
    public mutating func removeValue(forKey key: UInt64) -> Int? {
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

    public mutating func removeAll() {
        guard count > 0 else { return }
        for i in values.indices { values[i] = -1 }
        count = 0
    }

    private mutating func grow() {
        let oldKeys = keys
        let oldValues = values
        keys = Array(repeating: 0, count: oldValues.count * 2)
        values = Array(repeating: -1, count: oldValues.count * 2)
        shift -= 1
        for i in oldValues.indices where oldValues[i] >= 0 {
            let c = cell(of: oldKeys[i])
            keys[c] = oldKeys[i]
            values[c] = oldValues[i]
        }
    }
}
