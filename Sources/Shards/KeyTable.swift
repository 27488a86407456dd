#if canImport(Glibc)
import Glibc
#endif
import CShim

/// An open-addressing hash table of `Entry` blocks (one per database per shard).
///
/// Linear probing over a control byte array (0 empty, 1 tombstone, 0x80|tag full) and a
/// parallel array of entry pointers: a lookup hashes the key once, compares one byte per
/// probed slot and touches the entry only on a tag match. Keys are looked up through
/// borrowed byte views, so a GET allocates nothing. Owned by one shard thread.
public struct KeyTable: ~Copyable {
    @usableFromInline var control: UnsafeMutablePointer<UInt8>
    @usableFromInline var slots: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    public private(set) var capacity: Int
    @usableFromInline var mask: Int
    public private(set) var count = 0
    @usableFromInline var tombstones = 0
    /// Keys with a TTL (for INFO keyspace `expires=`).
    public var expiringCount = 0

    @usableFromInline static let empty: UInt8 = 0
    @usableFromInline static let tombstone: UInt8 = 1
    static let minimumCapacity = 8

    public init(capacity: Int = 8) {
        var c = KeyTable.minimumCapacity
        while c < capacity { c <<= 1 }
        self.capacity = c
        mask = c - 1
        control = .allocate(capacity: c)
        control.initialize(repeating: 0, count: c)
        slots = .allocate(capacity: c)
        slots.initialize(repeating: nil, count: c)
    }

    deinit {
        control.deallocate()
        slots.deallocate()
    }

    @inlinable @inline(__always) static func tag(_ hash: UInt32) -> UInt8 { UInt8(truncatingIfNeeded: hash >> 25) | 0x80 }

    /// Table hash of a key (low 32 bits of the key hash).
    @inlinable public static func hash(_ key: UnsafeRawBufferPointer) -> UInt32 {
        UInt32(truncatingIfNeeded: KeyHash.hash(key))
    }

    /// Slot holding `key`, or nil.
    @inlinable public func find(_ key: UnsafeRawBufferPointer, hash: UInt32) -> Int? {
        let t = KeyTable.tag(hash)
        var i = Int(hash) & mask
        while true {
            let c = control[i]
            if c == KeyTable.empty { return nil }
            if c == t {
                let e = Entry(raw: slots[i].unsafelyUnwrapped)
                if e.hash == hash && e.keyEquals(key) { return i }
            }
            i = (i + 1) & mask
        }
    }

    @inlinable public func entry(at slot: Int) -> Entry { Entry(raw: slots[slot].unsafelyUnwrapped) }

    /// Prefetch, first step: the control byte and slot a lookup of `hash` reads first.
    @inlinable @inline(__always) public func prefetchHome(hash: UInt32) {
        let i = Int(hash) & mask
        vk_prefetch(control + i)
        vk_prefetch(slots + i)
    }

    /// Prefetch, second step (once the first has had time): the entry in that slot, if its
    /// tag matches (a key elsewhere in the probe sequence is found without the head start).
    @inlinable @inline(__always) public func prefetchEntry(hash: UInt32) {
        let i = Int(hash) & mask
        if control[i] == KeyTable.tag(hash), let entry = slots[i] { vk_prefetch(entry) }
    }

    /// Puts `entry` in the slot of an existing key (same key bytes).
    @inlinable public mutating func replace(at slot: Int, with entry: Entry) { slots[slot] = entry.raw }

    /// Inserts an entry whose key is not in the table.
    public mutating func insertNew(_ entry: Entry) {
        if (count + tombstones + 1) * 4 > capacity * 3 { rehash(for: count + 1) }
        place(entry)
        count += 1
    }

    private mutating func place(_ entry: Entry) {
        let h = entry.hash
        var i = Int(h) & mask
        while control[i] > KeyTable.tombstone { i = (i + 1) & mask }
        if control[i] == KeyTable.tombstone { tombstones -= 1 }
        control[i] = KeyTable.tag(h)
        slots[i] = entry.raw
    }

    /// Removes the entry at `slot` and returns it (the caller frees or retires it).
    @discardableResult
    public mutating func remove(at slot: Int) -> Entry {
        let e = Entry(raw: slots[slot]!)
        // A slot followed by an empty one ends no probe chain: it can become empty again.
        if control[(slot + 1) & mask] == KeyTable.empty {
            control[slot] = KeyTable.empty
            var j = (slot - 1) & mask
            while control[j] == KeyTable.tombstone {
                control[j] = KeyTable.empty
                tombstones -= 1
                j = (j - 1) & mask
            }
        } else {
            control[slot] = KeyTable.tombstone
            tombstones += 1
        }
        slots[slot] = nil
        count -= 1
        if capacity > 64 && count * 16 < capacity { rehash(for: count) }
        return e
    }

    /// Rebuilds the table with room for `needed` entries at under half load, dropping tombstones.
    /// Rebuilds so far (a snapshot walking the slots restarts its walk after one).
    public private(set) var rehashes = 0

    /// The entry in slot `i` (0..<capacity), if the slot holds one.
    @inlinable public func entry(inSlot i: Int) -> Entry? {
        control[i] > KeyTable.tombstone ? Entry(raw: slots[i].unsafelyUnwrapped) : nil
    }

    private mutating func rehash(for needed: Int) {
        rehashes &+= 1
        var newCapacity = KeyTable.minimumCapacity
        while newCapacity < needed * 2 { newCapacity <<= 1 }
        let oldControl = control, oldSlots = slots, oldCapacity = capacity
        capacity = newCapacity
        mask = newCapacity - 1
        control = .allocate(capacity: newCapacity)
        control.initialize(repeating: 0, count: newCapacity)
        slots = .allocate(capacity: newCapacity)
        slots.initialize(repeating: nil, count: newCapacity)
        tombstones = 0
        for i in 0..<oldCapacity where oldControl[i] > KeyTable.tombstone {
            place(Entry(raw: oldSlots[i]!))
        }
        oldControl.deallocate()
        oldSlots.deallocate()
    }

    /// Removes every entry, handing each to `body` (to free or retire), and shrinks the table.
    public mutating func removeAll(_ body: (Entry) -> Void) {
        for i in 0..<capacity where control[i] > KeyTable.tombstone { body(Entry(raw: slots[i]!)) }
        self = KeyTable()
    }

    public func forEach(_ body: (Entry) -> Void) {
        for i in 0..<capacity where control[i] > KeyTable.tombstone { body(Entry(raw: slots[i]!)) }
    }

    /// Visits the entries whose home bucket is the one `cursor` names and returns the
    /// next cursor (0 when done). Redis's reverse-binary cursor over home buckets: an
    /// entry present for the whole scan is visited at least once even if the table is
    /// resized between calls. With linear probing, a bucket's entries lie in the run of
    /// non-empty slots that starts at the bucket.
    public func scan(cursor: UInt64, _ body: (Entry) -> Void) -> UInt64 {
        guard count > 0 else { return 0 }
        let m = UInt64(mask)
        let bucket = Int(cursor & m)
        var i = bucket
        while control[i] != KeyTable.empty {
            if control[i] > KeyTable.tombstone {
                let e = Entry(raw: slots[i]!)
                if Int(e.hash) & mask == bucket { body(e) }
            }
            i = (i + 1) & mask
            if i == bucket { break }
        }
        var v = cursor | ~m
        v = UInt64(v.bitReversed)
        v &+= 1
        return v.bitReversed
    }

    /// A uniformly chosen slot's entry, or nil if empty.
    public func randomEntry<G: RandomNumberGenerator>(using generator: inout G) -> Entry? {
        guard count > 0 else { return nil }
        for _ in 0..<64 {
            let i = Int.random(in: 0..<capacity, using: &generator)
            if control[i] > KeyTable.tombstone { return Entry(raw: slots[i]!) }
        }
        var i = Int.random(in: 0..<capacity, using: &generator)
        while control[i] <= KeyTable.tombstone { i = (i + 1) & mask }
        return Entry(raw: slots[i]!)
    }

    /// Bytes used by the table's own arrays.
    public var overheadBytes: Int { capacity * (1 + MemoryLayout<UnsafeMutableRawPointer>.size) }
}

extension UInt64 {
    @inlinable var bitReversed: UInt64 {
        var v = self
        v = ((v >> 1) & 0x5555_5555_5555_5555) | ((v & 0x5555_5555_5555_5555) << 1)
        v = ((v >> 2) & 0x3333_3333_3333_3333) | ((v & 0x3333_3333_3333_3333) << 2)
        v = ((v >> 4) & 0x0F0F_0F0F_0F0F_0F0F) | ((v & 0x0F0F_0F0F_0F0F_0F0F) << 4)
        v = ((v >> 8) & 0x00FF_00FF_00FF_00FF) | ((v & 0x00FF_00FF_00FF_00FF) << 8)
        v = ((v >> 16) & 0x0000_FFFF_0000_FFFF) | ((v & 0x0000_FFFF_0000_FFFF) << 16)
        return (v >> 32) | (v << 32)
    }
}
