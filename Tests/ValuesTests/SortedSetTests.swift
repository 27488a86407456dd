import Glibc
import Testing
import TestSupport
@testable import Values

// The sorted set's two encodings against a model (a sorted array of (score, member)):
// rank, ranges, deletes and conversions under random operations; score text and parsing
// as Redis 7.0 prints and reads them; RDB round trips and corrupt blobs refused.

private struct Model {
    var items: [(score: Double, member: [UInt8])] = []
    mutating func set(_ m: [UInt8], _ s: Double) {
        items.removeAll { $0.member == m }
        items.append((s, m))
        items.sort { $0.score != $1.score ? $0.score < $1.score : $0.member.lexicographicallyPrecedes($1.member) }
    }
    mutating func remove(_ m: [UInt8]) { items.removeAll { $0.member == m } }
}

private func elements(_ z: SortedSet) -> [(Double, [UInt8])] {
    var out: [(Double, [UInt8])] = []
    z.forEach { m, s in out.append((s, Array(m))) }
    return out
}

private func check(_ z: SortedSet, _ model: Model) {
    #expect(z.count == model.items.count)
    let got = elements(z)
    #expect(got.map(\.1) == model.items.map(\.member))
    #expect(got.map(\.0) == model.items.map(\.score))
    if let list = z.skiplist { #expect(list.isConsistent()) }
}

private func member(_ i: Int) -> [UInt8] { Array("m\(i)".utf8) }

@Test(arguments: [SortedSetLimits.redisDefaults, SortedSetLimits(maxEntries: 0, maxValue: 0)])
func randomOperationsAgreeWithASortedArray(limits: SortedSetLimits) {
    var rng = SplitMix64(seed: 13)
    let z = SortedSet(firstMemberLength: 2, limits: limits)
    var model = Model()
    for step in 0..<3000 {
        let m = member(rng.below(300))
        let s = Double(rng.below(40)) / 4 - 5
        switch rng.below(10) {
        case 0..<5:
            if m.withUnsafeBytes({ z.score($0) }) == nil {
                m.withUnsafeBytes { z.insert($0, score: s, limits: limits) }
            } else {
                m.withUnsafeBytes { z.update($0, to: s) }
            }
            model.set(m, s)
        case 5..<8:
            let removed = m.withUnsafeBytes { z.remove($0) }
            #expect(removed == model.items.contains { $0.member == m })
            model.remove(m)
        case 8:
            let a = rng.below(max(model.items.count, 1)), b = rng.below(4)
            let n = z.removeRanks(a..<(a + b))
            let expected = max(0, min(model.items.count, a + b) - a)
            #expect(n == expected)
            if expected > 0 { model.items.removeSubrange(a..<(a + expected)) }
        default:
            let r = m.withUnsafeBytes { z.rank($0) }
            #expect(r == model.items.firstIndex { $0.member == m })
        }
        if step % 97 == 0 { check(z, model) }
        // ranges against the model
        if step % 31 == 0 {
            let range = ScoreRange(min: Double(rng.below(20)) / 2 - 5, max: Double(rng.below(20)) / 2 - 5,
                                   minExclusive: rng.below(2) == 0, maxExclusive: rng.below(2) == 0)
            let expected = model.items.indices.filter { range.aboveMin(model.items[$0].score) && range.belowMax(model.items[$0].score) }
            let got = z.ranks(in: range)
            #expect(Array(got) == expected)
        }
    }
    check(z, model)
    // reverse walk from every rank's end
    if z.count > 0 {
        var back: [[UInt8]] = []
        z.forEach(fromRank: z.count - 1, reverse: true) { m, _ in back.append(Array(m)); return true }
        #expect(back == model.items.map(\.member).reversed())
    }
}

@Test func listpackConvertsAtItsLimits() {
    let limits = SortedSetLimits(maxEntries: 4, maxValue: 8)
    let z = SortedSet(firstMemberLength: 1, limits: limits)
    for i in 0..<4 { member(i).withUnsafeBytes { z.insert($0, score: Double(i), limits: limits) } }
    #expect(z.encodingName == "listpack")
    member(4).withUnsafeBytes { z.insert($0, score: 4, limits: limits) }
    #expect(z.encodingName == "skiplist")
    let long = SortedSet(firstMemberLength: 1, limits: limits)
    Array("123456789".utf8).withUnsafeBytes { long.insert($0, score: 1, limits: limits) }
    #expect(long.encodingName == "skiplist")
    #expect(SortedSet(firstMemberLength: 9, limits: limits).encodingName == "skiplist")
}

@Test func lexRangesOnEqualScores() {
    let limits = SortedSetLimits.redisDefaults
    for encoded in [false, true] {
        let z = SortedSet(firstMemberLength: 1, limits: limits)
        for w in ["a", "b", "c", "d", "e"] { Array(w.utf8).withUnsafeBytes { z.insert($0, score: 0, limits: limits) } }
        if encoded { z.convertToSkiplist() }
        func r(_ a: String, _ b: String) -> Range<Int> {
            a.utf8.withContiguousStorageIfAvailable { x in
                b.utf8.withContiguousStorageIfAvailable { y in
                    z.ranks(in: LexRange(min: UnsafeRawBufferPointer(x), max: UnsafeRawBufferPointer(y))!)
                }!
            }!
        }
        #expect(r("-", "+") == 0..<5)
        #expect(r("[b", "(d") == 1..<3)
        #expect(r("(b", "[d") == 2..<4)
        #expect(r("+", "-").isEmpty)
        #expect(r("[c", "[c") == 2..<3)
        #expect(r("(c", "[c").isEmpty)
    }
}

@Test func scoreTextIsRedis70s() {
    #expect(ZScore.text(1) == "1")
    #expect(ZScore.text(1.5) == "1.5")
    #expect(ZScore.text(0.1) == "0.10000000000000001")
    #expect(ZScore.text(-0.0) == "-0")
    #expect(ZScore.text(.infinity) == "inf")
    #expect(ZScore.text(-.infinity) == "-inf")
    #expect(ZScore.text(1e20) == "1e+20")
    #expect(ZScore.text(-12345) == "-12345")
    #expect(ZScore.text(4503599627370496) == "4503599627370496")
}

@Test func scoreParsingIsRedis70s() {
    func p(_ s: String) -> Double? { Array(s.utf8).withUnsafeBytes { ZScore.parse($0) } }
    #expect(p("1.5") == 1.5)
    #expect(p("inf") == .infinity)
    #expect(p("-inf") == -.infinity)
    #expect(p("+inf") == .infinity)
    #expect(p("nan") == nil)
    #expect(p("") == nil)
    #expect(p(" 1") == nil)
    #expect(p("1 ") == nil)
    #expect(p("1e400") == nil)
    #expect(p("abc") == nil)
    func range(_ a: String, _ b: String) -> ScoreRange? {
        Array(a.utf8).withUnsafeBytes { x in Array(b.utf8).withUnsafeBytes { y in ScoreRange(min: x, max: y) } }
    }
    #expect(range("(1", "2")?.minExclusive == true)
    #expect(range("", "1")?.min == 0)
    #expect(range("nan", "1") == nil)
    #expect(range("1x", "1") == nil)
    #expect(range("-inf", "+inf")?.max == .infinity)
}

@Test(arguments: [3, 200])
func rdbRoundTrips(size: Int) throws {
    let limits = SortedSetLimits.redisDefaults
    let z = SortedSet(firstMemberLength: 1, limits: limits)
    for i in 0..<size { member(i).withUnsafeBytes { z.insert($0, score: Double(i % 7) * 0.1, limits: limits) } }
    #expect(z.rdbType == (size > 128 ? 5 : 17))
    let bytes = z.snapshotEncoding()
    let back = try bytes.withUnsafeBytes { try ValueTypes.decodeSnapshot(rdbType: z.rdbType, $0) } as! SortedSet
    #expect(back.encodingName == z.encodingName)
    #expect(elements(back).map(\.1) == elements(z).map(\.1))
    #expect(elements(back).map(\.0) == elements(z).map(\.0))
}

@Test func corruptBlobsThrow() {
    // odd element count, a duplicate member, a NaN score, a truncated blob
    var sink = RDBPlainSink()
    var lp = Listpack.new()
    var enc: [UInt8] = []
    Array("a".utf8).withUnsafeBytes { Listpack.encode(string: $0, into: &enc) }
    Listpack.append(&lp, encoded: enc, count: 1)
    sink.rdbString(Listpack.bytes(lp))
    Listpack.append(&lp, encoded: enc, count: 1)
    Listpack.append(&lp, encoded: enc, count: 1)
    Listpack.append(&lp, encoded: enc, count: 1)
    var dup = RDBPlainSink()
    dup.rdbString(Listpack.bytes(lp))
    free(lp)
    var nan = RDBPlainSink()
    nan.rdbLength(1)
    Array("x".utf8).withUnsafeBytes { nan.rdbString($0) }
    withUnsafeBytes(of: Double.nan.bitPattern.littleEndian) { nan.rdbRaw($0) }
    for (type, bytes) in [(UInt8(17), sink.bytes), (17, dup.bytes), (5, nan.bytes), (5, Array(nan.bytes.dropLast(3))),
                          (12, [3, 1, 2]), (17, [])] {
        #expect(throws: (any Error).self) {
            try bytes.withUnsafeBytes { try ValueTypes.decodeSnapshot(rdbType: type, $0) }
        }
    }
}

@Test func ziplistConverts() throws {
    // a ziplist of "a", 1, "b", 2 (1-byte prevlens, 6-bit strings, immediate integers)
    var entries: [UInt8] = []
    var prev = 0
    for e: [UInt8] in [[0x01, 0x61], [0xF2], [0x01, 0x62], [0xF3]] {
        entries += [UInt8(prev)] + e
        prev = 1 + e.count
    }
    let total = 10 + entries.count + 1
    let tail = total - 1 - prev
    var zl: [UInt8] = [UInt8(total), 0, 0, 0, UInt8(tail), 0, 0, 0, 4, 0] + entries + [0xFF]
    var sink = RDBPlainSink()
    zl.withUnsafeBytes { sink.rdbString($0) }
    let z = try sink.bytes.withUnsafeBytes { try ValueTypes.decodeSnapshot(rdbType: 12, $0) } as! SortedSet
    #expect(elements(z).map(\.1) == [Array("a".utf8), Array("b".utf8)])
    #expect(elements(z).map(\.0) == [1, 2])
    zl[15] = 0x07  // a wrong prevlen
    var bad = RDBPlainSink()
    zl.withUnsafeBytes { bad.rdbString($0) }
    #expect(throws: (any Error).self) { try bad.bytes.withUnsafeBytes { try ValueTypes.decodeSnapshot(rdbType: 12, $0) } }
}

/// Every truncation and random byte changes of valid encodings (types 3, 5, 12, 17) either
/// throw or load a set every operation can walk: nothing traps.
@Test func damagedEncodingsThrowOrLoadUsably() throws {
    var rng = SplitMix64(seed: 17)
    var samples: [(UInt8, [UInt8])] = []
    for size in [3, 150] {
        let z = SortedSet(firstMemberLength: 1, limits: .redisDefaults)
        for i in 0..<size { member(i).withUnsafeBytes { z.insert($0, score: Double(i % 5) * 1.5, limits: .redisDefaults) } }
        samples.append((z.rdbType, z.snapshotEncoding()))
    }
    var text = RDBPlainSink()  // type 3: scores as text, including the special lengths
    text.rdbLength(3)
    for (m, score) in [("a", [3, 49, 46, 53]), ("b", [254]), ("c", [255])] as [(String, [UInt8])] {
        Array(m.utf8).withUnsafeBytes { text.rdbString($0) }
        score.withUnsafeBytes { text.rdbRaw($0) }
    }
    samples.append((3, text.bytes))
    var zl = RDBPlainSink()
    let ziplist: [UInt8] = [16, 0, 0, 0, 13, 0, 0, 0, 2, 0, 0, 0x01, 0x61, 3, 0xF2, 0xFF]
    ziplist.withUnsafeBytes { zl.rdbString($0) }
    samples.append((12, zl.bytes))
    for (type, bytes) in samples {
        var variants: [[UInt8]] = (0..<bytes.count).map { Array(bytes[0..<$0]) }
        for _ in 0..<300 {
            var v = bytes
            for _ in 0..<(1 + rng.below(3)) { v[rng.below(v.count)] = UInt8(truncatingIfNeeded: rng.next()) }
            variants.append(v)
        }
        for v in variants {
            guard let z = try? v.withUnsafeBytes({ try ValueTypes.decodeSnapshot(rdbType: type, $0) }) as? SortedSet else { continue }
            var members: [[UInt8]] = []
            z.forEach { m, _ in members.append(Array(m)) }
            #expect(members.count == z.count)
            if let first = members.first {
                _ = first.withUnsafeBytes { z.rank($0) }
                _ = z.ranks(in: ScoreRange(min: -.infinity, max: .infinity))
                z.convertToSkiplist()
                first.withUnsafeBytes { _ = z.remove($0) }
                _ = z.snapshotEncoding()
            }
        }
    }
}

/// The skiplist's own storage under churn: member arena compaction (long members, many
/// removed), index growth and shrinking, score moves that relink a node, range removal
/// down to empty and reuse after it, all against the model.
@Test func skiplistStorageSurvivesChurn() {
    var rng = SplitMix64(seed: 29)
    let z = ZSkipList()
    var model = Model()
    func long(_ i: Int) -> [UInt8] { Array("member-with-a-longer-name-\(i)".utf8) }
    for round in 0..<2 {
        for _ in 0..<8_000 {
            let m = long(rng.below(1500))
            switch rng.below(10) {
            case 0..<5:
                let s = Double(rng.below(1000))
                if z.score(of: m) == nil { z.insert(m, score: s) } else { m.withUnsafeBytes { z.setScore($0, s) } }
                model.set(m, s)
            case 5..<9:
                #expect(z.remove(m) == model.items.contains { $0.member == m })
                model.remove(m)
            default:
                let a = rng.below(max(model.items.count, 1)), n = min(rng.below(5), model.items.count - a)
                if n > 0 {
                    z.removeRanks(a..<(a + n))
                    model.items.removeSubrange(a..<(a + n))
                }
            }
        }
        #expect(z.count == model.items.count)
        #expect(z.isConsistent())
        var got: [[UInt8]] = []
        z.forEach(fromRank: 0, reverse: false) { m, _ in got.append(Array(m)); return true }
        #expect(got == model.items.map(\.member))
        for (i, item) in model.items.enumerated() where i % 50 == 0 {
            #expect(item.member.withUnsafeBytes { z.rank(of: $0) } == i)
        }
        z.removeRanks(0..<z.count)
        model.items.removeAll()
        #expect(z.count == 0 && z.isConsistent())
        _ = round
    }
}

/// ZSCAN's walk of the member index: every member present for the whole scan comes back,
/// while the index grows (many added) and shrinks (many removed) between steps.
@Test func skiplistScanSurvivesResizes() {
    let z = ZSkipList()
    let kept = (0..<500).map { Array("kept\($0)".utf8) }
    for m in kept { z.insert(m, score: 1) }
    var seen = Set<[UInt8]>()
    var cursor: UInt64 = 0
    var step = 0
    repeat {
        cursor = z.scan(cursor: cursor) { m, s in
            #expect(s == 1 || s == 2)
            seen.insert(Array(m))
        }
        step += 1
        if step == 20 { for i in 0..<3000 { z.insert(Array("extra\(i)".utf8), score: 2) } }  // grows twice
        if step == 200 { for i in 0..<3000 { _ = z.remove(Array("extra\(i)".utf8)) } }  // shrinks back
    } while cursor != 0
    #expect(kept.allSatisfy { seen.contains($0) })
    #expect(z.isConsistent())
}
