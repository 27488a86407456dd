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
///   probes that miss are rejected without touching the arena, and moving a slot to a
///   resized index needs no key read (up to 2^24 slots).
/// Removing a key shifts the following cluster back (no tombstones), so a lookup never
/// walks dead slots. A removed or rewritten record leaves garbage in the arena; the arena
/// is compacted (live records copied in slot order) when garbage passes half of it.
///
/// Growing and shrinking are incremental, as Redis's rehashing: a resize allocates the new
/// index and keeps the old one; each later write moves a few old slots (whole probe
/// clusters, so a lookup in the old index never meets half a cluster) until none is left.
/// Meanwhile lookups try the new index, then the old; inserts go to the new one. So a hash
/// of millions of fields never stalls its shard on a resize.
///
/// SCAN uses Redis's reverse-binary cursor over *home* buckets (hash & mask): a step
/// returns every record whose probe sequence starts at the cursor's bucket (and, while two
/// indexes exist, at its expansions in the larger one, as dictScan does). Records only move
/// inside their cluster or to the other index, keeping their hash, so Redis's guarantee
/// holds: a key present for the whole scan is returned.
///
/// Record offsets (`Handle`) stay valid until the next write.
public final class ByteStringTable {
    public typealias Handle = Int

    private static let headerSize = 12          // hash u32, key length u32, value length u32
    private static let noValue: UInt32 = .max
    private static let offsetBits: UInt64 = 40
    private static let offsetMask: UInt64 = (1 << 40) - 1
    private static let tagMask: UInt64 = (1 << 24) - 1
    private static let minCapacity = 8

    /// One index: a power-of-two array of slots (0: empty).
    private struct Index {
        var slots: UnsafeMutablePointer<UInt64>
        var capacity: Int
        @inline(__always) var mask: Int { capacity - 1 }

        init(capacity: Int) {
            self.capacity = capacity
            // calloc: a big index comes as fresh zero pages, not a memset paid at once.
            slots = calloc(capacity, MemoryLayout<UInt64>.stride)!.bindMemory(to: UInt64.self, capacity: capacity)
        }

        func free() { Glibc.free(slots) }
    }

    private var index: Index
    /// The index being emptied into `index` by a resize, if any.
    private var old: Index?
    private var migrateAt = 0
    private var migrated = 0
    public private(set) var count = 0

    /// Old slots a write moves while two indexes exist.
    private let migrationStep: Int

    private var arena: UnsafeMutableRawPointer
    private var arenaCapacity: Int
    private var arenaUsed = 0
    private var garbage = 0

    public convenience init(minimumCapacity: Int = 0) {
        self.init(minimumCapacity: minimumCapacity, migrationStep: 128)
    }

    /// `migrationStep`: old slots moved per write during a resize (tests make it small).
    init(minimumCapacity: Int, migrationStep: Int) {
        self.migrationStep = migrationStep
        var c = Self.minCapacity
        while c * 3 / 4 < minimumCapacity { c <<= 1 }
        index = Index(capacity: c)
        arenaCapacity = 64
        arena = malloc(arenaCapacity)!
    }

    deinit {
        index.free()
        old?.free()
        free(arena)
    }

    // MARK: Hashing and records

    /// BytesHash under the members' seed (drawn per process, so clients cannot aim
    /// collisions). It replaced SipHash (Swift's Hasher): ~400 instructions of a SADD went
    /// to hashing its member (callgrind), ~40 now.
    @inline(__always) static func hash(_ key: UnsafeRawBufferPointer) -> UInt32 {
        let v = BytesHash.hash(key, seed: BytesHash.memberSeed)
        return UInt32(truncatingIfNeeded: v ^ (v >> 32))
    }

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
    @inline(__always) private static func slot(offset: Int, hash: UInt32) -> UInt64 {
        (UInt64(hash) & tagMask) << offsetBits | UInt64(offset + 1)
    }

    /// The record's hash as far as an index of `capacity` slots needs it.
    @inline(__always) private func hashBits(_ slot: UInt64, capacity: Int) -> Int {
        capacity <= 1 << 24 ? Int(Self.tag(slot)) : Int(recordHash(Self.offset(slot)))
    }

    /// The bucket a slot's record hashes to in `t` (its home in the probe sequence).
    @inline(__always) private func home(_ slot: UInt64, in t: Index) -> Int {
        hashBits(slot, capacity: t.capacity) & t.mask
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
        let h = Self.hash(key)
        if let i = findSlot(in: index, key, hash: h) { return Self.offset(index.slots[i]) }
        if let o = old, let i = findSlot(in: o, key, hash: h) { return Self.offset(o.slots[i]) }
        return nil
    }

    private func findSlot(in t: Index, _ key: UnsafeRawBufferPointer, hash: UInt32) -> Int? {
        let tag = UInt64(hash) & Self.tagMask
        var i = Int(hash) & t.mask
        while true {
            let s = t.slots[i]
            if s == 0 { return nil }
            if Self.tag(s) == tag {
                let o = Self.offset(s)
                if keyLength(o) == key.count
                    && (key.count == 0 || memcmp(arena + o + Self.headerSize, key.baseAddress!, key.count) == 0) {
                    return i
                }
            }
            i = (i + 1) & t.mask
        }
    }

    /// Calls `body` for every record (index order, then the old index's).
    public func forEach(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer?) throws -> Void) rethrows {
        for t in [index] + (old.map { [$0] } ?? []) {
            for i in 0..<t.capacity where t.slots[i] != 0 {
                let o = Self.offset(t.slots[i])
                try body(key(o), value(o))
            }
        }
    }

    /// `forEach` in the order the records lie in the arena (insertion order, compacted),
    /// when it holds no garbage: a sequential read, where the slots' order touches a random
    /// record per key (a cache miss each once the arena outgrows the cache). With garbage
    /// the dead records cannot be told from live ones: slot order then.
    public func forEachInArenaOrder(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer?) -> Void) {
        guard garbage == 0 else { forEach(body); return }
        var o = 0
        while o < arenaUsed {
            body(key(o), value(o))
            o += recordSize(o)
        }
    }

    /// `forEach` in steps (a snapshot's copy between commands): visits the records from slot
    /// position `position` (the index's slots, then the old index's) until `limit` slots were
    /// looked at, and returns the next position, or nil once all were. The table must not
    /// change between steps (reads never move records; writes do).
    public func forEach(from position: Int, limit: Int,
                        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer?) -> Void) -> Int? {
        var p = position
        let total = index.capacity + (old?.capacity ?? 0)
        let end = p + min(max(1, limit), total - p)
        while p < end {
            let slot = p < index.capacity ? index.slots[p] : old!.slots[p - index.capacity]
            if slot != 0 {
                let o = Self.offset(slot)
                body(key(o), value(o))
            }
            p += 1
        }
        return p < total ? p : nil
    }

    // MARK: Writing

    /// Stores `key` with `value` (nil: no value). Returns true if the key was new, false if
    /// it was there (its value is then replaced).
    @discardableResult
    public func set(_ key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?) -> Bool {
        migrateStep()
        let h = Self.hash(key)
        var found: (Index, Int)?
        if let i = findSlot(in: index, key, hash: h) {
            found = (index, i)
        } else if let o = old, let i = findSlot(in: o, key, hash: h) {
            found = (o, i)
        }
        if let (t, i) = found {
            let o = Self.offset(t.slots[i])
            let previous = valueLength(o)
            let previousCount = previous == Self.noValue ? -1 : Int(previous)
            if let value, previousCount >= value.count {
                // Fits where the old value was: rewritten in place, the rest becomes garbage.
                if value.count > 0 {
                    (arena + o + Self.headerSize + key.count).copyMemory(from: value.baseAddress!, byteCount: value.count)
                }
                arena.storeBytes(of: UInt32(value.count), toByteOffset: o + 8, as: UInt32.self)
                garbage += previousCount - value.count
                return false
            }
            garbage += recordSize(o)
            let n = append(key, value, hash: h)
            t.slots[i] = Self.slot(offset: n, hash: h)
            compactIfWasteful()
            return false
        }
        if (count + 1) * 4 > index.capacity * 3 { resize(to: index.capacity * 2) }
        let n = append(key, value, hash: h)
        place(Self.slot(offset: n, hash: h), hash: Int(h), in: index)
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
        migrateStep()
        let h = Self.hash(key)
        if let i = findSlot(in: index, key, hash: h) {
            garbage += recordSize(Self.offset(index.slots[i]))
            removeSlot(i, in: index)
        } else if let o = old, let i = findSlot(in: o, key, hash: h) {
            garbage += recordSize(Self.offset(o.slots[i]))
            removeSlot(i, in: o)
        } else {
            return false
        }
        count -= 1
        shrinkOrCompact()
        return true
    }

    /// After a removal: a resize down once the index is less than 1/8 full, else a
    /// compaction if garbage dominates the arena.
    private func shrinkOrCompact() {
        if index.capacity > Self.minCapacity && count * 8 < index.capacity {
            var c = index.capacity
            while c > Self.minCapacity && count * 4 < c { c >>= 1 }
            resize(to: max(c, Self.minCapacity))
        } else {
            compactIfWasteful()
        }
    }

    /// Removes the record `h` (a handle from `find` or `randomHandle`, before any other
    /// write): its slot is found by the hash the record keeps, so the key is not hashed
    /// again (SPOP).
    public func remove(handle h: Handle) {
        migrateStep()
        let hash = recordHash(h)
        if let i = slot(of: h, in: index, hash: hash) {
            removeSlot(i, in: index)
        } else if let o = old, let i = slot(of: h, in: o, hash: hash) {
            removeSlot(i, in: o)
        } else {
            preconditionFailure("ByteStringTable handle \(h) not in the table")
        }
        garbage += recordSize(h)
        count -= 1
        shrinkOrCompact()
    }

    private func slot(of h: Handle, in t: Index, hash: UInt32) -> Int? {
        var i = hashBits(Self.slot(offset: h, hash: hash), capacity: t.capacity) & t.mask
        while true {
            let s = t.slots[i]
            if s == 0 { return nil }
            if Self.offset(s) == h { return i }
            i = (i + 1) & t.mask
        }
    }

    /// Backward-shift deletion: later members of the cluster that may move into the hole
    /// (their home is not between the hole and them) do, so no probe meets a false end.
    private func removeSlot(_ start: Int, in t: Index) {
        var hole = start
        var j = start
        while true {
            j = (j + 1) & t.mask
            let s = t.slots[j]
            if s == 0 { break }
            let k = home(s, in: t)
            let movable = hole <= j ? (k <= hole || k > j) : (k <= hole && k > j)
            if movable {
                t.slots[hole] = s
                hole = j
            }
        }
        t.slots[hole] = 0
    }

    private func place(_ slot: UInt64, hash: Int, in t: Index) {
        var i = hash & t.mask
        while t.slots[i] != 0 { i = (i + 1) & t.mask }
        t.slots[i] = slot
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

    // MARK: Resizing, a few slots at a time

    /// Starts moving every slot into a new index of `newCapacity` slots (finishing a
    /// resize still under way first).
    private func resize(to newCapacity: Int) {
        if old != nil { migrateStep(budget: .max) }
        let previous = index
        index = Index(capacity: newCapacity)
        // Start at an empty slot, so no cluster wraps around the walk's end.
        var start = 0
        while previous.slots[start] != 0 { start += 1 }
        old = previous
        migrateAt = start
        migrated = 0
        migrateStep()
    }

    /// Moves up to `budget` slots of the old index (whole clusters: a cluster started is
    /// finished) into the new one; frees the old index once all are moved.
    private func migrateStep() { migrateStep(budget: migrationStep) }

    private func migrateStep(budget: Int) {
        guard let o = old else { return }
        var work = 0
        while migrated < o.capacity && work < budget {
            while o.slots[migrateAt] != 0 {
                let s = o.slots[migrateAt]
                place(s, hash: hashBits(s, capacity: index.capacity), in: index)
                o.slots[migrateAt] = 0
                migrateAt = (migrateAt + 1) & o.mask
                migrated += 1
                work += 1
            }
            migrateAt = (migrateAt + 1) & o.mask
            migrated += 1
            work += 1
        }
        if migrated >= o.capacity {
            o.free()
            old = nil
        }
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
        for t in [index] + (old.map { [$0] } ?? []) {
            for i in 0..<t.capacity where t.slots[i] != 0 {
                let o = Self.offset(t.slots[i])
                let size = recordSize(o)
                (fresh + used).copyMemory(from: arena + o, byteCount: size)
                t.slots[i] = t.slots[i] & ~Self.offsetMask | UInt64(used + 1)
                used += size
            }
        }
        free(arena)
        arena = fresh
        arenaCapacity = newCapacity
        arenaUsed = used
        garbage = 0
    }

    // MARK: Scanning and sampling

    /// One step of SCAN: calls `body` for the records whose home is the cursor's bucket and
    /// returns the next cursor (0 when the scan is complete): Redis's dictScan.
    public func scan(cursor: UInt64, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer?) -> Void) -> UInt64 {
        guard count > 0 else { return 0 }
        var v = cursor
        guard let o = old else {
            let m = UInt64(index.mask)
            emit(home: Int(v & m), in: index, body)
            v |= ~m
            return (v.bitSwapped &+ 1).bitSwapped
        }
        let (small, large) = o.capacity < index.capacity ? (o, index) : (index, o)
        let m0 = UInt64(small.mask), m1 = UInt64(large.mask)
        emit(home: Int(v & m0), in: small, body)
        // The buckets of the larger index that expand the smaller one's.
        repeat {
            emit(home: Int(v & m1), in: large, body)
            v |= ~m1
            v = (v.bitSwapped &+ 1).bitSwapped
        } while v & (m0 ^ m1) != 0
        return v
    }

    /// Every record of `t` whose home is `bucket` (the cluster from it holds them all).
    private func emit(home bucket: Int, in t: Index, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer?) -> Void) {
        var i = bucket
        while t.slots[i] != 0 {
            if home(t.slots[i], in: t) == bucket {
                let o = Self.offset(t.slots[i])
                body(key(o), value(o))
            }
            i = (i + 1) & t.mask
        }
    }

    /// A record chosen uniformly (random slots of both indexes until a used one; each is
    /// kept at least 1/8 full, or is being emptied), or nil if empty.
    public func randomHandle(using rng: inout FastRandom) -> Handle? {
        guard count > 0 else { return nil }
        let oldCapacity = old?.capacity ?? 0
        while true {
            let r = rng.below(index.capacity + oldCapacity)
            let s = r < index.capacity ? index.slots[r] : old!.slots[r - index.capacity]
            if s != 0 { return Self.offset(s) }
        }
    }

    /// Every record's handle (sampling without replacement).
    public func handles() -> [Handle] {
        var out: [Handle] = []
        out.reserveCapacity(count)
        for t in [index] + (old.map { [$0] } ?? []) {
            for i in 0..<t.capacity where t.slots[i] != 0 { out.append(Self.offset(t.slots[i])) }
        }
        return out
    }

    // MARK: Whole table

    /// Bytes the table holds: the indexes and the arena.
    public var memoryUsage: Int {
        MemoryLayout<ByteStringTable>.size + 16 + (index.capacity + (old?.capacity ?? 0)) * 8 + vk_malloc_usable_size(arena)
    }

    /// True while a resize is moving slots (for tests).
    var isResizing: Bool { old != nil }

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
