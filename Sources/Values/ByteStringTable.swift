import CShim
#if canImport(Glibc)
import Glibc
#endif

/// A hash table of byte-string keys, each with an optional byte-string value: the
/// `hashtable` encoding of hashes (field -> value) and, later, of sets (members, no value).
///
/// Why this shape: Redis's dict costs a dictEntry (24 bytes) plus two sds allocations per
/// field, and a bucket pointer. Here there is no heap object per field:
/// - every record (its hash, key and value lengths, key bytes, value bytes) is packed into
///   one growable byte arena, appended at the end;
/// - the index is one array of 8-byte slots, open addressing with linear probing; a slot
///   holds the record's arena offset (40 bits) and the low 24 bits of its hash, so most
///   probes that miss are rejected without touching the arena, and growing the index
///   rehashes from the slots alone (up to 2^24 slots) without reading a key.
/// Removing a field shifts the following cluster back (no tombstones), so a lookup never
/// walks dead slots. A removed or rewritten record leaves garbage in the arena; the arena
/// is compacted (live records copied in slot order) when garbage passes half of it.
/// Growth is a one-shot rehash of the index only (8 bytes per slot, no key read): cheap,
/// but not yet incremental for tens of millions of fields.
///
/// SCAN uses Redis's reverse-binary cursor over *home* buckets (hash & mask): each call
/// returns every record whose home is the cursor's bucket, found by walking the probe
/// cluster from it. Since records only move inside their cluster and resizing keeps homes'
/// low bits, Redis's guarantee holds: a key present for the whole scan is returned.
///
/// Record offsets (`Handle`) are valid until the next write.
public final class ByteStringTable {
    public typealias Handle = Int

    private static let headerSize = 12          // hash u32, key length u32, value length u32
    private static let noValue: UInt32 = .max
    private static let offsetBits: UInt64 = 40
    private static let offsetMask: UInt64 = (1 << 40) - 1
    private static let tagBits: UInt64 = 24
    private static let tagMask: UInt64 = (1 << 24) - 1
    private static let minCapacity = 8

    private var slots: UnsafeMutablePointer<UInt64>
    private var capacity: Int
    public private(set) var count = 0

    private var arena: UnsafeMutableRawPointer
    private var arenaCapacity: Int
    private var arenaUsed = 0
    private var garbage = 0

    public init(minimumCapacity: Int = 0) {
        var c = Self.minCapacity
        while c * 3 / 4 < minimumCapacity { c <<= 1 }
        capacity = c
        slots = .allocate(capacity: c)
        slots.initialize(repeating: 0, count: c)
        arenaCapacity = 64
        arena = malloc(arenaCapacity)!
    }

    deinit {
        slots.deallocate()
        free(arena)
    }

    // MARK: Hashing

    /// SipHash (Swift's Hasher), seeded per process so clients cannot aim collisions.
    @inline(__always) static func hash(_ key: UnsafeRawBufferPointer) -> UInt32 {
        var h = Hasher()
        h.combine(bytes: key)
        let v = UInt64(bitPattern: Int64(h.finalize()))
        return UInt32(truncatingIfNeeded: v ^ (v >> 32))
    }

    @inline(__always) private var mask: Int { capacity - 1 }

    @inline(__always) private func recordHash(_ offset: Int) -> UInt32 {
        arena.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
    }
    @inline(__always) private func keyLength(_ offset: Int) -> Int {
        Int(arena.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
    }
    @inline(__always) private func valueLength(_ offset: Int) -> UInt32 {
        arena.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
    }
    private func recordSize(_ offset: Int) -> Int {
        let v = valueLength(offset)
        return Self.headerSize + keyLength(offset) + (v == Self.noValue ? 0 : Int(v))
    }

    @inline(__always) private static func offset(_ slot: UInt64) -> Int { Int(slot & offsetMask) - 1 }
    @inline(__always) private static func tag(_ slot: UInt64) -> UInt64 { slot >> offsetBits }

    /// The bucket a slot's record hashes to (its home in the probe sequence).
    @inline(__always) private func home(_ slot: UInt64) -> Int {
        if capacity <= 1 << 24 { return Int(Self.tag(slot)) & mask }
        return Int(recordHash(Self.offset(slot))) & mask
    }

    // MARK: Reading

    public func key(_ h: Handle) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: arena + h + Self.headerSize, count: keyLength(h))
    }

    /// The value of the record, or nil for a key stored without one.
    public func value(_ h: Handle) -> UnsafeRawBufferPointer? {
        let v = valueLength(h)
        if v == Self.noValue { return nil }
        return UnsafeRawBufferPointer(start: arena + h + Self.headerSize + keyLength(h), count: Int(v))
    }

    /// The record of `key`, or nil.
    public func find(_ key: UnsafeRawBufferPointer) -> Handle? {
        findSlot(key, hash: Self.hash(key)).map { Self.offset(slots[$0]) }
    }

    private func findSlot(_ key: UnsafeRawBufferPointer, hash: UInt32) -> Int? {
        let tag = UInt64(hash) & Self.tagMask
        var i = Int(hash) & mask
        while true {
            let s = slots[i]
            if s == 0 { return nil }
            if Self.tag(s) == tag {
                let o = Self.offset(s)
                if keyLength(o) == key.count && (key.count == 0 || memcmp(arena + o + Self.headerSize, key.baseAddress!, key.count) == 0) {
                    return i
                }
            }
            i = (i + 1) & mask
        }
    }

    /// Calls `body` for every record, in slot order.
    public func forEach(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer?) throws -> Void) rethrows {
        for i in 0..<capacity where slots[i] != 0 {
            let o = Self.offset(slots[i])
            try body(key(o), value(o))
        }
    }

    // MARK: Writing

    /// Stores `key` with `value` (nil: no value). Returns true if the key was new, false if
    /// it was there (its value is then replaced).
    @discardableResult
    public func set(_ key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?) -> Bool {
        let h = Self.hash(key)
        if let i = findSlot(key, hash: h) {
            let o = Self.offset(slots[i])
            let old = valueLength(o)
            let oldCount = old == Self.noValue ? -1 : Int(old)
            if let value, oldCount >= value.count {
                // Fits where the old value was: rewrite in place, the rest becomes garbage.
                if value.count > 0 { (arena + o + Self.headerSize + key.count).copyMemory(from: value.baseAddress!, byteCount: value.count) }
                arena.storeBytes(of: UInt32(value.count), toByteOffset: o + 8, as: UInt32.self)
                garbage += oldCount - value.count
                return false
            }
            garbage += recordSize(o)
            let n = append(key, value, hash: h)
            slots[i] = (UInt64(h) & Self.tagMask) << Self.offsetBits | UInt64(n + 1)
            compactIfWasteful()
            return false
        }
        if (count + 1) * 4 > capacity * 3 { resize(to: capacity * 2) }
        let n = append(key, value, hash: h)
        place((UInt64(h) & Self.tagMask) << Self.offsetBits | UInt64(n + 1), hash: h)
        count += 1
        return true
    }

    /// Adds `key` only if absent; true if it was added.
    public func insert(_ key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?) -> Bool {
        if find(key) != nil { return false }
        return set(key, value: value)
    }

    /// Removes `key`; true if it was there.
    @discardableResult
    public func remove(_ key: UnsafeRawBufferPointer) -> Bool {
        guard let i = findSlot(key, hash: Self.hash(key)) else { return false }
        garbage += recordSize(Self.offset(slots[i]))
        removeSlot(i)
        count -= 1
        if capacity > Self.minCapacity && count * 8 < capacity {
            var c = capacity
            while c > Self.minCapacity && count * 4 < c { c >>= 1 }
            resize(to: max(c, Self.minCapacity))
        } else {
            compactIfWasteful()
        }
        return true
    }

    /// Backward-shift deletion: later members of the cluster that may move into the hole
    /// (their home is not between the hole and them) do, so no probe meets a false end.
    private func removeSlot(_ start: Int) {
        var hole = start
        var j = start
        while true {
            j = (j + 1) & mask
            let s = slots[j]
            if s == 0 { break }
            let k = home(s)
            let movable = hole <= j ? (k <= hole || k > j) : (k <= hole && k > j)
            if movable {
                slots[hole] = s
                hole = j
            }
        }
        slots[hole] = 0
    }

    private func place(_ slot: UInt64, hash: UInt32) {
        var i = Int(hash) & mask
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = slot
    }

    private func append(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer?, hash: UInt32) -> Int {
        let size = Self.headerSize + key.count + (value?.count ?? 0)
        if arenaUsed + size > arenaCapacity {
            var c = arenaCapacity
            while arenaUsed + size > c { c = c < 1 << 20 ? c * 2 : c + c / 2 }
            arena = realloc(arena, c)!
            arenaCapacity = c
        }
        let o = arenaUsed
        arena.storeBytes(of: hash, toByteOffset: o, as: UInt32.self)
        arena.storeBytes(of: UInt32(key.count), toByteOffset: o + 4, as: UInt32.self)
        arena.storeBytes(of: value.map { UInt32($0.count) } ?? Self.noValue, toByteOffset: o + 8, as: UInt32.self)
        if key.count > 0 { (arena + o + Self.headerSize).copyMemory(from: key.baseAddress!, byteCount: key.count) }
        if let value, value.count > 0 {
            (arena + o + Self.headerSize + key.count).copyMemory(from: value.baseAddress!, byteCount: value.count)
        }
        arenaUsed += size
        return o
    }

    private func resize(to newCapacity: Int) {
        let old = slots, oldCapacity = capacity
        capacity = newCapacity
        slots = .allocate(capacity: newCapacity)
        slots.initialize(repeating: 0, count: newCapacity)
        for i in 0..<oldCapacity where old[i] != 0 {
            let s = old[i]
            let h = oldCapacity <= 1 << 24 && newCapacity <= 1 << 24 ? UInt32(Self.tag(s)) : recordHash(Self.offset(s))
            place(s, hash: h)
        }
        old.deallocate()
        compactIfWasteful()
    }

    private func compactIfWasteful() {
        guard garbage > 1024 && garbage * 2 > arenaUsed else { return }
        compact()
    }

    /// Copies the live records into a fresh arena, in slot order (records only; the slots
    /// keep their places and get the new offsets).
    func compact() {
        let live = arenaUsed - garbage
        let newCapacity = max(64, live + live / 4)
        let fresh = malloc(newCapacity)!
        var used = 0
        for i in 0..<capacity where slots[i] != 0 {
            let o = Self.offset(slots[i])
            let size = recordSize(o)
            (fresh + used).copyMemory(from: arena + o, byteCount: size)
            slots[i] = slots[i] & ~Self.offsetMask | UInt64(used + 1)
            used += size
        }
        free(arena)
        arena = fresh
        arenaCapacity = newCapacity
        arenaUsed = used
        garbage = 0
    }

    // MARK: Scanning and sampling

    /// One step of SCAN: calls `body` for every record whose home bucket is the cursor's,
    /// and returns the next cursor (0 when the scan is complete). Redis's dictScan cursor
    /// (reverse binary increment), so the scan survives the table growing or shrinking.
    public func scan(cursor: UInt64, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer?) -> Void) -> UInt64 {
        guard count > 0 else { return 0 }
        let m = UInt64(mask)
        let bucket = Int(cursor & m)
        var i = bucket
        while slots[i] != 0 {
            if home(slots[i]) == bucket {
                let o = Self.offset(slots[i])
                body(key(o), value(o))
            }
            i = (i + 1) & mask
        }
        var v = cursor | ~m
        v = (v.bitSwapped &+ 1).bitSwapped
        return v
    }

    /// A record chosen uniformly (a random slot until one is used; the table is kept at
    /// least 1/8 full), or nil if empty.
    public func randomHandle<G: RandomNumberGenerator>(using rng: inout G) -> Handle? {
        guard count > 0 else { return nil }
        while true {
            let s = slots[Int.random(in: 0..<capacity, using: &rng)]
            if s != 0 { return Self.offset(s) }
        }
    }

    /// Every record's handle, in slot order (sampling without replacement).
    public func handles() -> [Handle] {
        var out: [Handle] = []
        out.reserveCapacity(count)
        for i in 0..<capacity where slots[i] != 0 { out.append(Self.offset(slots[i])) }
        return out
    }

    // MARK: Whole table

    /// Bytes the table holds: the index and the arena.
    public var memoryUsage: Int {
        MemoryLayout<ByteStringTable>.size + 16 + capacity * 8 + vk_malloc_usable_size(arena)
    }

    /// A deep copy (compact: no garbage carried over).
    public func copy() -> ByteStringTable {
        let t = ByteStringTable(minimumCapacity: count)
        forEach { k, v in t.set(k, value: v) }
        return t
    }
}

extension UInt64 {
    /// The bits in reverse order (Redis's rev()).
    @inline(__always) var bitSwapped: UInt64 {
        var v = self
        v = ((v >> 1) & 0x5555_5555_5555_5555) | ((v & 0x5555_5555_5555_5555) << 1)
        v = ((v >> 2) & 0x3333_3333_3333_3333) | ((v & 0x3333_3333_3333_3333) << 2)
        v = ((v >> 4) & 0x0F0F_0F0F_0F0F_0F0F) | ((v & 0x0F0F_0F0F_0F0F_0F0F) << 4)
        return v.byteSwapped
    }
}
