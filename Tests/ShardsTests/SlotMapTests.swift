import Testing
@testable import Shards
import TestSupport

@Suite struct SlotMapTests {
    /// Random inserts, updates and removals agree with a plain Dictionary, for sequential ids
    /// (what Fibonacci hashing must spread), random 64-bit keys, and a few keys that collide
    /// on purpose (so backward-shift deletion runs over long probe runs).
    @Test(arguments: [0, 1, 2])
    func agreesWithDictionary(kind: Int) {
        var rng = SplitMix64(seed: 11 + UInt64(kind))
        let map = SlotMap()
        var model: [UInt64: Int] = [:]
        for step in 0..<30_000 {
            let key: UInt64
            switch kind {
            case 0: key = UInt64(1 << 48) | (rng.next() % 3000)
            case 1: key = rng.next() % 4 == 0 ? UInt64(step % 500) : rng.next()
            default: key = (rng.next() % 64) << 58  // same low bits: the multiply spreads only the top
            }
            switch rng.next() % 3 {
            case 0, 1:
                let v = Int(rng.next() % 1000)
                map[key] = v
                model[key] = v
            default:
                #expect(map.removeValue(forKey: key) == model.removeValue(forKey: key))
            }
            #expect(map[key] == model[key])
            #expect(map.count == model.count)
        }
        for (k, v) in model { #expect(map[k] == v) }
        map.removeAll()
        #expect(map.isEmpty)
        for k in model.keys { #expect(map[k] == nil) }
    }
}
