/// The big sorted set's encoding (Redis's "skiplist": zskiplist + dict): a skiplist ordered
/// by (score, member) whose links carry spans, so rank, nth-element and range bounds are
/// O(log n), plus a member -> score table for O(1) ZSCORE and finding a member to delete.
///
/// Why a skiplist and not an order-statistic B+tree (Dragonfly's sorted_map, ~40% leaner):
/// Redis's algorithm is short, well known and its span arithmetic can be checked against
/// a sorted-array model in a unit test; a B+tree with counted children needs node splits,
/// merges and rebalancing that would not have been as sure in the time given. The nodes
/// live in one arena array addressed by Int32 and their levels in another (no object per
/// node, no level array per node, no ARC chain to release recursively when a long list is
/// freed); the member table maps to nodes, so a score change that keeps a node between its
/// neighbours is made in place (zslUpdateScore). Swapping the arenas for B+tree pages later
/// keeps this type's interface.
public final class ZSkipList {
    static let maxLevel = 32

    struct Level {
        var forward: Int32 = 0   // 0: none (slot 0 is the header, never a successor)
        var span: Int32 = 0
    }

    struct Node {
        var member: [UInt8]
        var score: Double
        var backward: Int32      // 0: none (the first node)
        var levelBase: Int32     // its `height` levels in `levels` from here
        var height: Int32
    }

    var nodes: [Node]
    var levels: [Level]
    var freeSlots: [Int32] = []
    /// Released level blocks by height, for reuse.
    var freeLevels = [[Int32]](repeating: [], count: ZSkipList.maxLevel + 1)
    var tail: Int32 = 0
    public private(set) var count = 0
    var level = 1
    var random: UInt64 = 0x9E37_79B9_7F4A_7C15
    /// Member -> node (the dict of Redis's zset).
    var index: [[UInt8]: Int32] = [:]

    public init() {
        nodes = [Node(member: [], score: 0, backward: 0, levelBase: 0, height: Int32(ZSkipList.maxLevel))]
        levels = Array(repeating: Level(), count: ZSkipList.maxLevel)
    }

    /// Where node `n`'s level `i` is in `levels`.
    @inline(__always) func at(_ n: Int32, _ i: Int) -> Int { Int(nodes[Int(n)].levelBase) + i }

    public func score(of member: [UInt8]) -> Double? { index[member].map { nodes[Int($0)].score } }

    /// Every member (no order).
    public var members: Dictionary<[UInt8], Int32>.Keys { index.keys }

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

    /// (score, member) order: by score, then by member bytes.
    @inline(__always) func precedes(_ n: Int32, _ score: Double, _ member: UnsafeRawBufferPointer) -> Bool {
        let s = nodes[Int(n)].score
        if s != score { return s < score }
        return nodes[Int(n)].member.withUnsafeBytes { compareBytes($0, member) } < 0
    }

    /// Inserts a member that is not in the set (zslInsert + dictAdd).
    public func insert(_ member: [UInt8], score: Double) {
        precondition(index[member] == nil, "zset member inserted twice")
        let n = withUnsafeTemporaryAllocation(of: Int32.self, capacity: ZSkipList.maxLevel) { update in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: ZSkipList.maxLevel) { rank in
                link(member, score: score, update: update, rank: rank)
            }
        }
        index[member] = n
    }

    private func link(_ member: [UInt8], score: Double, update: UnsafeMutableBufferPointer<Int32>,
                      rank: UnsafeMutableBufferPointer<Int>) -> Int32 {
        var x: Int32 = 0
        member.withUnsafeBytes { m in
            for i in stride(from: level - 1, through: 0, by: -1) {
                rank[i] = i == level - 1 ? 0 : rank[i + 1]
                while true {
                    let f = levels[at(x, i)].forward
                    guard f != 0, precedes(f, score, m) else { break }
                    rank[i] += Int(levels[at(x, i)].span)
                    x = f
                }
                update[i] = x
            }
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
            base = Int32(levels.count)
            levels.append(contentsOf: repeatElement(Level(), count: lvl))
        }
        let node = Node(member: member, score: score, backward: update[0], levelBase: base, height: Int32(lvl))
        let n: Int32
        if let slot = freeSlots.popLast() { n = slot; nodes[Int(n)] = node } else { n = Int32(nodes.count); nodes.append(node) }
        for i in 0..<lvl {
            let u = at(update[i], i), me = Int(base) + i
            levels[me].forward = levels[u].forward
            levels[u].forward = n
            levels[me].span = levels[u].span - Int32(rank[0] - rank[i])
            levels[u].span = Int32(rank[0] - rank[i]) + 1
        }
        if lvl < level { for i in lvl..<level { levels[at(update[i], i)].span += 1 } }
        let next = levels[Int(base)].forward
        if next != 0 { nodes[Int(next)].backward = n } else { tail = n }
        count += 1
        return n
    }

    /// Removes `member` (zslDelete + dictDelete); false if absent.
    @discardableResult
    public func remove(_ member: [UInt8]) -> Bool {
        guard let target = index.removeValue(forKey: member) else { return false }
        let score = nodes[Int(target)].score
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: ZSkipList.maxLevel) { update in
            var x: Int32 = 0
            member.withUnsafeBytes { m in
                for i in stride(from: level - 1, through: 0, by: -1) {
                    while true {
                        let f = levels[at(x, i)].forward
                        guard f != 0, precedes(f, score, m) else { break }
                        x = f
                    }
                    update[i] = x
                }
            }
            precondition(levels[at(update[0], 0)].forward == target, "zset skiplist and table disagree")
            unlink(target, update)
        }
        return true
    }

    /// zslUpdateScore: in place if the node stays between its neighbours, else moved.
    public func setScore(_ member: [UInt8], _ score: Double) {
        guard let n = index[member] else { return }
        let back = nodes[Int(n)].backward, next = levels[at(n, 0)].forward
        if (back == 0 || nodes[Int(back)].score < score) && (next == 0 || nodes[Int(next)].score > score) {
            nodes[Int(n)].score = score
            return
        }
        remove(member)
        insert(member, score: score)
    }

    /// zslDeleteNode: unlinks node `x` given its predecessors at each level.
    func unlink(_ x: Int32, _ update: UnsafeMutableBufferPointer<Int32>) {
        let xi = Int(x)
        let height = Int(nodes[xi].height)
        for i in 0..<level {
            let u = at(update[i], i)
            if levels[u].forward == x {
                levels[u].span += levels[at(x, i)].span - 1
                levels[u].forward = levels[at(x, i)].forward
            } else {
                levels[u].span -= 1
            }
        }
        let next = levels[at(x, 0)].forward
        if next != 0 { nodes[Int(next)].backward = nodes[xi].backward } else { tail = nodes[xi].backward }
        while level > 1 && levels[level - 1].forward == 0 { level -= 1 }
        count -= 1
        freeLevels[height].append(nodes[xi].levelBase)
        nodes[xi].member = []
        freeSlots.append(x)
        if count == 0 {
            nodes.removeSubrange(1...)
            levels.removeSubrange(ZSkipList.maxLevel...)
            freeSlots = []
            freeLevels = [[Int32]](repeating: [], count: ZSkipList.maxLevel + 1)
            tail = 0
        }
    }

    /// 0-based rank of `member`, nil if absent (zslGetRank minus one).
    public func rank(of member: [UInt8]) -> Int? {
        guard let target = index[member] else { return nil }
        let score = nodes[Int(target)].score
        var x: Int32 = 0
        var rank = 0
        return member.withUnsafeBytes { m -> Int? in
            for i in stride(from: level - 1, through: 0, by: -1) {
                while true {
                    let f = levels[at(x, i)].forward
                    guard f != 0 else { break }
                    let s = nodes[Int(f)].score
                    let before = s < score || (s == score && nodes[Int(f)].member.withUnsafeBytes { compareBytes($0, m) } <= 0)
                    guard before else { break }
                    rank += Int(levels[at(x, i)].span)
                    x = f
                }
                if x == target { return rank - 1 }
            }
            return nil
        }
    }

    /// The node at 0-based `rank` (zslGetElementByRank).
    func node(atRank rank: Int) -> Int32 {
        var x: Int32 = 0
        var traversed = 0
        let target = rank + 1
        for i in stride(from: level - 1, through: 0, by: -1) {
            while true {
                let f = levels[at(x, i)].forward
                guard f != 0, traversed + Int(levels[at(x, i)].span) <= target else { break }
                traversed += Int(levels[at(x, i)].span)
                x = f
            }
            if traversed == target { return x }
        }
        preconditionFailure("rank \(rank) out of 0..<\(count)")
    }

    /// How many elements, from the first, satisfy `isBefore` (which must hold for a prefix
    /// of the order): the rank where a range starts or ends, in O(log n).
    public func prefixCount(_ isBefore: (UnsafeRawBufferPointer, Double) -> Bool) -> Int {
        var x: Int32 = 0
        var rank = 0
        for i in stride(from: level - 1, through: 0, by: -1) {
            while true {
                let f = levels[at(x, i)].forward
                guard f != 0, nodes[Int(f)].member.withUnsafeBytes({ isBefore($0, nodes[Int(f)].score) }) else { break }
                rank += Int(levels[at(x, i)].span)
                x = f
            }
        }
        return rank
    }

    /// Visits elements from 0-based `rank` on, towards the end or the start, while `body` says so.
    public func forEach(fromRank rank: Int, reverse: Bool, _ body: (UnsafeRawBufferPointer, Double) -> Bool) {
        guard rank >= 0 && rank < count else { return }
        var x = node(atRank: rank)
        while x != 0 {
            let more = nodes[Int(x)].member.withUnsafeBytes { body($0, nodes[Int(x)].score) }
            guard more else { return }
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
                guard nodes[Int(x)].member.withUnsafeBytes({ body($0, score) }) else { return }
            }
            left -= 1
            x = levels[at(x, 0)].forward
        }
    }

    /// The members of 0-based ranks `start...end`, in order (for deletion by range).
    public func members(ranks: ClosedRange<Int>) -> [[UInt8]] {
        var out: [[UInt8]] = []
        out.reserveCapacity(ranks.count)
        var x = node(atRank: ranks.lowerBound)
        for _ in ranks {
            out.append(nodes[Int(x)].member)
            x = levels[at(x, 0)].forward
        }
        return out
    }

    /// Checks the links, spans and the member table against a walk of level 0 (unit tests).
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
        guard order.count == count, index.count == count, tail == prev else { return false }
        for n in order where index[nodes[Int(n)].member] != n { return false }
        var position: [Int32: Int] = [0: 0]
        for (i, n) in order.enumerated() { position[n] = i + 1 }
        for i in 0..<level {
            var y: Int32 = 0
            while true {
                let f = levels[at(y, i)].forward
                if f != 0 && Int(levels[at(y, i)].span) != position[f]! - position[y]! { return false }
                if f == 0 { break }
                y = f
            }
        }
        for j in 1..<max(order.count, 1) {
            let a = nodes[Int(order[j - 1])], b = nodes[Int(order[j])]
            if a.score > b.score || (a.score == b.score && a.member.lexicographicallyPrecedes(b.member) == false) { return false }
        }
        return true
    }
}
