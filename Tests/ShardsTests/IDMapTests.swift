import Testing
@testable import Shards
import TestSupport

@Suite struct IDMapTests {
    /// Random inserts, updates and removals agree with a plain Dictionary, for sequential ids
    /// (what the cheap hash must spread) and random 64-bit keys.
    @Test(arguments: [false, true])
    func agreesWithDictionary(sequential: Bool) {
        var rng = SplitMix64(seed: 7)
        var map = IDMap<Int>()
        var model: [UInt64: Int] = [:]
        for step in 0..<20_000 {
            let key = sequential ? UInt64(1 << 48) | (rng.next() % 2000) : rng.next() % 4 == 0 ? UInt64(step) : rng.next()
            switch rng.next() % 3 {
            case 0: map[key] = step; model[key] = step
            case 1: map[key, default: 0] += 1; model[key, default: 0] += 1
            default: #expect(map.removeValue(forKey: key) == model.removeValue(forKey: key))
            }
            #expect(map[key] == model[key])
        }
        #expect(map.count == model.count)
        #expect(Dictionary(uniqueKeysWithValues: map.map { ($0.key, $0.value) }) == model)
    }
}
