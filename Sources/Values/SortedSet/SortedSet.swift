import CShim
import RESP
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// When a sorted set is a listpack: at most `maxEntries` members of at most `maxValue`
/// bytes (zset-max-listpack-entries / -value). RDB loads read the current values here, so
/// the settings live in this module; the server's LiveConfig publishes into them.
public struct SortedSetLimits: Sendable {
    public var maxEntries: Int
    public var maxValue: Int
    public init(maxEntries: Int, maxValue: Int) { self.maxEntries = maxEntries; self.maxValue = maxValue }

    public static let redisDefaults = SortedSetLimits(maxEntries: 128, maxValue: 64)
    static let entries = Atomic<Int>(128)
    static let value = Atomic<Int>(64)
    public static var current: SortedSetLimits {
        SortedSetLimits(maxEntries: entries.load(ordering: .relaxed), maxValue: value.load(ordering: .relaxed))
    }
    public static func publish(_ limits: SortedSetLimits) {
        entries.store(limits.maxEntries, ordering: .relaxed)
        value.store(limits.maxValue, ordering: .relaxed)
    }
}

/// A sorted set (Redis 7.0's t_zset.c), in one of two encodings as Redis keeps them:
/// - listpack: member then score, pairs sorted by (score, member), while the set is small
///   (see SortedSetLimits); scores are stored as their d2string text (integers as integers);
/// - skiplist: ZSkipList, for everything bigger. A set never goes back to a listpack
///   except when loaded from RDB or built whole (as Redis).
/// The interface is in ranks (0-based, ascending), so every command is written once.
public final class SortedSet {
    /// The listpack encoding, nil when the set is a skiplist.
    var lp: UnsafeMutableRawPointer?
    var skiplist: ZSkipList?
    public private(set) var count = 0
    /// Members promised to blocking pops over keys of several shards woken for this set whose
    /// pop has not run yet (never saved or copied): later waiters are only served the rest.
    public var promisedToWaiters = 0

    /// An empty set in the encoding ZADD creates for a first member `firstMemberLength` long.
    public init(firstMemberLength: Int, limits: SortedSetLimits) {
        if limits.maxEntries == 0 || limits.maxValue < firstMemberLength { skiplist = ZSkipList() } else { lp = Listpack.new() }
    }

    /// A set built whole from distinct members (ZUNIONSTORE and the like): a skiplist, then a
    /// listpack if it fits the limits (zsetConvertToListpackIfNeeded), as Redis builds it.
    public convenience init(distinct elements: [([UInt8], Double)], limits: SortedSetLimits) {
        let z = ZSkipList()
        for (m, s) in elements { z.insert(m, score: s) }
        self.init(skiplist: z)
        convertToListpackIfFits(limits)
    }

    /// The same from the distinct members `elements` passes to its argument (no array per
    /// member).
    public convenience init(distinctFrom elements: ((UnsafeRawBufferPointer, Double) -> Void) -> Void,
                            limits: SortedSetLimits) {
        let z = ZSkipList()
        elements { m, s in z.insert(m, score: s) }
        self.init(skiplist: z)
        convertToListpackIfFits(limits)
    }

    init(listpack: UnsafeMutableRawPointer, count: Int) { lp = listpack; self.count = count }
    init(skiplist: ZSkipList) { self.skiplist = skiplist; count = skiplist.count }

    deinit { if let lp { free(lp) } }

    public var isListpack: Bool { lp != nil }

    // MARK: Listpack encoding

    /// zzlGetScore: an integer element as is, text through strtod.
    static func lpScore(_ lp: UnsafeRawPointer, _ sp: Int) -> Double {
        switch Listpack.get(lp, sp) {
        case .integer(let v): return Double(v)
        case .bytes(let b): return ZScore.strtodC(UnsafeRawBufferPointer(rebasing: b.prefix(127))).value
        }
    }

    /// Offset of `member`'s element and its score, by a scan (zzlFind).
    func lpFind(_ lp: UnsafeRawPointer, _ member: UnsafeRawBufferPointer) -> (p: Int, score: Double)? {
        var p = Listpack.first(lp)
        while let e = p, let sp = Listpack.next(lp, e) {
            if Listpack.withBytes(lp, e, { compareBytes($0, member) == 0 }) { return (e, SortedSet.lpScore(lp, sp)) }
            p = Listpack.next(lp, sp)
        }
        return nil
    }

    /// Offset of the member element at 0-based `rank`.
    func lpOffset(_ lp: UnsafeRawPointer, rank: Int) -> Int {
        var p = Listpack.first(lp)!
        for _ in 0..<rank { p = Listpack.next(lp, Listpack.next(lp, p)!)! }
        return p
    }

    /// zzlInsertAt's score element: an integral score within ±2^62 as an integer (double2ll,
    /// so -0 is stored as 0), any other as its d2string text.
    static func lpEncode(score: Double, into enc: inout [UInt8]) {
        if score >= -Double(Int64.max / 2) && score <= Double(Int64.max / 2), score == score.rounded(.towardZero) {
            Listpack.encode(integer: Int64(score), into: &enc)
        } else {
            ZScore.withText(score) { Listpack.encode(string: $0, into: &enc) }
        }
    }

    /// zzlInsert: before the first pair greater than (score, member).
    func lpInsert(_ member: UnsafeRawBufferPointer, score: Double) {
        var enc: [UInt8] = []
        Listpack.encode(string: member, into: &enc)
        SortedSet.lpEncode(score: score, into: &enc)
        let list = lp!
        var at = Listpack.totalBytes(list) - 1
        var p = Listpack.first(list)
        while let e = p, let sp = Listpack.next(list, e) {
            let s = SortedSet.lpScore(list, sp)
            if s > score || (s == score && Listpack.withBytes(list, e, { compareBytes($0, member) }) > 0) { at = e; break }
            p = Listpack.next(list, sp)
        }
        Listpack.insert(&lp!, encoded: enc, count: 2, at: at)
    }

    /// Removes the pair whose member element is at `p`.
    func lpDelete(at p: Int) {
        let list = lp!
        let end = Listpack.end(list, Listpack.end(list, p))
        Listpack.delete(&lp!, from: p, to: end, count: 2)
    }

    /// zsetConvert to skiplist.
    public func convertToSkiplist() {
        guard let list = lp else { return }
        let z = ZSkipList()
        var p = Listpack.first(list)
        while let e = p, let sp = Listpack.next(list, e) {
            let score = SortedSet.lpScore(list, sp)
            Listpack.withBytes(list, e) { z.insert($0, score: score) }
            p = Listpack.next(list, sp)
        }
        free(list)
        lp = nil
        skiplist = z
    }

    /// zsetConvertToListpackIfNeeded (RDB loads, sets built whole): back to a listpack if
    /// the set fits its limits.
    public func convertToListpackIfFits(_ limits: SortedSetLimits) {
        guard let z = skiplist, count <= limits.maxEntries else { return }
        guard z.longestMember <= limits.maxValue else { return }
        var enc: [UInt8] = []
        z.forEach(fromRank: 0, reverse: false) { m, s in
            Listpack.encode(string: m, into: &enc)
            SortedSet.lpEncode(score: s, into: &enc)
            return true
        }
        var list = Listpack.new(capacity: enc.count + Listpack.headerSize + 1)
        Listpack.append(&list, encoded: enc, count: 2 * count)
        lp = list
        skiplist = nil
    }

    // MARK: Reads

    /// Where ZADD found a member (or did not): its score, and what the insert or update that
    /// follows needs to skip a second search (a listpack offset; a skiplist node and the
    /// member's hash). Valid until the set changes.
    public struct Place {
        public let score: Double?
        let position: Int
        let hash: UInt32?
    }

    /// One lookup of `member` for ZADD (the skiplist hashes it once for both steps).
    public func locate(_ member: UnsafeRawBufferPointer) -> Place {
        if let list = lp {
            guard let (p, s) = lpFind(list, member) else { return Place(score: nil, position: -1, hash: nil) }
            return Place(score: s, position: p, hash: nil)
        }
        let z = skiplist!
        let (h, n) = z.locate(member)
        guard let n else { return Place(score: nil, position: -1, hash: h) }
        return Place(score: z.score(ofNode: n), position: Int(n), hash: h)
    }

    public func score(_ member: UnsafeRawBufferPointer) -> Double? {
        if let list = lp { return lpFind(list, member)?.score }
        return skiplist!.score(of: member)
    }

    /// 0-based ascending rank of `member`.
    public func rank(_ member: UnsafeRawBufferPointer) -> Int? {
        if let list = lp {
            var p = Listpack.first(list)
            var r = 0
            while let e = p, let sp = Listpack.next(list, e) {
                if Listpack.withBytes(list, e, { compareBytes($0, member) == 0 }) { return r }
                r += 1
                p = Listpack.next(list, sp)
            }
            return nil
        }
        return skiplist!.rank(of: member)
    }

    /// How many elements from the first satisfy `isBefore` (true on a prefix of the order).
    public func prefixCount(_ isBefore: (UnsafeRawBufferPointer, Double) -> Bool) -> Int {
        guard let list = lp else { return skiplist!.prefixCount(isBefore) }
        var n = 0
        var p = Listpack.first(list)
        while let e = p, let sp = Listpack.next(list, e) {
            guard Listpack.withBytes(list, e, { isBefore($0, SortedSet.lpScore(list, sp)) }) else { break }
            n += 1
            p = Listpack.next(list, sp)
        }
        return n
    }

    /// The ranks of the elements in a score range: first..<end (empty if none).
    public func ranks(in range: ScoreRange) -> Range<Int> {
        if range.isEmpty { return 0..<0 }
        let first = prefixCount(scoresBefore: { !range.aboveMin($0) })
        let end = prefixCount(scoresBefore: { range.belowMax($0) })
        return first..<max(first, end)
    }

    /// Redis's zslIsInLexRange / zzlIsInLexRange: the last member is not below the range and
    /// the first not above it. With equal scores (what lex ranges are for) this only skips
    /// a search; with mixed scores it decides, as in Redis, that nothing is in range.
    private func mayHold(_ range: LexRange) -> Bool {
        guard count > 0 else { return false }
        var ok = true
        forEach(fromRank: count - 1) { m, _ in ok = range.aboveMin(m); return false }
        guard ok else { return false }
        forEach(fromRank: 0) { m, _ in ok = range.belowMax(m); return false }
        return ok
    }

    /// The ranks of the elements in a member range (the set's scores all equal).
    public func ranks(in range: LexRange) -> Range<Int> {
        if range.isEmpty || !mayHold(range) { return 0..<0 }
        let first = prefixCount { m, _ in !range.aboveMin(m) }
        let end = prefixCount { m, _ in range.belowMax(m) }
        return first..<max(first, end)
    }

    /// The part of a range ZRANGE... LIMIT selects: the rank to start writing from (the
    /// highest for `reverse`) and how many, skipping `offset` elements and taking at most
    /// `limit` (>= 0). One search for the near end, then a walk of at most offset + limit
    /// elements, as Redis's zslFirstInRange walk: finding the far end too cost a second
    /// descent, the most expensive step on a big set.
    public func limitedSelection(in range: ScoreRange, offset: Int, limit: Int, reverse: Bool) -> (first: Int, count: Int) {
        guard limit > 0, offset >= 0, !range.isEmpty else { return (0, 0) }
        let start = reverse ? prefixCount(scoresBefore: { range.belowMax($0) }) - 1
            : prefixCount(scoresBefore: { !range.aboveMin($0) })
        return walkSelection(from: start, offset: offset, limit: limit, reverse: reverse) { _, score in
            reverse ? range.aboveMin(score) : range.belowMax(score)
        }
    }

    public func limitedSelection(in range: LexRange, offset: Int, limit: Int, reverse: Bool) -> (first: Int, count: Int) {
        guard limit > 0, offset >= 0, !range.isEmpty, mayHold(range) else { return (0, 0) }
        let start = reverse ? prefixCount { m, _ in range.belowMax(m) } - 1 : prefixCount { m, _ in !range.aboveMin(m) }
        return walkSelection(from: start, offset: offset, limit: limit, reverse: reverse) { m, _ in
            reverse ? range.aboveMin(m) : range.belowMax(m)
        }
    }

    private func walkSelection(from start: Int, offset: Int, limit: Int, reverse: Bool,
                               _ inRange: (UnsafeRawBufferPointer, Double) -> Bool) -> (first: Int, count: Int) {
        var skipped = 0, taken = 0
        forEach(fromRank: start, reverse: reverse) { m, score in
            guard inRange(m, score) else { return false }
            if skipped < offset {
                skipped += 1
                return true
            }
            taken += 1
            return taken < limit
        }
        return (reverse ? start - offset : start + offset, taken)
    }

    /// prefixCount for a test of scores only: the skiplist then never reads a member's
    /// bytes on the way down (a cache miss per step on a big set).
    public func prefixCount(scoresBefore isBefore: (Double) -> Bool) -> Int {
        guard lp != nil else { return skiplist!.prefixCount(scoresBefore: isBefore) }
        return prefixCount { _, score in isBefore(score) }
    }

    /// Visits elements from 0-based `rank` towards the end (or the start) while `body` says so.
    public func forEach(fromRank rank: Int, reverse: Bool = false, _ body: (UnsafeRawBufferPointer, Double) -> Bool) {
        guard rank >= 0 && rank < count else { return }
        guard let list = lp else { skiplist!.forEach(fromRank: rank, reverse: reverse, body); return }
        var p: Int? = lpOffset(list, rank: rank)
        while let e = p {
            let sp = Listpack.next(list, e)!
            guard Listpack.withBytes(list, e, { body($0, SortedSet.lpScore(list, sp)) }) else { return }
            p = reverse ? Listpack.prev(list, e).flatMap { Listpack.prev(list, $0) } : Listpack.next(list, sp)
        }
    }

    /// `count` elements from `rank` on; `body` sees only those whose score `wants` takes.
    public func forEach(fromRank rank: Int, count: Int, wants: (Double) -> Bool,
                        _ body: (UnsafeRawBufferPointer, Double) -> Bool) {
        if let skiplist { skiplist.forEach(fromRank: rank, count: count, wants: wants, body); return }
        var left = count
        forEach(fromRank: rank) { m, s in
            left -= 1
            if wants(s) && !body(m, s) { return false }
            return left > 0
        }
    }

    /// Every element in ascending order.
    public func forEach(_ body: (UnsafeRawBufferPointer, Double) -> Void) {
        forEach(fromRank: 0) { body($0, $1); return true }
    }

    /// Each member with its score as stored: a listpack's score element as it is (its
    /// d2string text), a skiplist's score as text (ZSCAN).
    public func forEachStored(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        guard let list = lp else {
            forEach { m, s in ZScore.withText(s) { body(m, $0) } }
            return
        }
        var p = Listpack.first(list)
        while let e = p, let sp = Listpack.next(list, e) {
            Listpack.withBytes(list, e) { m in Listpack.withBytes(list, sp) { body(m, $0) } }
            p = Listpack.next(list, sp)
        }
    }

    /// One ZSCAN step of a skiplist (its member index, as Redis's dictScan); nil for a
    /// listpack, which is returned whole.
    public func scanStep(cursor: UInt64, _ body: (UnsafeRawBufferPointer, Double) -> Void) -> UInt64? {
        skiplist?.scan(cursor: cursor, body)
    }

    // MARK: Writes

    /// Adds a member known to be absent (zsetAdd's insertion), converting a listpack that
    /// would grow past its limits first.
    public func insert(_ member: UnsafeRawBufferPointer, score: Double, limits: SortedSetLimits) {
        if lp != nil && (count + 1 > limits.maxEntries || member.count > limits.maxValue) { convertToSkiplist() }
        if lp != nil { lpInsert(member, score: score) } else { skiplist!.insert(member, score: score) }
        count += 1
    }

    /// insert(_:score:limits:) of a member `locate` did not find (no second hash of it).
    public func insert(_ member: UnsafeRawBufferPointer, score: Double, limits: SortedSetLimits, at place: Place) {
        if lp != nil && (count + 1 > limits.maxEntries || member.count > limits.maxValue) { convertToSkiplist() }
        if lp != nil {
            lpInsert(member, score: score)
        } else if let h = place.hash {
            skiplist!.insert(member, score: score, hash: h)
        } else {
            skiplist!.insert(member, score: score)  // located in the listpack just converted
        }
        count += 1
    }

    /// update(_:to:) of a member `locate` found.
    public func update(_ member: UnsafeRawBufferPointer, to score: Double, at place: Place) {
        if lp != nil {
            lpDelete(at: place.position)
            lpInsert(member, score: score)
        } else {
            skiplist!.setScore(node: Int32(truncatingIfNeeded: place.position), score)
        }
    }

    /// Moves a present member to `score` (delete and reinsert, as zsetAdd does on a change).
    public func update(_ member: UnsafeRawBufferPointer, to score: Double) {
        if let list = lp {
            guard let (p, _) = lpFind(list, member) else { return }
            lpDelete(at: p)
            lpInsert(member, score: score)
        } else {
            skiplist!.setScore(member, score)
        }
    }

    @discardableResult
    public func remove(_ member: UnsafeRawBufferPointer) -> Bool {
        if let list = lp {
            guard let (p, _) = lpFind(list, member) else { return false }
            lpDelete(at: p)
        } else {
            guard skiplist!.remove(member) else { return false }
        }
        count -= 1
        return true
    }

    /// Removes the elements of 0-based ranks `ranks`; returns how many.
    @discardableResult
    public func removeRanks(_ ranks: Range<Int>) -> Int {
        let r = ranks.clamped(to: 0..<count)
        guard !r.isEmpty else { return 0 }
        if let list = lp {
            let from = lpOffset(list, rank: r.lowerBound)
            var to = from
            for _ in 0..<(2 * r.count) { to = Listpack.end(list, to) }
            Listpack.delete(&lp!, from: from, to: to, count: 2 * r.count)
        } else {
            skiplist!.removeRanks(r)
        }
        count -= r.count
        return r.count
    }

    /// A deep copy in the same encoding.
    public func duplicate() -> SortedSet {
        if let list = lp {
            let n = Listpack.totalBytes(list)
            let copy = malloc(n)!
            copy.copyMemory(from: list, byteCount: n)
            return SortedSet(listpack: copy, count: count)
        }
        let z = ZSkipList()
        forEach { m, s in z.insert(m, score: s) }
        return SortedSet(skiplist: z)
    }
}
