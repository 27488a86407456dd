import CShim
#if canImport(Glibc)
import Glibc
#endif

/// A stream entry ID: milliseconds and sequence, ordered as a 128-bit number.
public struct StreamID: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var ms: UInt64
    public var seq: UInt64
    public init(ms: UInt64, seq: UInt64) { self.ms = ms; self.seq = seq }

    public static let zero = StreamID(ms: 0, seq: 0)
    public static let max = StreamID(ms: .max, seq: .max)

    public static func < (a: StreamID, b: StreamID) -> Bool { a.ms < b.ms || (a.ms == b.ms && a.seq < b.seq) }

    /// The next ID, or nil after the last possible one (Redis's streamIncrID failing).
    public var successor: StreamID? {
        if seq < .max { return StreamID(ms: ms, seq: seq + 1) }
        return ms < .max ? StreamID(ms: ms + 1, seq: 0) : nil
    }

    public var predecessor: StreamID? {
        if seq > 0 { return StreamID(ms: ms, seq: seq - 1) }
        return ms > 0 ? StreamID(ms: ms - 1, seq: .max) : nil
    }

    public var description: String { "\(ms)-\(seq)" }
}

/// A node of a stream: entries in one listpack in Redis's layout, keyed by its master ID.
///
///     master entry: count | deleted | num-fields | field... | 0
///     each entry:   flags | ms-delta | seq-delta | [num-fields | field value...] or [value...] | lp-count
///
/// SAMEFIELDS entries (flag 2) share the master entry's field names; deleted ones (flag 1) are skipped.
public struct StreamNode {
    public var master: StreamID
    public var lp: UnsafeMutableRawPointer
}

/// One entry as read from a node: its ID and where its fields and values are.
public struct StreamEntry {
    public let id: StreamID
    public let lp: UnsafeMutableRawPointer
    public let flagsOffset: Int
    public let fieldCount: Int
    let sameFields: Bool
    let masterFieldsOffset: Int
    let firstPartOffset: Int

    /// Calls `body(fieldOffset, valueOffset)` for each pair, as offsets into `lp`.
    @inline(__always)
    public func forEachPair(_ body: (Int, Int) -> Void) {
        var p = firstPartOffset
        if sameFields {
            var f = masterFieldsOffset
            for _ in 0..<fieldCount {
                body(f, p)
                f = Listpack.next(lp, f)!
                p = Listpack.next(lp, p)!
            }
        } else {
            for _ in 0..<fieldCount {
                let v = Listpack.next(lp, p)!
                body(p, v)
                p = Listpack.next(lp, v)!
            }
        }
    }
}

/// A pending entry of a consumer group (Redis's streamNACK).
public final class StreamNACK {
    public var deliveryTime: Int64
    public var deliveryCount: Int64
    public var consumer: StreamConsumer?
    public init(deliveryTime: Int64, deliveryCount: Int64, consumer: StreamConsumer?) {
        self.deliveryTime = deliveryTime
        self.deliveryCount = deliveryCount
        self.consumer = consumer
    }
}

/// IDs in order with a value each: the PELs (Redis uses radix trees; a sorted array
/// gives the same order, O(log n) lookups, and appends at the end in the common case).
public struct SortedIDMap<Value> {
    public private(set) var keys: [StreamID] = []
    public private(set) var values: [Value] = []
    public init() {}

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    /// Index of the first key >= `id`.
    public func lowerBound(_ id: StreamID) -> Int {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if keys[mid] < id { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    public func index(of id: StreamID) -> Int? {
        let i = lowerBound(id)
        return i < keys.count && keys[i] == id ? i : nil
    }

    public subscript(id: StreamID) -> Value? {
        index(of: id).map { values[$0] }
    }

    /// Inserts or replaces; returns true if the key was new.
    @discardableResult
    public mutating func insert(_ id: StreamID, _ value: Value) -> Bool {
        if let last = keys.last, last < id {
            keys.append(id); values.append(value); return true
        }
        let i = lowerBound(id)
        if i < keys.count && keys[i] == id { values[i] = value; return false }
        keys.insert(id, at: i); values.insert(value, at: i)
        return true
    }

    @discardableResult
    public mutating func remove(_ id: StreamID) -> Value? {
        guard let i = index(of: id) else { return nil }
        keys.remove(at: i)
        return values.remove(at: i)
    }
}

public final class StreamConsumer {
    public var name: [UInt8]
    public var seenTime: Int64
    /// Redis 7.2's active-time, kept from a v3 dump (-1: never active).
    public var activeTime: Int64 = -1
    public var pel = SortedIDMap<StreamNACK>()
    public init(name: [UInt8], seenTime: Int64) { self.name = name; self.seenTime = seenTime }
}

public final class StreamGroup {
    public static let invalidEntriesRead: Int64 = -1
    public var name: [UInt8]
    public var lastID: StreamID
    public var entriesRead: Int64
    public var pel = SortedIDMap<StreamNACK>()
    /// By name, in byte order (Redis's radix tree order).
    public var consumers: [StreamConsumer] = []

    public init(name: [UInt8], lastID: StreamID, entriesRead: Int64) {
        self.name = name
        self.lastID = lastID
        self.entriesRead = entriesRead
    }

    func consumerIndex(_ name: UnsafeRawBufferPointer) -> (found: Bool, index: Int) {
        indexByName(consumers, name, \.name)
    }

    public func consumer(named name: UnsafeRawBufferPointer) -> StreamConsumer? {
        let (found, i) = consumerIndex(name)
        return found ? consumers[i] : nil
    }

    /// Adds a consumer; nil if one with that name exists.
    public func createConsumer(named name: UnsafeRawBufferPointer, now: Int64) -> StreamConsumer? {
        let (found, i) = consumerIndex(name)
        guard !found else { return nil }
        let c = StreamConsumer(name: Array(name), seenTime: now)
        consumers.insert(c, at: i)
        return c
    }

    /// Removes a consumer and its pending entries from the group; returns how many it had.
    public func deleteConsumer(named name: UnsafeRawBufferPointer) -> Int? {
        let (found, i) = consumerIndex(name)
        guard found else { return nil }
        let c = consumers.remove(at: i)
        for id in c.pel.keys { pel.remove(id) }
        return c.pel.count
    }
}

/// Byte order comparison (memcmp, then length), as radix-tree keys sort.
/// Binary search in `items` sorted by name (byte order): where `name` is or would go.
func indexByName<T>(_ items: [T], _ name: UnsafeRawBufferPointer, _ nameOf: (T) -> [UInt8]) -> (found: Bool, index: Int) {
    var lo = 0, hi = items.count
    while lo < hi {
        let mid = (lo + hi) / 2
        if compareBytes(nameOf(items[mid]), name) < 0 { lo = mid + 1 } else { hi = mid }
    }
    return (lo < items.count && compareBytes(nameOf(items[lo]), name) == 0, lo)
}

public func compareBytes(_ a: [UInt8], _ b: UnsafeRawBufferPointer) -> Int {
    let n = Swift.min(a.count, b.count)
    let c = a.withUnsafeBytes { n == 0 ? 0 : memcmp($0.baseAddress!, b.baseAddress!, n) }
    if c != 0 { return c < 0 ? -1 : 1 }
    return a.count < b.count ? -1 : (a.count > b.count ? 1 : 0)
}

/// A Redis stream: listpack nodes ordered by master ID (a sorted array: binary search to
/// find an ID, appends at the tail, whole nodes dropped from the head when trimming),
/// plus the metadata and consumer groups Redis 7 keeps.
public final class Stream {
    public static let flagDeleted: Int64 = 1
    public static let flagSameFields: Int64 = 2

    public var nodes: [StreamNode] = []
    public var length = 0
    public var lastID = StreamID.zero
    public var firstID = StreamID.zero
    public var maxDeletedEntryID = StreamID.zero
    public var entriesAdded: UInt64 = 0
    /// By name, in byte order.
    public var groups: [StreamGroup] = []

    public init() {}

    deinit {
        for n in nodes { free(n.lp) }
    }

    // MARK: Appending

    /// Appends an entry with `pairs` field/value pairs (`element(i)`: field i/2 or value).
    /// The caller has checked that `id` is greater than `lastID`; `limits` say when the tail
    /// node is full and a new one starts.
    public func append(id: StreamID, pairs: Int, limits: StreamNodeLimits, element: (Int) -> UnsafeRawBufferPointer) {
        var totalElementBytes = 0
        for i in 0..<(pairs * 2) { totalElementBytes += element(i).count }
        var tail: Int? = nodes.isEmpty ? nil : nodes.count - 1
        if let t = tail {
            let lp = nodes[t].lp
            let first = Listpack.first(lp)!
            let count = Listpack.integer(lp, first) + Listpack.integer(lp, Listpack.next(lp, first)!)
            // 0 (or more than a listpack may hold) means Redis's STREAM_LISTPACK_MAX_SIZE.
            var maxBytes = limits.maxBytes
            if maxBytes <= 0 || maxBytes > 1 << 30 { maxBytes = 1 << 30 }
            if Listpack.totalBytes(lp) + totalElementBytes >= maxBytes
                || (limits.maxEntries > 0 && count >= Int64(limits.maxEntries)) {
                tail = nil
            }
        }
        var flags = Int64(0)
        var enc: [UInt8] = []
        enc.reserveCapacity(totalElementBytes + 16 + pairs * 4)
        let master: StreamID
        let nodeIndex: Int
        if let t = tail {
            nodeIndex = t
            master = nodes[t].master
            var lp = nodes[t].lp
            let countAt = Listpack.first(lp)!
            Listpack.replaceInteger(&lp, at: countAt, with: Listpack.integer(lp, countAt) + 1)
            nodes[t].lp = lp
            if sameFieldsAsMaster(lp, pairs: pairs, element: element) { flags = Stream.flagSameFields }
        } else {
            master = id
            Listpack.encode(integer: 1, into: &enc)
            Listpack.encode(integer: 0, into: &enc)
            Listpack.encode(integer: Int64(pairs), into: &enc)
            for i in 0..<pairs { Listpack.encode(string: element(2 * i), into: &enc) }
            Listpack.encode(integer: 0, into: &enc)
            // The node that was the tail is full: give back its growth slack (Redis's
            // listpacks are exactly sized), then start the new one small.
            if let tail = nodes.indices.last {
                Listpack.shrinkToFit(&nodes[tail].lp)
            }
            var lp = Listpack.new(capacity: 256)
            Listpack.append(&lp, encoded: enc, count: 4 + pairs)
            enc.removeAll(keepingCapacity: true)
            nodes.append(StreamNode(master: id, lp: lp))
            nodeIndex = nodes.count - 1
            flags = Stream.flagSameFields
        }
        let same = flags == Stream.flagSameFields
        Listpack.encode(integer: flags, into: &enc)
        Listpack.encode(integer: Int64(bitPattern: id.ms &- master.ms), into: &enc)
        Listpack.encode(integer: Int64(bitPattern: id.seq &- master.seq), into: &enc)
        if !same { Listpack.encode(integer: Int64(pairs), into: &enc) }
        for i in 0..<pairs {
            if !same { Listpack.encode(string: element(2 * i), into: &enc) }
            Listpack.encode(string: element(2 * i + 1), into: &enc)
        }
        let lpCount = same ? pairs + 3 : pairs * 2 + 4
        Listpack.encode(integer: Int64(lpCount), into: &enc)
        var lp = nodes[nodeIndex].lp
        Listpack.append(&lp, encoded: enc, count: lpCount + 1)
        nodes[nodeIndex].lp = lp
        length += 1
        entriesAdded += 1
        lastID = id
        if length == 1 { firstID = id }
    }

    private func sameFieldsAsMaster(_ lp: UnsafeMutableRawPointer, pairs: Int,
                                    element: (Int) -> UnsafeRawBufferPointer) -> Bool {
        var p = Listpack.next(lp, Listpack.next(lp, Listpack.first(lp)!)!)!
        guard Listpack.integer(lp, p) == Int64(pairs) else { return false }
        for i in 0..<pairs {
            p = Listpack.next(lp, p)!
            let f = element(2 * i)
            let equal = Listpack.withBytes(lp, p) { $0.count == f.count && (f.count == 0 || memcmp($0.baseAddress!, f.baseAddress!, f.count) == 0) }
            if !equal { return false }
        }
        return true
    }

    // MARK: Reading

    /// Offset of the first entry of a node (after the master entry), or nil if none, and
    /// the master's field count and first field offset.
    @inline(__always)
    static func masterInfo(_ lp: UnsafeMutableRawPointer) -> (fields: Int, firstField: Int, firstEntry: Int?) {
        var p = Listpack.next(lp, Listpack.next(lp, Listpack.first(lp)!)!)!
        let n = Int(Listpack.integer(lp, p))
        p = Listpack.next(lp, p)!
        let firstField = p
        for _ in 0..<n { p = Listpack.next(lp, p)! }
        return (n, firstField, Listpack.next(lp, p))
    }

    /// Reads the entry whose flags are at `p`; returns it, its flags and the next entry's offset.
    @inline(__always)
    static func readEntry(_ node: StreamNode, at p: Int, master: (fields: Int, firstField: Int, firstEntry: Int?))
        -> (entry: StreamEntry, flags: Int64, next: Int?) {
        let lp = node.lp
        let flags = Listpack.integer(lp, p)
        var q = Listpack.next(lp, p)!
        let ms = node.master.ms &+ UInt64(bitPattern: Listpack.integer(lp, q))
        q = Listpack.next(lp, q)!
        let seq = node.master.seq &+ UInt64(bitPattern: Listpack.integer(lp, q))
        q = Listpack.next(lp, q)!
        let same = flags & Stream.flagSameFields != 0
        let n: Int
        if same {
            n = master.fields
        } else {
            n = Int(Listpack.integer(lp, q))
            q = Listpack.next(lp, q)!
        }
        let first = q
        for _ in 0..<(same ? n : 2 * n) { q = Listpack.next(lp, q)! }
        let entry = StreamEntry(id: StreamID(ms: ms, seq: seq), lp: lp, flagsOffset: p, fieldCount: n,
                                sameFields: same, masterFieldsOffset: master.firstField, firstPartOffset: first)
        return (entry, flags, Listpack.next(lp, q))
    }

    /// Index of the node that may hold `id`: the last whose master ID <= id (0 if none).
    func nodeIndex(for id: StreamID) -> Int {
        var lo = 0, hi = nodes.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if nodes[mid].master <= id { lo = mid + 1 } else { hi = mid }
        }
        return Swift.max(lo - 1, 0)
    }

    /// Calls `body` for the live entries with start <= ID <= end, in order (or reverse
    /// order), until it returns false.
    public func forEach(from start: StreamID, to end: StreamID, reverse: Bool = false,
                        _ body: (StreamEntry) -> Bool) {
        guard !nodes.isEmpty, start <= end else { return }
        if !reverse {
            var i = nodeIndex(for: start)
            while i < nodes.count {
                let node = nodes[i]
                if node.master > end { return }
                let info = Stream.masterInfo(node.lp)
                var p = info.firstEntry
                while let at = p {
                    let (e, flags, next) = Stream.readEntry(node, at: at, master: info)
                    p = next
                    if flags & Stream.flagDeleted != 0 || e.id < start { continue }
                    if e.id > end { return }
                    if !body(e) { return }
                }
                i += 1
            }
        } else {
            var i = nodeIndex(for: end)
            var offsets: [Int] = []
            while i >= 0 {
                let node = nodes[i]
                let info = Stream.masterInfo(node.lp)
                offsets.removeAll(keepingCapacity: true)
                var p = info.firstEntry
                while let at = p {
                    offsets.append(at)
                    p = Stream.readEntry(node, at: at, master: info).next
                }
                for at in offsets.reversed() {
                    let (e, flags, _) = Stream.readEntry(node, at: at, master: info)
                    if flags & Stream.flagDeleted != 0 || e.id > end { continue }
                    if e.id < start { return }
                    if !body(e) { return }
                }
                i -= 1
            }
        }
    }

    /// The first or last live entry's ID (Redis's streamGetEdgeID), nil if empty.
    public func edgeID(first: Bool) -> StreamID? {
        var found: StreamID?
        forEach(from: .zero, to: .max, reverse: !first) { found = $0.id; return false }
        return found
    }

    public func contains(_ id: StreamID) -> Bool {
        var found = false
        forEach(from: id, to: id) { _ in found = true; return false }
        return found
    }

    // MARK: Deleting and trimming

    /// Marks the entry `id` deleted (Redis's streamDeleteItem); false if absent. Does not
    /// update firstID or maxDeletedEntryID (XDEL does, as Redis's command does).
    @discardableResult
    public func delete(_ id: StreamID) -> Bool {
        guard !nodes.isEmpty else { return false }
        let i = nodeIndex(for: id)
        let node = nodes[i]
        let info = Stream.masterInfo(node.lp)
        var p = info.firstEntry
        while let at = p {
            let (e, flags, next) = Stream.readEntry(node, at: at, master: info)
            p = next
            if e.id > id { return false }
            guard e.id == id, flags & Stream.flagDeleted == 0 else { continue }
            markDeleted(node: i, entries: [at], flagsOf: [flags])
            return true
        }
        return false
    }

    /// Sets the deleted flag of the entries at `offsets` in node `i`, fixes its counters,
    /// and drops the node once it has no live entry.
    private func markDeleted(node i: Int, entries offsets: [Int], flagsOf flags: [Int64]) {
        var lp = nodes[i].lp
        for (at, f) in zip(offsets, flags) {
            Listpack.replaceInteger(&lp, at: at, with: f | Stream.flagDeleted)  // same size: offsets hold
        }
        let countAt = Listpack.first(lp)!
        let live = Listpack.integer(lp, countAt) - Int64(offsets.count)
        Listpack.replaceInteger(&lp, at: countAt, with: live)
        let deletedAt = Listpack.next(lp, countAt)!
        Listpack.replaceInteger(&lp, at: deletedAt, with: Listpack.integer(lp, deletedAt) + Int64(offsets.count))
        length -= offsets.count
        if live == 0 {
            free(lp)
            nodes.remove(at: i)
        } else {
            nodes[i].lp = lp
        }
    }

    public enum Trim {
        case maxLength(Int)
        case minID(StreamID)
    }

    /// Redis's streamTrim: removes whole nodes from the head while allowed; unless
    /// `approximate`, then marks entries of the next node deleted. `limit` (0: none)
    /// caps the entries removed. Returns how many were removed.
    @discardableResult
    public func trim(_ strategy: Trim, approximate: Bool, limit: Int) -> Int {
        var deleted = 0
        while !nodes.isEmpty {
            if case .maxLength(let maxLen) = strategy, length <= maxLen { break }
            let node = nodes[0]
            let entries = Int(Listpack.integer(node.lp, Listpack.first(node.lp)!))
            if limit > 0 && deleted + entries > limit { break }
            let removeNode: Bool
            switch strategy {
            case .maxLength(let maxLen): removeNode = length - entries >= maxLen
            case .minID(let id): removeNode = (lastEntryID(ofNode: 0) ?? node.master) < id
            }
            if removeNode {
                free(node.lp)
                nodes.removeFirst()
                length -= entries
                deleted += entries
                continue
            }
            if approximate { break }
            let info = Stream.masterInfo(node.lp)
            var offsets: [Int] = [], flagsList: [Int64] = []
            var p = info.firstEntry
            var remaining = length
            while let at = p {
                let (e, flags, next) = Stream.readEntry(node, at: at, master: info)
                p = next
                let stop: Bool
                switch strategy {
                case .maxLength(let maxLen): stop = remaining <= maxLen
                case .minID(let id): stop = e.id >= id
                }
                if stop { break }
                if flags & Stream.flagDeleted == 0 {
                    offsets.append(at)
                    flagsList.append(flags)
                    remaining -= 1
                }
            }
            if !offsets.isEmpty {
                deleted += offsets.count
                markDeleted(node: 0, entries: offsets, flagsOf: flagsList)
            }
            break
        }
        firstID = length == 0 ? .zero : (edgeID(first: true) ?? .zero)
        return deleted
    }

    /// The ID of the last entry (live or deleted) of node `i`.
    func lastEntryID(ofNode i: Int) -> StreamID? {
        let node = nodes[i]
        guard let last = Listpack.last(node.lp) else { return nil }
        let count = Int(Listpack.integer(node.lp, last))
        guard count > 0 else { return nil }
        var p = last
        for _ in 0..<count { p = Listpack.prev(node.lp, p)! }
        let ms = node.master.ms &+ UInt64(bitPattern: Listpack.integer(node.lp, Listpack.next(node.lp, p)!))
        let seqAt = Listpack.next(node.lp, Listpack.next(node.lp, p)!)!
        return StreamID(ms: ms, seq: node.master.seq &+ UInt64(bitPattern: Listpack.integer(node.lp, seqAt)))
    }

    // MARK: Groups

    func groupIndex(_ name: UnsafeRawBufferPointer) -> (found: Bool, index: Int) {
        indexByName(groups, name, \.name)
    }

    public func group(named name: UnsafeRawBufferPointer) -> StreamGroup? {
        let (found, i) = groupIndex(name)
        return found ? groups[i] : nil
    }

    /// Adds a group; nil if the name is taken.
    public func createGroup(named name: UnsafeRawBufferPointer, lastID: StreamID, entriesRead: Int64) -> StreamGroup? {
        let (found, i) = groupIndex(name)
        guard !found else { return nil }
        let g = StreamGroup(name: Array(name), lastID: lastID, entriesRead: entriesRead)
        groups.insert(g, at: i)
        return g
    }

    public func destroyGroup(named name: UnsafeRawBufferPointer) -> Bool {
        let (found, i) = groupIndex(name)
        if found { groups.remove(at: i) }
        return found
    }

    // MARK: Logical read counters (Redis 7's entries-read and lag)

    /// Redis's streamRangeHasTombstones.
    public func rangeHasTombstones(from start: StreamID?, to end: StreamID?) -> Bool {
        if length == 0 || maxDeletedEntryID == .zero { return false }
        if firstID > maxDeletedEntryID { return false }
        return (start ?? .zero) <= maxDeletedEntryID && maxDeletedEntryID <= (end ?? .max)
    }

    /// Redis's streamEstimateDistanceFromFirstEverEntry (-1: unknown).
    public func estimateDistanceFromFirstEverEntry(_ id: StreamID) -> Int64 {
        if entriesAdded == 0 { return 0 }
        if length == 0 && id <= lastID { return Int64(truncatingIfNeeded: entriesAdded) }
        if id == lastID { return Int64(truncatingIfNeeded: entriesAdded) }
        if id > lastID { return StreamGroup.invalidEntriesRead }
        if maxDeletedEntryID == .zero || maxDeletedEntryID < firstID {
            if id < firstID { return Int64(truncatingIfNeeded: entriesAdded) &- Int64(length) }
            if id == firstID { return Int64(truncatingIfNeeded: entriesAdded) &- Int64(length) &+ 1 }
        }
        return StreamGroup.invalidEntriesRead
    }

    /// The group's lag, or nil when it cannot be known (Redis's XINFO GROUPS "lag").
    public func lag(of g: StreamGroup) -> Int64? {
        if entriesAdded == 0 { return 0 }
        if g.entriesRead != StreamGroup.invalidEntriesRead && !rangeHasTombstones(from: g.lastID, to: nil) {
            return Int64(truncatingIfNeeded: entriesAdded) &- g.entriesRead
        }
        let read = estimateDistanceFromFirstEverEntry(g.lastID)
        return read == StreamGroup.invalidEntriesRead ? nil : Int64(truncatingIfNeeded: entriesAdded) &- read
    }

    // MARK: Copies

    /// A deep copy (COPY): nodes, metadata, groups, consumers and PELs.
    public func duplicate() -> Stream {
        let s = Stream()
        s.nodes = nodes.map { n in
            let size = Listpack.totalBytes(n.lp)
            let lp = malloc(size)!
            lp.copyMemory(from: n.lp, byteCount: size)
            return StreamNode(master: n.master, lp: lp)
        }
        s.length = length
        s.lastID = lastID
        s.firstID = firstID
        s.maxDeletedEntryID = maxDeletedEntryID
        s.entriesAdded = entriesAdded
        s.groups = groups.map { g in
            let ng = StreamGroup(name: g.name, lastID: g.lastID, entriesRead: g.entriesRead)
            var byOld: [ObjectIdentifier: StreamConsumer] = [:]
            ng.consumers = g.consumers.map { c in
                let nc = StreamConsumer(name: c.name, seenTime: c.seenTime)
                nc.activeTime = c.activeTime
                byOld[ObjectIdentifier(c)] = nc
                return nc
            }
            for (id, nack) in zip(g.pel.keys, g.pel.values) {
                let owner = nack.consumer.flatMap { byOld[ObjectIdentifier($0)] }
                let copy = StreamNACK(deliveryTime: nack.deliveryTime, deliveryCount: nack.deliveryCount, consumer: owner)
                ng.pel.insert(id, copy)
                owner?.pel.insert(id, copy)
            }
            return ng
        }
        return s
    }

    /// Bytes held (MEMORY USAGE-style estimate): nodes, and per-group bookkeeping.
    public var allocatedBytes: Int {
        var total = 64 + nodes.count * MemoryLayout<StreamNode>.stride
        for n in nodes { total += vk_malloc_usable_size(n.lp) }
        for g in groups { total += 64 + g.pel.count * 40 + g.consumers.count * 64 }
        return total
    }
}

// MARK: - Consumer group bookkeeping (XREADGROUP, XACK, XCLAIM, XAUTOCLAIM)

extension StreamGroup {
    /// Removes `id` from the group's PEL and its owner's; false if it was not pending.
    @discardableResult
    public func acknowledge(_ id: StreamID) -> Bool {
        guard let nack = pel.remove(id) else { return false }
        nack.consumer?.pel.remove(id)
        return true
    }

    /// Redis's streamReplyWithRange for a delivered entry: a new NACK owned by `consumer`, or
    /// the existing one (the group's last ID was moved back) handed to it with a count of 1.
    @discardableResult
    public func recordDelivery(_ id: StreamID, to consumer: StreamConsumer, now: Int64) -> StreamNACK {
        if let nack = pel[id] {
            nack.consumer?.pel.remove(id)
            nack.consumer = consumer
            nack.deliveryTime = now
            nack.deliveryCount = 1
            consumer.pel.insert(id, nack)
            return nack
        }
        let nack = StreamNACK(deliveryTime: now, deliveryCount: 1, consumer: consumer)
        pel.insert(id, nack)
        consumer.pel.insert(id, nack)
        return nack
    }

    /// Makes `consumer` the owner of the pending entry `id` (XCLAIM, XAUTOCLAIM).
    public func transfer(_ id: StreamID, _ nack: StreamNACK, to consumer: StreamConsumer) {
        guard nack.consumer !== consumer else { return }
        nack.consumer?.pel.remove(id)
        consumer.pel.insert(id, nack)
        nack.consumer = consumer
    }

    /// The consumer named `name`, created (seen now) if absent; `created` tells which.
    public func consumer(named name: UnsafeRawBufferPointer, creatingAt now: Int64) -> (StreamConsumer, created: Bool) {
        if let c = consumer(named: name) { return (c, false) }
        return (createConsumer(named: name, now: now)!, true)
    }
}

extension Stream {
    /// The last live entry's ID, 0-0 if none (Redis's streamLastValidID).
    public var lastValidID: StreamID { edgeID(first: false) ?? .zero }

    /// Moves a group's last delivered ID forward to `id`, keeping its entries-read counter
    /// as Redis 7.0's streamReplyWithRange does: counted on while valid with no tombstone
    /// ahead, else estimated from the stream's counters.
    public func advance(_ g: StreamGroup, to id: StreamID) {
        if g.entriesRead != StreamGroup.invalidEntriesRead && !rangeHasTombstones(from: id, to: nil) {
            g.entriesRead &+= 1
        } else if entriesAdded > 0 {
            g.entriesRead = estimateDistanceFromFirstEverEntry(id)
        }
        g.lastID = id
    }

    /// The number of nodes a Redis rax holding these nodes' master IDs has (XINFO's
    /// radix-tree-nodes): the canonical compressed trie of the 16-byte big-endian keys.
    /// A trie position is a rax node if it is the root, a child of a branching position,
    /// or itself branches or ends a key (so single-child chains fold into one node).
    public var radixTreeNodeCount: Int {
        let keys: [[UInt8]] = nodes.map { n in
            var k = [UInt8](repeating: 0, count: 16)
            for i in 0..<8 {
                k[i] = UInt8(truncatingIfNeeded: n.master.ms >> (56 - 8 * UInt64(i)))
                k[8 + i] = UInt8(truncatingIfNeeded: n.master.seq >> (56 - 8 * UInt64(i)))
            }
            return k
        }
        guard !keys.isEmpty else { return 1 }
        // children(depth d, group of keys sharing d bytes) = distinct bytes at d in the group.
        func groups(atDepth d: Int) -> [Range<Int>] {
            if d == 0 { return [0..<keys.count] }
            var result: [Range<Int>] = []
            var start = 0
            for i in 1...keys.count where i == keys.count || keys[i][0..<d] != keys[start][0..<d] {
                result.append(start..<i)
                start = i
            }
            return result
        }
        func childCount(_ r: Range<Int>, depth d: Int) -> Int {
            if d == 16 { return 0 }
            var n = 1
            for i in r.dropFirst() where keys[i][d] != keys[i - 1][d] { n += 1 }
            return n
        }
        var count = 1
        var parents = [(range: 0..<keys.count, children: childCount(0..<keys.count, depth: 0))]
        for d in 1...16 {
            var level: [(range: Range<Int>, children: Int)] = []
            var p = 0
            for g in groups(atDepth: d) {
                while !parents[p].range.contains(g.lowerBound) { p += 1 }
                let children = childCount(g, depth: d)
                if parents[p].children >= 2 || children != 1 { count += 1 }
                level.append((g, children))
            }
            parents = level
        }
        return count
    }
}
