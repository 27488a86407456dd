import CShim
import RESP
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `list-max-listpack-size` (alias `list-max-ziplist-size`): how full a quicklist node may
/// grow. Negative: a byte limit (-1 4 KB ... -5 64 KB); positive: an element count (nodes
/// then stay under 8 KB too). RDB loads read it too, so it lives here; LiveConfig
/// publishes it. A list keeps the value it was created with, as a Redis quicklist does.
public enum ListLimits {
    public static let fill = Atomic<Int>(-2)  // clamped by ListValue.init as quicklistSetFill
    /// `list-compress-depth`: how many nodes at each end stay uncompressed (0: none is compressed).
    public static let compressDepth = Atomic<Int>(0)
    /// quicklist.c's packed_threshold: an element of at least this many bytes lives in a node
    /// of its own that takes no other element (Redis's PLAIN node). 1 GB unless a test lowers
    /// it (DEBUG QUICKLIST-PACKED-THRESHOLD).
    public static let defaultPackedThreshold = 1 << 30
    public static let packedThreshold = Atomic<Int>(defaultPackedThreshold)

    /// quicklistisSetPackedThreshold: 0 restores the default; false above 4 GB - 1 MB.
    public static func setPackedThreshold(_ bytes: UInt64) -> Bool {
        guard bytes <= (1 << 32) - (1 << 20) else { return false }
        packedThreshold.store(bytes == 0 ? defaultPackedThreshold : Int(bytes), ordering: .relaxed)
        return true
    }
}

/// A list (Redis 7.0's quicklist.c): listpack nodes kept in one array, head first. Redis
/// 7.0 has no listpack encoding for small lists (7.2 added it): every list is a quicklist,
/// a small one with one node. Nodes fill as `_quicklistNodeAllowInsert` lets them (a node
/// takes an element while its bytes stay within the level the fill gives), so node
/// boundaries and the RDB written are Redis's.
///
/// With a compress depth d > 0 (`list-compress-depth`), the nodes more than d from either end
/// are kept LZF-compressed as Redis's (__quicklistCompressNode: 48 bytes at least, and only if
/// it saves 8). Every access to a node goes through `lp(_:)`, which decompresses a compressed
/// one; a middle node decompressed so is compressed again by `settle()`, which pushes and pops
/// call at their end and list commands call when they look a list up (a command's cursors
/// stay valid until then). LRANGE's walk compresses each middle node again as it leaves it.
///
/// Positions are element indexes from the head (0-based); a `Cursor` is a node and a byte
/// offset inside its listpack. Elements are read through `Listpack.withBytes`, so replies
/// copy bytes straight from the nodes.
public final class ListValue {
    struct Node {
        /// The node's listpack, or while `rawBytes > 0` the LZF compression of it
        /// (`storedBytes` long). Read it through `ListValue.lp(_:)`.
        var storage: UnsafeMutableRawPointer
        var count: Int
        /// The listpack's size while the node is compressed; 0 while `storage` is the listpack.
        var rawBytes: Int32 = 0
        var storedBytes: Int32 = 0
        /// Decompressed for an access while in the compressed middle: `settle()` compresses it.
        var recompress = false

        init(lp: UnsafeMutableRawPointer, count: Int) {
            storage = lp
            self.count = count
        }

        var isCompressed: Bool { rawBytes != 0 }
    }

    public struct Cursor {
        public var node: Int
        public var offset: Int
        public init(node: Int, offset: Int) { self.node = node; self.offset = offset }
    }

    var nodes: [Node] = []
    public private(set) var count = 0
    /// The node fill this list was created with (quicklist->fill).
    public let fill: Int
    /// Nodes kept uncompressed at each end (quicklist->compress; 0: nothing is compressed).
    public let compressDepth: Int
    /// A middle node was decompressed for an access, or nodes came or went: `settle()` has work.
    private var needsSettle = false
    /// Elements promised to cross-shard BLMOVEs woken for this list whose locked move has
    /// not looked at it yet (never saved or copied): later waiters are only woken for the rest.
    public var reservedForMoves = 0
    /// One element's encoding, reused so pushes do not allocate.
    private var scratch: [UInt8] = []

    public init(fill: Int? = nil, compressDepth: Int? = nil) {
        self.fill = min(max(fill ?? ListLimits.fill.load(ordering: .relaxed), -5), 1 << 15)
        // quicklistSetCompressDepth: at most COMPRESS_MAX (2^16 - 1).
        self.compressDepth = min(max(compressDepth ?? ListLimits.compressDepth.load(ordering: .relaxed), 0), 65535)
        scratch.reserveCapacity(64)
    }

    deinit { for n in nodes { free(n.storage) } }

    public var nodeCount: Int { nodes.count }

    /// The listpacks' bytes, compressed nodes counted at their listpack size (DEBUG OBJECT's
    /// ql_uncompressed_size).
    public var uncompressedBytes: Int {
        nodes.reduce(0) { $0 + ($1.isCompressed ? Int($1.rawBytes) : Listpack.totalBytes($1.storage)) }
    }

    // MARK: Compression (quicklist.c's __quicklistCompress and friends)

    /// Node `i`'s listpack, decompressed first if it was compressed.
    @inline(__always)
    func lp(_ i: Int) -> UnsafeMutableRawPointer {
        if nodes[i].isCompressed { decompress(i) }
        return nodes[i].storage
    }

    /// The offset of node `i`'s terminator (its elements end there).
    public func nodeEnd(_ i: Int) -> Int { Listpack.totalBytes(lp(i)) - 1 }

    @inline(never)
    private func decompress(_ i: Int) {
        let raw = Int(nodes[i].rawBytes)
        let lp = malloc(raw)!
        let n = LZF.decompress(UnsafeRawBufferPointer(start: nodes[i].storage, count: Int(nodes[i].storedBytes)),
                               into: UnsafeMutableRawBufferPointer(start: lp, count: raw))
        precondition(n == raw, "a compressed list node does not decompress to its size")
        free(nodes[i].storage)
        nodes[i].storage = lp
        nodes[i].rawBytes = 0
        nodes[i].storedBytes = 0
        if isMiddle(i) {
            nodes[i].recompress = true
            needsSettle = true
        }
    }

    /// Whether node `i` lies in the compressed middle (more than compressDepth from each end).
    @inline(__always)
    private func isMiddle(_ i: Int) -> Bool {
        compressDepth > 0 && i >= compressDepth && i < nodes.count - compressDepth
    }

    /// __quicklistCompressNode: LZF in place if the listpack has 48 bytes or more and the
    /// compression saves at least 8 (else it stays as it is).
    private func compress(_ i: Int) {
        nodes[i].recompress = false
        guard !nodes[i].isCompressed else { return }
        let lp = nodes[i].storage
        let size = Listpack.totalBytes(lp)
        guard size >= 48 else { return }
        let out = malloc(size)!
        let n = LZFCompressor.ofThisThread.compress(UnsafeRawBufferPointer(start: lp, count: size),
                                                    into: UnsafeMutableRawBufferPointer(start: out, count: size))
        guard n > 0 && n + 8 < size else { free(out); return }
        free(lp)
        nodes[i].storage = realloc(out, n)!
        nodes[i].rawBytes = Int32(size)
        nodes[i].storedBytes = Int32(n)
    }

    /// Compresses the middle nodes that an access decompressed and those that pushes moved
    /// into the middle. Cursors into the middle are invalid afterwards.
    public func settle() {
        guard needsSettle else { return }
        needsSettle = false
        let n = nodes.count, d = compressDepth
        guard d > 0, n > 2 * d else { return }
        for i in d..<(n - d) where nodes[i].recompress { compress(i) }
        // Nodes cross into the middle one at a time at each end as the list grows.
        compress(d)
        compress(n - 1 - d)
    }

    /// After nodes were added or removed: the middle may have new members.
    @inline(__always)
    private func nodesChanged() {
        if compressDepth > 0 { needsSettle = true }
    }

    /// Compresses every middle node (a list read whole from an RDB file).
    func compressMiddle() {
        let n = nodes.count, d = compressDepth
        guard d > 0, n > 2 * d else { return }
        for i in d..<(n - d) { compress(i) }
    }

    /// Calls `body` with node `i`'s listpack without changing the node (a compressed one is
    /// decompressed into a temporary copy): snapshots, digests.
    func withListpack<R>(_ i: Int, _ body: (UnsafeMutableRawPointer) throws -> R) rethrows -> R {
        guard nodes[i].isCompressed else { return try body(nodes[i].storage) }
        let raw = Int(nodes[i].rawBytes)
        let copy = malloc(raw)!
        defer { free(copy) }
        let n = LZF.decompress(UnsafeRawBufferPointer(start: nodes[i].storage, count: Int(nodes[i].storedBytes)),
                               into: UnsafeMutableRawBufferPointer(start: copy, count: raw))
        precondition(n == raw, "a compressed list node does not decompress to its size")
        return try body(copy)
    }

    // MARK: Node fill (quicklist.c)

    private static let optimizationLevel = [4096, 8192, 16384, 32768, 65536]
    private static let sizeSafetyLimit = 8192
    private static let sizeEstimateOverhead = 8
    /// A one-element listpack's bytes besides the element's own: header, end byte, and at
    /// least one byte each of the entry's encoding and back length.
    private static let singleElementOverhead = Listpack.headerSize + 3

    /// _quicklistNodeAllowInsert: may node `i` take an element of `size` bytes?
    @inline(__always)
    func allowInsert(_ i: Int, size: Int) -> Bool {
        let node = nodes[i]
        guard node.count < 65535 else { return false }
        let listpackBytes = node.isCompressed ? Int(node.rawBytes) : Listpack.totalBytes(node.storage)
        // A large element, or a node holding one, stays alone (QL_NODE_IS_PLAIN, isLargeElement).
        let threshold = ListLimits.packedThreshold.load(ordering: .relaxed)
        if size >= threshold || (node.count == 1 && listpackBytes - ListValue.singleElementOverhead >= threshold) {
            return false
        }
        let newSize = listpackBytes + size + ListValue.sizeEstimateOverhead
        if fill < 0 {
            let level = -fill - 1
            return level < ListValue.optimizationLevel.count && newSize <= ListValue.optimizationLevel[level]
        }
        return newSize <= ListValue.sizeSafetyLimit && node.count < fill
    }

    private func newNode(with encoded: [UInt8]) -> Node {
        var lp = Listpack.new(capacity: Listpack.headerSize + 1 + encoded.count)
        Listpack.append(&lp, encoded: encoded, count: 1)
        return Node(lp: lp, count: 1)
    }

    // MARK: Push and pop

    /// LPUSH (`head`) or RPUSH of one element.
    public func push(_ v: UnsafeRawBufferPointer, head: Bool) {
        scratch.removeAll(keepingCapacity: true)
        Listpack.encode(string: v, into: &scratch)
        if head {
            if !nodes.isEmpty && allowInsert(0, size: v.count) {
                _ = lp(0)
                Listpack.insert(&nodes[0].storage, encoded: scratch, count: 1, at: Listpack.headerSize)
                nodes[0].count += 1
            } else {
                if !nodes.isEmpty { shrinkFull(0) }
                nodes.insert(newNode(with: scratch), at: 0)
                nodesChanged()
            }
        } else {
            let last = nodes.count - 1
            if last >= 0 && allowInsert(last, size: v.count) {
                _ = lp(last)
                Listpack.append(&nodes[last].storage, encoded: scratch, count: 1)
                nodes[last].count += 1
            } else {
                if last >= 0 { shrinkFull(last) }
                nodes.append(newNode(with: scratch))
                nodesChanged()
            }
        }
        count += 1
        if needsSettle { settle() }
    }

    /// A node that takes no more pushes gives back the slack its growth left (Redis reallocs
    /// a listpack to its exact size on every insert): 8 KB nodes would otherwise sit in
    /// 10 KB blocks.
    private func shrinkFull(_ i: Int) {
        guard !nodes[i].isCompressed else { return }
        Listpack.shrinkToFit(&nodes[i].storage)
    }

    /// The first (`head`) or last element, if any.
    public func withEnd<R>(head: Bool, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R? {
        guard let c = head ? first : last else { return nil }
        return try Listpack.withBytes(lp(c.node), c.offset, body)
    }

    /// Removes the first `n` elements (`head`) or the last `n`.
    public func removeEnds(_ n: Int, head: Bool) {
        var left = min(n, count)
        count -= left
        while left > 0 {
            let i = head ? 0 : nodes.count - 1
            if nodes[i].count <= left {
                left -= nodes[i].count
                free(nodes[i].storage)
                nodes.remove(at: i)
                nodesChanged()
                continue
            }
            let lp = self.lp(i)
            if head {
                var end = Listpack.headerSize
                for _ in 0..<left { end = Listpack.end(lp, end) }
                Listpack.delete(&nodes[i].storage, from: Listpack.headerSize, to: end, count: left)
            } else {
                var start = Listpack.totalBytes(lp) - 1
                for _ in 0..<left { start = Listpack.prev(lp, start)! }
                Listpack.delete(&nodes[i].storage, from: start, to: Listpack.totalBytes(lp) - 1, count: left)
            }
            nodes[i].count -= left
            left = 0
        }
        if needsSettle { settle() }
    }

    // MARK: Positions

    public var first: Cursor? { nodes.isEmpty ? nil : Cursor(node: 0, offset: Listpack.headerSize) }
    public var last: Cursor? {
        guard !nodes.isEmpty else { return nil }
        return Cursor(node: nodes.count - 1, offset: Listpack.last(lp(nodes.count - 1))!)
    }

    /// The element at `index` (0..<count), walking from the nearer end of the list and then
    /// of its node.
    public func cursor(at index: Int) -> Cursor? {
        guard index >= 0 && index < count else { return nil }
        var node: Int, within: Int
        if index < count / 2 {
            node = 0
            within = index
            while within >= nodes[node].count { within -= nodes[node].count; node += 1 }
        } else {
            node = nodes.count - 1
            var fromEnd = count - 1 - index
            while fromEnd >= nodes[node].count { fromEnd -= nodes[node].count; node -= 1 }
            within = nodes[node].count - 1 - fromEnd
        }
        let lp = self.lp(node)
        var offset: Int
        if within <= nodes[node].count / 2 {
            offset = Listpack.headerSize
            for _ in 0..<within { offset = Listpack.end(lp, offset) }
        } else {
            offset = Listpack.last(lp)!
            for _ in 0..<(nodes[node].count - 1 - within) { offset = Listpack.prev(lp, offset)! }
        }
        return Cursor(node: node, offset: offset)
    }

    /// Moves to the next element (towards the tail); false past the end.
    @inline(__always)
    public func advance(_ c: inout Cursor) -> Bool {
        if let n = Listpack.next(lp(c.node), c.offset) { c.offset = n; return true }
        guard c.node + 1 < nodes.count else { return false }
        c.node += 1
        c.offset = Listpack.headerSize
        return true
    }

    /// Moves to the previous element (towards the head); false past the start.
    @inline(__always)
    public func retreat(_ c: inout Cursor) -> Bool {
        if let p = Listpack.prev(lp(c.node), c.offset) { c.offset = p; return true }
        guard c.node > 0 else { return false }
        c.node -= 1
        c.offset = Listpack.last(lp(c.node))!
        return true
    }

    @inline(__always)
    public func withElement<R>(_ c: Cursor, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Listpack.withBytes(lp(c.node), c.offset, body)
    }

    @inline(__always)
    public func elementEquals(_ c: Cursor, _ v: UnsafeRawBufferPointer) -> Bool {
        Listpack.equals(lp(c.node), c.offset, v)
    }

    /// Calls `body` with `n` elements from `index` on, towards the tail or (`reverse`) the
    /// head, until it returns false.
    public func forEach(from index: Int, reverse: Bool = false, limit n: Int = .max,
                        _ body: (UnsafeRawBufferPointer) throws -> Bool) rethrows {
        guard n > 0, var c = cursor(at: index) else { return }
        var left = n
        // A middle node decompressed for the walk is compressed again once it is left.
        defer { if nodes.indices.contains(c.node) && nodes[c.node].recompress { compress(c.node) } }
        while true {
            guard try withElement(c, body) else { return }
            left -= 1
            if left == 0 { return }
            let node = c.node
            guard reverse ? retreat(&c) : advance(&c) else { return }
            if c.node != node && nodes[node].recompress { compress(node) }
        }
    }

    // MARK: Editing

    /// LSET: the element at `c` becomes `v`.
    public func replace(_ c: Cursor, with v: UnsafeRawBufferPointer) {
        _ = lp(c.node)
        Listpack.replace(&nodes[c.node].storage, at: c.offset, withString: v)
    }

    /// Removes the element at `c`; `c` then points at the element that followed it in its
    /// node, or is nil when its node is gone or it was the node's last (`advance`-free
    /// callers should recompute). Returns true if the node was removed.
    @discardableResult
    public func remove(at c: Cursor) -> Bool {
        let lp = self.lp(c.node)
        Listpack.delete(&nodes[c.node].storage, from: c.offset, to: Listpack.end(lp, c.offset), count: 1)
        nodes[c.node].count -= 1
        count -= 1
        if nodes[c.node].count == 0 {
            free(nodes[c.node].storage)
            nodes.remove(at: c.node)
            nodesChanged()
            return true
        }
        return false
    }

    /// LINSERT: `v` before or after the element at `c`. A full node takes it in a neighbour
    /// that has room when it goes at the node's edge, else the node is split there (as
    /// _quicklistInsert).
    public func insert(_ v: UnsafeRawBufferPointer, at c: Cursor, after: Bool) {
        scratch.removeAll(keepingCapacity: true)
        Listpack.encode(string: v, into: &scratch)
        count += 1
        nodesChanged()  // wherever it goes, the middle may need compressing at the next settle
        let lp = self.lp(c.node)
        let at = after ? Listpack.end(lp, c.offset) : c.offset
        if allowInsert(c.node, size: v.count) {
            Listpack.insert(&nodes[c.node].storage, encoded: scratch, count: 1, at: at)
            nodes[c.node].count += 1
            return
        }
        let atTail = at == Listpack.totalBytes(lp) - 1
        let atHead = at == Listpack.headerSize
        if atTail {
            if c.node + 1 < nodes.count && allowInsert(c.node + 1, size: v.count) {
                _ = self.lp(c.node + 1)
                Listpack.insert(&nodes[c.node + 1].storage, encoded: scratch, count: 1, at: Listpack.headerSize)
                nodes[c.node + 1].count += 1
            } else {
                insertNode(newNode(with: scratch), at: c.node + 1)
            }
            return
        }
        if atHead {
            if c.node > 0 && allowInsert(c.node - 1, size: v.count) {
                _ = self.lp(c.node - 1)
                Listpack.append(&nodes[c.node - 1].storage, encoded: scratch, count: 1)
                nodes[c.node - 1].count += 1
            } else {
                insertNode(newNode(with: scratch), at: c.node)
            }
            return
        }
        // Split: the elements from `at` on move to a new node after this one.
        var moved = 0
        var p: Int? = at
        while let q = p { moved += 1; p = Listpack.next(lp, q) }
        let total = Listpack.totalBytes(lp)
        let tailBytes = total - 1 - at
        var tail = Listpack.new(capacity: Listpack.headerSize + 1 + tailBytes)
        let tailRaw = [UInt8](UnsafeRawBufferPointer(start: lp + at, count: tailBytes))
        Listpack.append(&tail, encoded: tailRaw, count: moved)
        Listpack.delete(&nodes[c.node].storage, from: at, to: total - 1, count: moved)
        nodes[c.node].count -= moved
        Listpack.append(&nodes[c.node].storage, encoded: scratch, count: 1)
        nodes[c.node].count += 1
        insertNode(Node(lp: tail, count: moved), at: c.node + 1)
    }

    /// A node LINSERT adds inside the list: marked so that `settle` compresses it if it
    /// lies in the middle (pushes add theirs at the ends, where `settle` looks anyway).
    private func insertNode(_ node: Node, at i: Int) {
        var node = node
        node.recompress = compressDepth > 0
        nodes.insert(node, at: i)
    }

    // MARK: Building

    /// Appends a whole listpack as a node (RDB load); the list takes ownership.
    func appendNode(_ lp: UnsafeMutableRawPointer, count n: Int) {
        nodes.append(Node(lp: lp, count: n))
        count += n
    }

    /// A copy (COPY, a snapshot's copy): compressed nodes are copied compressed.
    public func duplicate() -> ListValue {
        let copy = ListValue(fill: fill, compressDepth: compressDepth)
        for n in nodes {
            let size = n.isCompressed ? Int(n.storedBytes) : Listpack.totalBytes(n.storage)
            let storage = malloc(size)!
            storage.copyMemory(from: n.storage, byteCount: size)
            var node = n
            node.storage = storage
            node.recompress = false
            copy.nodes.append(node)
            copy.count += n.count
        }
        copy.needsSettle = copy.compressDepth > 0
        return copy
    }
}
