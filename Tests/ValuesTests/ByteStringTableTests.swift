import Testing
import TestSupport
@testable import Values

// ByteStringTable: a model (a Swift dictionary) driven by random sets, overwrites (shorter
// and longer values), removals and value-less keys must agree with the table at every
// step, through growth, shrinking and arena compaction; SCAN returns every key present for
// the whole scan even when the table resizes in between.

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

private func contents(_ t: ByteStringTable) -> [[UInt8]: [UInt8]?] {
    var out: [[UInt8]: [UInt8]?] = [:]
    t.forEach { k, v in out.updateValue(v.map(Array.init), forKey: Array(k)) }
    return out
}

@Suite struct ByteStringTableTests {
    @Test func emptyTable() {
        let t = ByteStringTable()
        #expect(t.count == 0)
        #expect(bytes("a").withUnsafeBytes { t.find($0) } == nil)
        #expect(t.scan(cursor: 0) { _, _ in Issue.record("no element expected") } == 0)
        var rng = FastRandom(seed: 1)
        #expect(t.randomHandle(using: &rng) == nil)
    }

    @Test func setFindReplaceRemove() {
        let t = ByteStringTable()
        #expect(bytes("k").withUnsafeBytes { k in bytes("v1").withUnsafeBytes { t.set(k, value: $0) } })
        #expect(!bytes("k").withUnsafeBytes { k in bytes("longer value").withUnsafeBytes { t.set(k, value: $0) } })
        #expect(t.count == 1)
        let h = bytes("k").withUnsafeBytes { t.find($0) }!
        #expect(Array(t.value(h)!) == bytes("longer value"))
        #expect(!bytes("k").withUnsafeBytes { k in bytes("x").withUnsafeBytes { t.set(k, value: $0) } })
        #expect(Array(t.value(bytes("k").withUnsafeBytes { t.find($0) }!)!) == bytes("x"))
        #expect(bytes("").withUnsafeBytes { t.set($0, value: nil) })  // empty key, no value
        #expect(t.value(bytes("").withUnsafeBytes { t.find($0) }!) == nil)
        #expect(bytes("k").withUnsafeBytes { t.remove($0) })
        #expect(!bytes("k").withUnsafeBytes { t.remove($0) })
        #expect(t.count == 1)
    }

    /// With 1 slot moved per write, most operations meet a resize under way.
    @Test(arguments: [1, 128])
    func randomOperationsAgreeWithAModel(migrationStep: Int) {
        var rng = SplitMix64(seed: 42)
        let t = ByteStringTable(minimumCapacity: 0, migrationStep: migrationStep)
        var sawResizing = false
        var model: [[UInt8]: [UInt8]?] = [:]
        for step in 0..<60_000 {
            // The key range widens then narrows, so the table grows and shrinks.
            let range = step < 30_000 ? 5_000 : 300
            let key = bytes("key:\(rng.below(range))")
            switch rng.below(10) {
            case 0..<5:
                let v: [UInt8]? = rng.below(8) == 0 ? nil : [UInt8](repeating: UInt8(rng.below(256)), count: rng.below(40))
                let added = key.withUnsafeBytes { k in
                    v.map { v in v.withUnsafeBytes { t.set(k, value: $0) } } ?? t.set(k, value: nil)
                }
                #expect(added == (model[key] == nil))
                model[key] = .some(v)
            case 5..<9:
                let removed = key.withUnsafeBytes { t.remove($0) }
                #expect(removed == (model[key] != nil))
                model[key] = nil
            default:
                let h = key.withUnsafeBytes { t.find($0) }
                #expect((h != nil) == (model[key] != nil))
                if let h, let expected = model[key] { #expect(t.value(h).map(Array.init) == expected) }
            }
            #expect(t.count == model.count)
            if t.isResizing { sawResizing = true }
            if step % 997 == 0 {
                // Arena order visits the same records as slot order, with garbage or without.
                var inArenaOrder: [[UInt8]: [UInt8]?] = [:]
                var visits = 0
                t.forEachInArenaOrder { k, v in inArenaOrder.updateValue(v.map(Array.init), forKey: Array(k)); visits += 1 }
                #expect(visits == model.count && inArenaOrder == model)
                var rng2 = FastRandom(seed: UInt64(step))
                if let h = t.randomHandle(using: &rng2) { #expect(model[Array(t.key(h))] != nil) }
                #expect(t.handles().count == model.count)
            }
        }
        #expect(sawResizing)
        #expect(contents(t) == model)
        #expect(contents(t.copy()) == model)
    }

    @Test(arguments: [1, 7, 128])
    func scanReturnsEveryKeyAcrossResizes(migrationStep: Int) {
        var rng = SplitMix64(seed: 7)
        let t = ByteStringTable(minimumCapacity: 0, migrationStep: migrationStep)
        let stable = (0..<2_000).map { bytes("stable:\($0)") }
        for k in stable { _ = k.withUnsafeBytes { t.set($0, value: nil) } }
        var seen = Set<[UInt8]>()
        var cursor: UInt64 = 0
        var calls = 0
        var callsDuringResizes = 0
        repeat {
            if t.isResizing { callsDuringResizes += 1 }
            cursor = t.scan(cursor: cursor) { k, _ in seen.insert(Array(k)) }
            calls += 1
            // Churn between calls: add many (growth), then remove them (shrinking), a few
            // per call so that calls land in the middle of resizes.
            if calls >= 50 && calls < 2_050 { for i in 0..<10 { _ = bytes("churn:\(calls * 10 + i)").withUnsafeBytes { t.set($0, value: nil) } } }
            if calls >= 3_000 && calls < 5_000 { for i in 0..<10 { _ = bytes("churn:\((calls - 2_950) * 10 + i)").withUnsafeBytes { t.remove($0) } } }
            _ = rng.next()
        } while cursor != 0 && calls < 1_000_000
        #expect(cursor == 0)
        #expect(callsDuringResizes > 0)
        for k in stable { #expect(seen.contains(k)) }
    }

    @Test func randomHandleCoversEveryKey() {
        let t = ByteStringTable()
        for i in 0..<20 { _ = bytes("m\(i)").withUnsafeBytes { t.set($0, value: nil) } }
        var rng = FastRandom(seed: 3)
        var seen = Set<[UInt8]>()
        for _ in 0..<2_000 { seen.insert(Array(t.key(t.randomHandle(using: &rng)!))) }
        #expect(seen.count == 20)
    }

    @Test func arenaOrderIsInsertionOrderWithoutGarbage() {
        let t = ByteStringTable()
        let keys = (0..<5_000).map { bytes("member:\($0)") }
        for (i, k) in keys.enumerated() {
            k.withUnsafeBytes { k in
                if i % 3 == 0 { _ = t.set(k, value: nil) } else { bytes("v\(i)").withUnsafeBytes { _ = t.set(k, value: $0) } }
            }
        }
        var seen: [[UInt8]] = []
        t.forEachInArenaOrder { k, v in seen.append(Array(k)) }
        #expect(seen == keys)
    }

    @Test func compactionKeepsContents() {
        let t = ByteStringTable()
        let big = [UInt8](repeating: 7, count: 500)
        for round in 0..<20 {
            for i in 0..<50 {
                _ = bytes("f\(i)").withUnsafeBytes { k in big.withUnsafeBytes { t.set(k, value: UnsafeRawBufferPointer(rebasing: $0[0..<(100 + round * 10)])) } }
            }
        }
        t.compact()
        #expect(t.count == 50)
        t.forEach { _, v in #expect(v?.count == 290) }
    }
}
