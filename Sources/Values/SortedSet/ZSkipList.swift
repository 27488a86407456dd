#if canImport(Glibc)
import Glibc
#endif

/// The big sorted set's encoding (Redis's "skiplist": zskiplist + dict): a skiplist ordered
/// by (score, member) whose links carry spans, so rank, nth-element and range bounds are
/// O(log n), plus a member -> node index for O(1) ZSCORE and finding a member to delete.
///
/// Why a skiplist and not an order-statistic B+tree (Dragonfly's sorted_map, ~40% leaner):
/// Redis's algorithm is short, well known and its span arithmetic can be checked against
/// a sorted-array model in a unit test. The leanness comes from the layout instead, with
/// no heap object per member (Redis: a node with its level array, an sds, a dictEntry and
/// a bucket, ~112 B for a 13-byte member; here ~75):
/// - nodes are 24-byte records in one array, addressed by Int32; their levels (forward,
///   span, and the forward node's level block and score: 24 bytes each, 1.33 per node on
///   average) in a second array;
/// - member bytes are packed, length first, in one byte arena; a removed member leaves
///   garbage there, compacted (walking the list) once it passes half of the arena;
/// - the member index is an open-addressing table of 8-byte slots (32-bit hash, node id),
///   linear probing with backward-shift deletion, compared against the arena's bytes:
///   no key copy, and the member is hashed once per lookup with one bulk SipHash.
/// A score change that keeps a node between its neighbours is made in place; one that
/// moves it relinks the same node (zslUpdateScore), its member bytes untouched.
public final class ZSkipList {
    static let maxLevel = 32

    struct Level {
        var forward: Int32 = 0   // 0: none (slot 0 is the header, never a successor)
        var span: Int32 = 0
        /// The forward node's level block and score, copied here: a descent decides and
        /// moves on from this entry alone, one cache line per step as in Redis's nodes
        /// (where the levels live in the node), instead of also touching the node array.
        var forwardBase: Int32 = 0
        var forwardScore: Double = 0
    }

    struct Node {
        var score: Double
        /// The member's record in the arena (low 40 bits), the low 18 bits of the member's
        /// hash (the next 18: a pop finds the node's index slot without hashing the member
        /// again) and the node's height (high 6).
        var ref: UInt64
        var backward: Int32      // 0: none (the first node)
        var levelBase: Int32     // its `height` levels in `levels` from here

        @inline(__always) var memberOffset: Int { Int(ref & ZSkipList.offsetMask) }
        @inline(__always) var height: Int { Int(ref >> ZSkipList.heightShift) }
        @inline(__always) var hashTag: Int { Int((ref >> ZSkipList.offsetBits) & ZSkipList.hashTagMask) }
    }

    static let offsetBits: UInt64 = 40
    static let offsetMask: UInt64 = (1 << 40) - 1
    static let hashTagBits: UInt64 = 18
    static let hashTagMask: UInt64 = (1 << 18) - 1
    static let heightShift: UInt64 = 58
    static let recordHeader = 4  // u32 member length

    /// Node 0 is the header. Raw growable buffers rather than arrays: no bounds or
    /// uniqueness check on the hot walks, and growth by half rather than doubling.
    var nodes: UnsafeMutablePointer<Node>
    var nodeCount = 1
    var nodeCapacity = 16
    var levels: UnsafeMutablePointer<Level>
    var levelCount = ZSkipList.maxLevel
    var levelCapacity = 64
    var freeSlots: [Int32] = []
    /// Released level blocks by height, for reuse.
    var freeLevels = [[Int32]](repeating: [], count: ZSkipList.maxLevel + 1)
    var tail: Int32 = 0
    public private(set) var count = 0
    var level = 1
    var random: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// Member records: u32 length, then the bytes.
    var arena: UnsafeMutableRawPointer
    var arenaCapacity = 64
    var arenaUsed = 0
    var garbage = 0

    /// Member -> node: slots of (hash << 32 | node id), 0 empty; a power-of-two count.
    var slots: UnsafeMutablePointer<UInt64>
    var slotCapacity = 8

    public init() {
        nodes = malloc(nodeCapacity * MemoryLayout<Node>.stride)!.bindMemory(to: Node.self, capacity: nodeCapacity)
        nodes[0] = Node(score: 0, ref: UInt64(ZSkipList.maxLevel) << ZSkipList.heightShift, backward: 0, levelBase: 0)
        levels = calloc(levelCapacity, MemoryLayout<Level>.stride)!.bindMemory(to: Level.self, capacity: levelCapacity)
        arena = malloc(arenaCapacity)!
        slots = calloc(slotCapacity, 8)!.bindMemory(to: UInt64.self, capacity: slotCapacity)
    }

    deinit {
        free(nodes)
        free(levels)
        free(arena)
        free(slots)
    }

    /// Capacity for `needed` elements: doubling while small, then by half.
    private static func grown(_ capacity: Int, toHold needed: Int) -> Int {
        var c = capacity
        while c < needed { c = c < 1 << 16 ? c * 2 : c + c / 2 }
        return c
    }

    /// Where node `n`'s level `i` is in `levels`.
    @inline(__always) func at(_ n: Int32, _ i: Int) -> Int { Int(nodes[Int(n)].levelBase) + i }

    // MARK: Members

    /// Node `n`'s member bytes (valid until the next write).
    @inline(__always) func member(_ n: Int32) -> UnsafeRawBufferPointer {
        let o = nodes[Int(n)].memberOffset
        let length = Int(arena.loadUnaligned(fromByteOffset: o, as: UInt32.self))
        return UnsafeRawBufferPointer(start: arena + o + ZSkipList.recordHeader, count: length)
    }

    private func appendMember(_ m: UnsafeRawBufferPointer) -> Int {
        let size = ZSkipList.recordHeader + m.count
        if arenaUsed + size > arenaCapacity {
            var c = arenaCapacity
            while arenaUsed + size > c { c = c < 1 << 20 ? c * 2 : c + c / 2 }
            arena = realloc(arena, c)!
            arenaCapacity = c
        }
        let o = arenaUsed
        precondition(UInt64(o) <= ZSkipList.offsetMask, "zset member arena past 2^40 bytes")
        arena.storeBytes(of: UInt32(m.count), toByteOffset: o, as: UInt32.self)
        if m.count > 0 { (arena + o + ZSkipList.recordHeader).copyMemory(from: m.baseAddress!, byteCount: m.count) }
        arenaUsed += size
        return o
    }

    /// Copies the live members into a fresh arena in list order, once garbage passes half.
    private func compactIfWasteful() {
        guard garbage > 4096 && garbage * 2 > arenaUsed else { return }
        let live = arenaUsed - garbage
        let capacity = max(64, live + live / 4)
        let fresh = malloc(capacity)!
        var used = 0
        var x = levels[0].forward
        while x != 0 {
            let o = nodes[Int(x)].memberOffset
            let size = ZSkipList.recordHeader + Int(arena.loadUnaligned(fromByteOffset: o, as: UInt32.self))
            (fresh + used).copyMemory(from: arena + o, byteCount: size)
            nodes[Int(x)].ref = nodes[Int(x)].ref & ~ZSkipList.offsetMask | UInt64(used)
            used += size
            x = levels[at(x, 0)].forward
        }
        free(arena)
        arena = fresh
        arenaCapacity = capacity
        arenaUsed = used
        garbage = 0
    }

    // MARK: Member index

    @inline(__always) private var slotMask: Int { slotCapacity - 1 }

    /// The slot holding `m` (hashed `h`), or nil.
    private func findSlot(_ m: UnsafeRawBufferPointer, hash h: UInt32) -> Int? {
        var i = Int(h) & slotMask
        while true {
            let s = slots[i]
            if s == 0 { return nil }
            if UInt32(truncatingIfNeeded: s >> 32) == h {
                let n = Int32(truncatingIfNeeded: s)
                let b = member(n)
                if b.count == m.count && (m.count == 0 || memcmp(b.baseAddress!, m.baseAddress!, m.count) == 0) {
                    return i
                }
            }
            i = (i + 1) & slotMask
        }
    }

    /// Node of `m`, or nil.
    @inline(__always) func find(_ m: UnsafeRawBufferPointer) -> Int32? {
        findSlot(m, hash: ByteStringTable.hash(m)).map { Int32(truncatingIfNeeded: slots[$0]) }
    }

    /// `m`'s hash and node (nil if absent): ZADD looks a member up once and hands both to
    /// the insert or score change that follows, which then neither hashes nor probes again.
    @inline(__always) public func locate(_ m: UnsafeRawBufferPointer) -> (hash: UInt32, node: Int32?) {
        let h = ByteStringTable.hash(m)
        return (h, findSlot(m, hash: h).map { Int32(truncatingIfNeeded: slots[$0]) })
    }

    /// Node `n`'s score.
    @inline(__always) public func score(ofNode n: Int32) -> Double { nodes[Int(n)].score }

    /// The index slot of node `n`: its home from the hash bits the node keeps while they
    /// cover the index (up to 2^18 slots), else from hashing its member; then the probe
    /// for its id. The pops' path: no SipHash of each popped member on all but huge sets.
    private func slot(ofNode n: Int32) -> Int {
        let mask = slotMask
        var i = slotCapacity <= 1 << ZSkipList.hashTagBits ? nodes[Int(n)].hashTag & mask
            : Int(ByteStringTable.hash(member(n))) & mask
        while true {
            let s = slots[i]
            precondition(s != 0, "zset skiplist and index disagree")
            if UInt32(truncatingIfNeeded: s) == UInt32(bitPattern: n) { return i }
            i = (i + 1) & mask
        }
    }

    private func placeSlot(_ s: UInt64) {
        var i = Int(s >> 32) & slotMask
        while slots[i] != 0 { i = (i + 1) & slotMask }
        slots[i] = s
    }

    /// A new slot array of `capacity`, every entry placed again by its stored hash (no
    /// member is read or hashed).
    private func resizeSlots(to capacity: Int) {
        let previous = slots, previousCapacity = slotCapacity
        slots = calloc(capacity, 8)!.bindMemory(to: UInt64.self, capacity: capacity)
        slotCapacity = capacity
        for i in 0..<previousCapacity where previous[i] != 0 { placeSlot(previous[i]) }
        free(previous)
    }

    private func indexInsert(_ n: Int32, hash h: UInt32) {
        if (count + 1) * 4 > slotCapacity * 3 { resizeSlots(to: slotCapacity * 2) }
        placeSlot(UInt64(h) << 32 | UInt64(UInt32(bitPattern: n)))
    }

    /// Backward-shift deletion: later members of the cluster that may move into the hole
    /// do, so no probe meets a false end.
    private func removeSlot(_ start: Int) {
        let mask = slotMask
        var hole = start, j = start
        while true {
            j = (j + 1) & mask
            let s = slots[j]
            if s == 0 { break }
            let k = Int(s >> 32) & mask
            let movable = hole <= j ? (k <= hole || k > j) : (k <= hole && k > j)
            if movable {
                slots[hole] = s
                hole = j
            }
        }
        slots[hole] = 0
    }

    // MARK: Reading

    public func score(of m: UnsafeRawBufferPointer) -> Double? { find(m).map { nodes[Int($0)].score } }
    public func score(of m: [UInt8]) -> Double? { m.withUnsafeBytes { score(of: $0) } }

    /// The longest member's length (whether the set fits a listpack).
    public var longestMember: Int {
        var longest = 0
        var x = levels[0].forward
        while x != 0 {
            longest = max(longest, member(x).count)
            x = levels[at(x, 0)].forward
        }
        return longest
    }

    /// zslRandomLevel: each level with probability 1/4.
    func randomLevel() -> Int {
        var lvl = 1
        while true {
            random = random &+ 0x9E37_79B9_7F4A_7C15
            var z = random
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            if z & 0xFFFF < 0x4000 && lvl < ZSkipList.maxLevel { lvl += 1 } else { return lvl }
        }
    }

    /// (score, member) order: by score, then by member bytes; of the forward node of level
    /// entry `l` (its score read from the entry: the node is touched only on a tie).
    @inline(__always) func precedes(_ l: Level, _ score: Double, _ m: UnsafeRawBufferPointer) -> Bool {
        if l.forwardScore != score { return l.forwardScore < score }
        return compareBytes(member(l.forward), m) < 0
    }

    // MARK: Writing

    /// Inserts a member that is not in the set (zslInsert + dictAdd).
    public func insert(_ m: UnsafeRawBufferPointer, score: Double) {
        insert(m, score: score, hash: ByteStringTable.hash(m))
    }

    /// insert(_:score:) of a member already hashed (`locate`).
    public func insert(_ m: UnsafeRawBufferPointer, score: Double, hash h: UInt32) {
        assert(findSlot(m, hash: h) == nil, "zset member inserted twice")
        let n: Int32
        if let slot = freeSlots.popLast() {
            n = slot
        } else {
            if nodeCount == nodeCapacity {
                nodeCapacity = ZSkipList.grown(nodeCapacity, toHold: nodeCount + 1)
                nodes = realloc(nodes, nodeCapacity * MemoryLayout<Node>.stride)!.bindMemory(to: Node.self, capacity: nodeCapacity)
            }
            n = Int32(nodeCount)
            nodeCount += 1
        }
        // The member's bytes go in first (`m` must not be this set's own bytes: the arena
        // may move); link compares against the copy.
        nodes[Int(n)].ref = UInt64(appendMember(m)) | (UInt64(h) & ZSkipList.hashTagMask) << ZSkipList.offsetBits
        nodes[Int(n)].score = score
        withUpdateVectors { update, rank in link(n, member: member(n), update: update, rank: rank) }
        indexInsert(n, hash: h)
        count += 1
    }

    public func insert(_ m: [UInt8], score: Double) { m.withUnsafeBytes { insert($0, score: score) } }

    @inline(__always) private func withUpdateVectors<R>(_ body: (UnsafeMutableBufferPointer<Int32>, UnsafeMutableBufferPointer<Int>) -> R) -> R {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: ZSkipList.maxLevel) { update in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: ZSkipList.maxLevel) { rank in body(update, rank) }
        }
    }

    /// Links node `n` (its score and member set, no levels yet) at its place in the order.
    private func link(_ n: Int32, member m: UnsafeRawBufferPointer, update: UnsafeMutableBufferPointer<Int32>,
                      rank: UnsafeMutableBufferPointer<Int>) {
        let score = nodes[Int(n)].score
        var x: Int32 = 0, xb = 0
        for i in (0..<level).reversed() {
            rank[i] = i == level - 1 ? 0 : rank[i + 1]
            while true {
                let l = levels[xb + i]
                guard l.forward != 0, precedes(l, score, m) else { break }
                rank[i] += Int(l.span)
                x = l.forward
                xb = Int(l.forwardBase)
            }
            update[i] = x
        }
        let lvl = randomLevel()
        if lvl > level {
            for i in level..<lvl {
                rank[i] = 0
                update[i] = 0
                levels[i].span = Int32(count)  // the header's levels come first
            }
            level = lvl
        }
        let base: Int32
        if let reused = freeLevels[lvl].popLast() {
            base = reused
            for i in 0..<lvl { levels[Int(base) + i] = Level() }
        } else {
            if levelCount + lvl > levelCapacity {
                levelCapacity = ZSkipList.grown(levelCapacity, toHold: levelCount + lvl)
                levels = realloc(levels, levelCapacity * MemoryLayout<Level>.stride)!.bindMemory(to: Level.self, capacity: levelCapacity)
            }
            base = Int32(levelCount)
            levelCount += lvl
            for i in 0..<lvl { levels[Int(base) + i] = Level() }
        }
        nodes[Int(n)].levelBase = base
        nodes[Int(n)].ref = nodes[Int(n)].ref & ~(UInt64.max << ZSkipList.heightShift) | UInt64(lvl) << ZSkipList.heightShift
        nodes[Int(n)].backward = update[0]
        for i in 0..<lvl {
            let u = at(update[i], i), me = Int(base) + i
            levels[me] = Level(forward: levels[u].forward, span: levels[u].span - Int32(rank[0] - rank[i]),
                               forwardBase: levels[u].forwardBase, forwardScore: levels[u].forwardScore)
            levels[u] = Level(forward: n, span: Int32(rank[0] - rank[i]) + 1, forwardBase: base, forwardScore: score)
        }
        if lvl < level { for i in lvl..<level { levels[at(update[i], i)].span += 1 } }
        let next = levels[Int(base)].forward
        if next != 0 { nodes[Int(next)].backward = n } else { tail = n }
    }

    /// The predecessors of node `target` at each level (zslDelete's search).
    private func predecessors(of target: Int32, _ update: UnsafeMutableBufferPointer<Int32>) {
        let score = nodes[Int(target)].score
        let m = member(target)
        var x: Int32 = 0, xb = 0
        for i in (0..<level).reversed() {
            while true {
                let l = levels[xb + i]
                guard l.forward != 0, precedes(l, score, m) else { break }
                x = l.forward
                xb = Int(l.forwardBase)
            }
            update[i] = x
        }
        precondition(levels[at(update[0], 0)].forward == target, "zset skiplist and index disagree")
    }

    /// Removes `m` (zslDelete + dictDelete); false if absent.
    @discardableResult
    public func remove(_ m: UnsafeRawBufferPointer) -> Bool {
        guard let slot = findSlot(m, hash: ByteStringTable.hash(m)) else { return false }
        let target = Int32(truncatingIfNeeded: slots[slot])
        removeSlot(slot)
        withUpdateVectors { update, _ in
            predecessors(of: target, update)
            unlink(target, update)
        }
        release(target)
        return true
    }

    public func remove(_ m: [UInt8]) -> Bool { m.withUnsafeBytes { remove($0) } }

    /// zslUpdateScore: in place if the node stays between its neighbours, else unlinked and
    /// linked again at its new place (the same node and member bytes).
    public func setScore(_ m: UnsafeRawBufferPointer, _ score: Double) {
        guard let n = find(m) else { return }
        setScore(node: n, score)
    }

    /// setScore of a member's node (`locate`).
    public func setScore(node n: Int32, _ score: Double) {
        let back = nodes[Int(n)].backward, next = levels[at(n, 0)].forward
        if (back == 0 || nodes[Int(back)].score < score) && (next == 0 || nodes[Int(next)].score > score) {
            // The node stays; the level entries leading to it hold its score too.
            withUpdateVectors { update, _ in
                predecessors(of: n, update)
                for i in 0..<nodes[Int(n)].height { levels[at(update[i], i)].forwardScore = score }
            }
            nodes[Int(n)].score = score
            return
        }
        withUpdateVectors { update, rank in
            predecessors(of: n, update)
            unlink(n, update)
            freeLevels[nodes[Int(n)].height].append(nodes[Int(n)].levelBase)
            nodes[Int(n)].score = score
            link(n, member: member(n), update: update, rank: rank)
        }
        count += 1  // unlink counted the node out
    }

    /// zslDeleteNode: unlinks node `x` given its predecessors at each level.
    private func unlink(_ x: Int32, _ update: UnsafeMutableBufferPointer<Int32>) {
        for i in 0..<level {
            let u = at(update[i], i)
            if levels[u].forward == x {
                let gone = levels[at(x, i)]
                levels[u] = Level(forward: gone.forward, span: levels[u].span + gone.span - 1,
                                  forwardBase: gone.forwardBase, forwardScore: gone.forwardScore)
            } else {
                levels[u].span -= 1
            }
        }
        let next = levels[at(x, 0)].forward
        if next != 0 { nodes[Int(next)].backward = nodes[Int(x)].backward } else { tail = nodes[Int(x)].backward }
        while level > 1 && levels[level - 1].forward == 0 { level -= 1 }
        count -= 1
    }

    /// Frees an unlinked node (out of the index already): its levels, member bytes and slot.
    private func release(_ x: Int32) {
        if count == 0 {
            nodeCount = 1
            levelCount = ZSkipList.maxLevel
            freeSlots = []
            freeLevels = [[Int32]](repeating: [], count: ZSkipList.maxLevel + 1)
            tail = 0
            arenaUsed = 0
            garbage = 0
            arenaCapacity = 64
            arena = realloc(arena, arenaCapacity)!
            if slotCapacity > 8 { resizeSlots(to: 8) }
            return
        }
        let node = nodes[Int(x)]
        freeLevels[node.height].append(node.levelBase)
        garbage += ZSkipList.recordHeader + Int(arena.loadUnaligned(fromByteOffset: node.memberOffset, as: UInt32.self))
        freeSlots.append(x)
        if slotCapacity > 8 && count * 8 < slotCapacity {
            var c = slotCapacity
            while c > 8 && count * 4 < c { c >>= 1 }
            resizeSlots(to: c)
        }
        compactIfWasteful()
    }

    /// Removes the elements of 0-based ranks `start..<end` (zslDeleteRangeByRank): one
    /// search for the first, then each unlinked in turn.
    public func removeRanks(_ ranks: Range<Int>) {
        guard !ranks.isEmpty else { return }
        withUpdateVectors { update, _ in
            var x: Int32 = 0, xb = 0
            var traversed = 0
            for i in (0..<level).reversed() {
                while true {
                    let l = levels[xb + i]
                    guard l.forward != 0, traversed + Int(l.span) <= ranks.lowerBound else { break }
                    traversed += Int(l.span)
                    x = l.forward
                    xb = Int(l.forwardBase)
                }
                update[i] = x
            }
            var n = levels[at(x, 0)].forward
            for _ in ranks {
                let next = levels[at(n, 0)].forward
                removeSlot(slot(ofNode: n))
                unlink(n, update)
                release(n)
                n = next
            }
        }
    }

    // MARK: Ranks and walks

    /// 0-based rank of `m`, nil if absent (zslGetRank minus one).
    public func rank(of m: UnsafeRawBufferPointer) -> Int? {
        guard let target = find(m) else { return nil }
        let score = nodes[Int(target)].score
        var x: Int32 = 0, xb = 0
        var rank = 0
        for i in (0..<level).reversed() {
            while true {
                let l = levels[xb + i]
                guard l.forward != 0 else { break }
                let s = l.forwardScore
                let before = s < score || (s == score && compareBytes(member(l.forward), m) <= 0)
                guard before else { break }
                rank += Int(l.span)
                x = l.forward
                xb = Int(l.forwardBase)
            }
            if x == target { return rank - 1 }
        }
        return nil
    }

    /// The node at 0-based `rank` (zslGetElementByRank).
    func node(atRank rank: Int) -> Int32 {
        if rank == 0 { return levels[0].forward }  // the pops' ends: no search
        if rank == count - 1 { return tail }
        var x: Int32 = 0, xb = 0
        var traversed = 0
        let target = rank + 1
        for i in (0..<level).reversed() {
            while true {
                let l = levels[xb + i]
                guard l.forward != 0, traversed + Int(l.span) <= target else { break }
                traversed += Int(l.span)
                x = l.forward
                xb = Int(l.forwardBase)
            }
            if traversed == target { return x }
        }
        preconditionFailure("rank \(rank) out of 0..<\(count)")
    }

    /// How many elements, from the first, satisfy `isBefore` (which must hold for a prefix
    /// of the order): the rank where a range starts or ends, in O(log n).
    public func prefixCount(_ isBefore: (UnsafeRawBufferPointer, Double) -> Bool) -> Int {
        var xb = 0
        var rank = 0
        for i in (0..<level).reversed() {
            while true {
                let l = levels[xb + i]
                guard l.forward != 0, isBefore(member(l.forward), l.forwardScore) else { break }
                rank += Int(l.span)
                xb = Int(l.forwardBase)
            }
        }
        return rank
    }

    /// prefixCount with a test of scores alone: members' bytes are not touched.
    public func prefixCount(scoresBefore isBefore: (Double) -> Bool) -> Int {
        var xb = 0
        var rank = 0
        for i in (0..<level).reversed() {
            while true {
                let l = levels[xb + i]
                guard l.forward != 0, isBefore(l.forwardScore) else { break }
                rank += Int(l.span)
                xb = Int(l.forwardBase)
            }
        }
        return rank
    }

    /// Visits elements from 0-based `rank` on, towards the end or the start, while `body`
    /// says so. `body` must not change the set.
    public func forEach(fromRank rank: Int, reverse: Bool, _ body: (UnsafeRawBufferPointer, Double) -> Bool) {
        guard rank >= 0 && rank < count else { return }
        var x = node(atRank: rank)
        while x != 0 {
            guard body(member(x), nodes[Int(x)].score) else { return }
            x = reverse ? nodes[Int(x)].backward : levels[at(x, 0)].forward
        }
    }

    /// `count` elements from `rank` on, reading a member only where `wants` its score (a
    /// geo search tests most elements by score alone: their members stay out of the cache).
    public func forEach(fromRank rank: Int, count: Int, wants: (Double) -> Bool,
                        _ body: (UnsafeRawBufferPointer, Double) -> Bool) {
        guard rank >= 0 && rank < self.count else { return }
        var x = node(atRank: rank)
        var left = count
        while x != 0 && left > 0 {
            let score = nodes[Int(x)].score
            if wants(score) {
                guard body(member(x), score) else { return }
            }
            left -= 1
            x = levels[at(x, 0)].forward
        }
    }

    // MARK: Scanning

    /// One step of ZSCAN over the member index, as Redis scans the zset's dict: calls
    /// `body` for the members whose home slot is the cursor's bucket and returns the next
    /// cursor (reverse-binary, 0 when done). A member present for the whole scan is
    /// returned whatever resizes happen between steps: the index is resized at once, and
    /// deletion only moves a slot within its cluster, never changing its home.
    public func scan(cursor: UInt64, _ body: (UnsafeRawBufferPointer, Double) -> Void) -> UInt64 {
        guard count > 0 else { return 0 }
        let mask = UInt64(slotMask)
        let bucket = Int(cursor & mask)
        var i = bucket
        while slots[i] != 0 {
            let s = slots[i]
            if Int(s >> 32) & slotMask == bucket {
                let n = Int32(truncatingIfNeeded: s)
                body(member(n), nodes[Int(n)].score)
            }
            i = (i + 1) & slotMask
        }
        return ((cursor | ~mask).bitSwapped &+ 1).bitSwapped
    }

    // MARK: Size and checks

    /// Bytes held: the node and level arrays, the member arena and the index.
    public var memoryUsage: Int {
        MemoryLayout<ZSkipList>.size + 16
            + nodeCapacity * MemoryLayout<Node>.stride + levelCapacity * MemoryLayout<Level>.stride
            + freeSlots.capacity * 4 + arenaCapacity + slotCapacity * 8
    }

    /// Checks the links, spans and the member index against a walk of level 0 (unit tests).
    public func isConsistent() -> Bool {
        var order: [Int32] = []
        var x = levels[0].forward
        var prev: Int32 = 0
        while x != 0 {
            if nodes[Int(x)].backward != prev { return false }
            order.append(x)
            prev = x
            x = levels[at(x, 0)].forward
        }
        guard order.count == count, tail == prev else { return false }
        var indexed = 0
        for i in 0..<slotCapacity where slots[i] != 0 { indexed += 1 }
        guard indexed == count else { return false }
        for n in order where find(member(n)) != n { return false }
        for n in order where UInt64(nodes[Int(n)].hashTag) != UInt64(ByteStringTable.hash(member(n))) & ZSkipList.hashTagMask {
            return false
        }
        var position: [Int32: Int] = [0: 0]
        for (i, n) in order.enumerated() { position[n] = i + 1 }
        for i in 0..<level {
            var y: Int32 = 0
            while true {
                let f = levels[at(y, i)].forward
                if f != 0 && Int(levels[at(y, i)].span) != position[f]! - position[y]! { return false }
                if f != 0 && (levels[at(y, i)].forwardBase != nodes[Int(f)].levelBase
                              || levels[at(y, i)].forwardScore != nodes[Int(f)].score) { return false }
                if f == 0 { break }
                y = f
            }
        }
        for j in 1..<max(order.count, 1) {
            let a = order[j - 1], b = order[j]
            let sa = nodes[Int(a)].score, sb = nodes[Int(b)].score
            if sa > sb || (sa == sb && compareBytes(member(a), member(b)) >= 0) { return false }
        }
        return true
    }
}
