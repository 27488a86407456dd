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
}

/// A list (Redis 7.0's quicklist.c): listpack nodes kept in one array, head first. Redis
/// 7.0 has no listpack encoding for small lists (7.2 added it): every list is a quicklist,
/// a small one with one node. Nodes fill as `_quicklistNodeAllowInsert` lets them (a node
/// takes an element while its bytes stay within the level the fill gives), so node
/// boundaries and the RDB written are Redis's. Nodes are not compressed in memory
/// (`list-compress-depth` is accepted and not applied).
///
/// Positions are element indexes from the head (0-based); a `Cursor` is a node and a byte
/// offset inside its listpack. Elements are read through `Listpack.withBytes`, so replies
/// copy bytes straight from the nodes.
public final class ListValue {
    public struct Node {
        public var lp: UnsafeMutableRawPointer
        public var count: Int
    }

    public struct Cursor {
        public var node: Int
        public var offset: Int
        public init(node: Int, offset: Int) { self.node = node; self.offset = offset }
    }

    public internal(set) var nodes: [Node] = []
    public private(set) var count = 0
    /// The node fill this list was created with (quicklist->fill).
    public let fill: Int
    /// Elements promised to cross-shard BLMOVEs woken for this list whose locked move has
    /// not looked at it yet (never saved or copied): later waiters are only woken for the rest.
    public var reservedForMoves = 0
    /// One element's encoding, reused so pushes do not allocate.
    private var scratch: [UInt8] = []

    public init(fill: Int? = nil) {
        self.fill = min(max(fill ?? ListLimits.fill.load(ordering: .relaxed), -5), 1 << 15)
        scratch.reserveCapacity(64)
    }

    deinit { for n in nodes { free(n.lp) } }

    // MARK: Node fill (quicklist.c)

    private static let optimizationLevel = [4096, 8192, 16384, 32768, 65536]
    private static let sizeSafetyLimit = 8192
    private static let sizeEstimateOverhead = 8

    /// _quicklistNodeAllowInsert: may `node` take an element of `size` bytes?
    @inline(__always)
    func allowInsert(_ node: Node, size: Int) -> Bool {
        guard node.count < 65535 else { return false }
        let newSize = Listpack.totalBytes(node.lp) + size + ListValue.sizeEstimateOverhead
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
            if !nodes.isEmpty && allowInsert(nodes[0], size: v.count) {
                Listpack.insert(&nodes[0].lp, encoded: scratch, count: 1, at: Listpack.headerSize)
                nodes[0].count += 1
            } else {
                nodes.insert(newNode(with: scratch), at: 0)
            }
        } else {
            let last = nodes.count - 1
            if last >= 0 && allowInsert(nodes[last], size: v.count) {
                Listpack.append(&nodes[last].lp, encoded: scratch, count: 1)
                nodes[last].count += 1
            } else {
                nodes.append(newNode(with: scratch))
            }
        }
        count += 1
    }

    /// The first (`head`) or last element, if any.
    public func withEnd<R>(head: Bool, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R? {
        guard let c = head ? first : last else { return nil }
        return try Listpack.withBytes(nodes[c.node].lp, c.offset, body)
    }

    /// Removes the first `n` elements (`head`) or the last `n`.
    public func removeEnds(_ n: Int, head: Bool) {
        var left = min(n, count)
        count -= left
        while left > 0 {
            let i = head ? 0 : nodes.count - 1
            if nodes[i].count <= left {
                left -= nodes[i].count
                free(nodes[i].lp)
                nodes.remove(at: i)
                continue
            }
            let lp = nodes[i].lp
            if head {
                var end = Listpack.headerSize
                for _ in 0..<left { end = Listpack.end(lp, end) }
                Listpack.delete(&nodes[i].lp, from: Listpack.headerSize, to: end, count: left)
            } else {
                var start = Listpack.totalBytes(lp) - 1
                for _ in 0..<left { start = Listpack.prev(lp, start)! }
                Listpack.delete(&nodes[i].lp, from: start, to: Listpack.totalBytes(lp) - 1, count: left)
            }
            nodes[i].count -= left
            left = 0
        }
    }

    // MARK: Positions

    public var first: Cursor? { nodes.isEmpty ? nil : Cursor(node: 0, offset: Listpack.headerSize) }
    public var last: Cursor? {
        guard let lastNode = nodes.last else { return nil }
        return Cursor(node: nodes.count - 1, offset: Listpack.last(lastNode.lp)!)
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
        let lp = nodes[node].lp
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
        if let n = Listpack.next(nodes[c.node].lp, c.offset) { c.offset = n; return true }
        guard c.node + 1 < nodes.count else { return false }
        c.node += 1
        c.offset = Listpack.headerSize
        return true
    }

    /// Moves to the previous element (towards the head); false past the start.
    @inline(__always)
    public func retreat(_ c: inout Cursor) -> Bool {
        if let p = Listpack.prev(nodes[c.node].lp, c.offset) { c.offset = p; return true }
        guard c.node > 0 else { return false }
        c.node -= 1
        c.offset = Listpack.last(nodes[c.node].lp)!
        return true
    }

    @inline(__always)
    public func withElement<R>(_ c: Cursor, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Listpack.withBytes(nodes[c.node].lp, c.offset, body)
    }

    @inline(__always)
    public func elementEquals(_ c: Cursor, _ v: UnsafeRawBufferPointer) -> Bool {
        Listpack.equals(nodes[c.node].lp, c.offset, v)
    }

    /// Calls `body` with `n` elements from `index` on, towards the tail or (`reverse`) the
    /// head, until it returns false.
    public func forEach(from index: Int, reverse: Bool = false, limit n: Int = .max,
                        _ body: (UnsafeRawBufferPointer) throws -> Bool) rethrows {
        guard n > 0, var c = cursor(at: index) else { return }
        var left = n
        while true {
            guard try withElement(c, body) else { return }
            left -= 1
            if left == 0 { return }
            guard reverse ? retreat(&c) : advance(&c) else { return }
        }
    }

    // MARK: Editing

    /// LSET: the element at `c` becomes `v`.
    public func replace(_ c: Cursor, with v: UnsafeRawBufferPointer) {
        Listpack.replace(&nodes[c.node].lp, at: c.offset, withString: v)
    }

    /// Removes the element at `c`; `c` then points at the element that followed it in its
    /// node, or is nil when its node is gone or it was the node's last (`advance`-free
    /// callers should recompute). Returns true if the node was removed.
    @discardableResult
    public func remove(at c: Cursor) -> Bool {
        let lp = nodes[c.node].lp
        Listpack.delete(&nodes[c.node].lp, from: c.offset, to: Listpack.end(lp, c.offset), count: 1)
        nodes[c.node].count -= 1
        count -= 1
        if nodes[c.node].count == 0 {
            free(nodes[c.node].lp)
            nodes.remove(at: c.node)
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
        let lp = nodes[c.node].lp
        let at = after ? Listpack.end(lp, c.offset) : c.offset
        if allowInsert(nodes[c.node], size: v.count) {
            Listpack.insert(&nodes[c.node].lp, encoded: scratch, count: 1, at: at)
            nodes[c.node].count += 1
            return
        }
        let atTail = at == Listpack.totalBytes(lp) - 1
        let atHead = at == Listpack.headerSize
        if atTail {
            if c.node + 1 < nodes.count && allowInsert(nodes[c.node + 1], size: v.count) {
                Listpack.insert(&nodes[c.node + 1].lp, encoded: scratch, count: 1, at: Listpack.headerSize)
                nodes[c.node + 1].count += 1
            } else {
                nodes.insert(newNode(with: scratch), at: c.node + 1)
            }
            return
        }
        if atHead {
            if c.node > 0 && allowInsert(nodes[c.node - 1], size: v.count) {
                Listpack.append(&nodes[c.node - 1].lp, encoded: scratch, count: 1)
                nodes[c.node - 1].count += 1
            } else {
                nodes.insert(newNode(with: scratch), at: c.node)
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
        Listpack.delete(&nodes[c.node].lp, from: at, to: total - 1, count: moved)
        nodes[c.node].count -= moved
        Listpack.append(&nodes[c.node].lp, encoded: scratch, count: 1)
        nodes[c.node].count += 1
        nodes.insert(Node(lp: tail, count: moved), at: c.node + 1)
    }

    // MARK: Building

    /// Appends a whole listpack as a node (RDB load); the list takes ownership.
    func appendNode(_ lp: UnsafeMutableRawPointer, count n: Int) {
        nodes.append(Node(lp: lp, count: n))
        count += n
    }

    public func duplicate() -> ListValue {
        let copy = ListValue(fill: fill)
        for n in nodes {
            let size = Listpack.totalBytes(n.lp)
            let lp = malloc(size)!
            lp.copyMemory(from: n.lp, byteCount: size)
            copy.appendNode(lp, count: n.count)
        }
        return copy
    }
}
