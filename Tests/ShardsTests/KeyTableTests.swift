import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import Shards
import TestSupport

/// A KeyTable plus a model of what it should hold, for tests that churn it.
final class TableHarness {
    var table = KeyTable()
    var live: [String: Entry] = [:]
    /// Forced hash for each key, to build collision chains (nil: the real hash).
    var forcedHash: ((String) -> UInt32)?

    init(forcedHash: ((String) -> UInt32)? = nil) { self.forcedHash = forcedHash }

    deinit {
        table.removeAll { $0.free() }
    }

    func insert(_ key: String) {
        let e = makeEntry(key, value: "value of \(key)", hash: forcedHash?(key))
        table.insertNew(e)
        live[key] = e
    }

    func slot(_ key: String) -> Int? {
        withBytes(key) { k in table.find(k, hash: forcedHash?(key) ?? KeyTable.hash(k)) }
    }

    func contains(_ key: String) -> Bool {
        guard let s = slot(key) else { return false }
        return string(table.entry(at: s).key) == key
    }

    func remove(_ key: String) {
        guard let s = slot(key) else { Issue.record("\(key) missing"); return }
        let e = table.remove(at: s)
        #expect(string(e.key) == key)
        live[key] = nil
        e.free()
    }
}

@Suite struct KeyTableTests {
    @Test func insertFindRemoveWithAHundredThousandKeys() {
        let n = 100_000
        let h = TableHarness()
        for i in 0..<n { h.insert("key:\(i)") }
        #expect(h.table.count == n)
        #expect(h.table.capacity * 3 >= n * 4)  // load factor stays at or under 3/4
        for i in 0..<n where !h.contains("key:\(i)") { Issue.record("key:\(i) not found"); break }
        #expect(!h.contains("key:\(n)"))
        #expect(!h.contains(""))

        for i in stride(from: 1, to: n, by: 2) { h.remove("key:\(i)") }
        #expect(h.table.count == n / 2)
        for i in 0..<n where h.contains("key:\(i)") != (i % 2 == 0) { Issue.record("key:\(i) wrong"); break }

        for i in stride(from: 1, to: n, by: 2) { h.insert("key:\(i)") }
        #expect(h.table.count == n)
        for i in 0..<n where !h.contains("key:\(i)") { Issue.record("key:\(i) lost on reinsert"); break }

        let grown = h.table.capacity
        for i in 0..<n { h.remove("key:\(i)") }
        #expect(h.table.count == 0)
        #expect(h.table.capacity <= 64)  // shrank back
        #expect(grown >= 131_072)
        #expect(!h.contains("key:0"))
    }

    @Test func valuesAndEntriesRoundTrip() {
        let h = TableHarness()
        h.insert("alpha")
        let e = h.table.entry(at: h.slot("alpha")!)
        #expect(string(e.key) == "alpha")
        #expect(string(e.value) == "value of alpha")
        #expect(e.hash == withBytes("alpha") { KeyTable.hash($0) })
        // replace(at:) swaps the block stored for the same key.
        let replacement = makeEntry("alpha", value: "new")
        let slot = h.slot("alpha")!
        h.table.replace(at: slot, with: replacement)
        #expect(string(h.table.entry(at: h.slot("alpha")!).value) == "new")
        h.live["alpha"] = replacement
        e.free()
    }

    /// Remove/insert churn at a constant size must not fill the table with tombstones:
    /// lookups keep terminating and the capacity stays bounded.
    @Test func tombstoneChurnStaysBounded() {
        let h = TableHarness()
        var rng = SplitMix64(seed: 1)
        var keys = (0..<1000).map { "k\($0)" }
        for k in keys { h.insert(k) }
        var next = 1000
        var maxCapacity = 0
        for _ in 0..<100_000 {
            let i = Int(rng.next() % UInt64(keys.count))
            h.remove(keys[i])
            keys[i] = "k\(next)"
            next += 1
            h.insert(keys[i])
            maxCapacity = max(maxCapacity, h.table.capacity)
        }
        #expect(h.table.count == 1000)
        #expect(maxCapacity <= 4096)
        for k in keys where !h.contains(k) { Issue.record("\(k) lost"); break }
        #expect(!h.contains("k0"))
    }

    /// All keys in four home buckets: long probe runs, removals from the middle of runs.
    @Test func collisionChainsSurviveRemovalAnywhere() {
        let h = TableHarness(forcedHash: { key in UInt32(key.utf8.count % 4) | 0x7F00_0000 })
        var keys = (0..<600).map { "c" + String(repeating: "x", count: $0 % 37) + "\($0)" }
        for k in keys { h.insert(k) }
        var rng = SplitMix64(seed: 8)
        keys.shuffle(using: &rng)
        for (i, k) in keys.enumerated() {
            h.remove(k)
            if i % 50 == 0 {
                for other in keys[(i + 1)...] where !h.contains(other) { Issue.record("\(other) lost after removing \(k)"); return }
            }
        }
        #expect(h.table.count == 0)
        #expect(!h.contains(keys[0]))
    }

    @Test func forEachVisitsEveryEntryOnce() {
        let h = TableHarness()
        for i in 0..<5000 { h.insert("f\(i)") }
        for i in 0..<2500 { h.remove("f\(i * 2)") }
        var seen: [String: Int] = [:]
        h.table.forEach { seen[string($0.key), default: 0] += 1 }
        #expect(seen.count == 2500)
        #expect(seen.values.allSatisfy { $0 == 1 })
        #expect(Set(seen.keys) == Set(h.live.keys))
    }

    @Test func randomEntryComesFromTheTable() {
        let h = TableHarness()
        var rng = SplitMix64(seed: 2)
        #expect(h.table.randomEntry(using: &rng) == nil)
        for i in 0..<50 { h.insert("r\(i)") }
        for _ in 0..<200 {
            let e = h.table.randomEntry(using: &rng)!
            #expect(h.live[string(e.key)] == e)
        }
    }
}

/// SCAN's guarantee: a key present for the whole scan is returned at least once, even when
/// the table grows and shrinks between steps.
@Suite struct KeyTableScanTests {
    enum Churn: String, CaseIterable, Sendable {
        case none, growEarly, shrinkMidway, growThenShrink, randomChurn, collisions
    }

    @Test(arguments: Churn.allCases)
    func everyStableKeyIsReturned(_ churn: Churn) {
        let h = churn == .collisions
            ? TableHarness(forcedHash: { key in UInt32(truncatingIfNeeded: key.hashValue & 0x0F0F) })
            : TableHarness()
        let stable = (0..<2000).map { "stable:\($0)" }
        for k in stable { h.insert(k) }
        var transient: [String] = []
        var nextTransient = 0
        func addTransient(_ h: TableHarness, _ count: Int) {
            for _ in 0..<count {
                let k = "t:\(nextTransient)"
                nextTransient += 1
                h.insert(k)
                transient.append(k)
            }
        }
        if churn == .shrinkMidway { addTransient(h, 30_000) }  // big at the start, small after

        var rng = SplitMix64(seed: 77)
        var seen = Set<String>()
        var cursor: UInt64 = 0
        var steps = 0
        let startCapacity = h.table.capacity
        var capacities: Set<Int> = [startCapacity]
        repeat {
            cursor = h.table.scan(cursor: cursor) { seen.insert(string($0.key)) }
            steps += 1
            switch churn {
            case .none, .collisions:
                break
            case .growEarly:
                if steps == 5 { addTransient(h, 40_000) }
            case .shrinkMidway:
                if steps == startCapacity / 2 { for k in transient { h.remove(k) }; transient = [] }
            case .growThenShrink:
                if steps == 3 { addTransient(h, 40_000) }
                if steps == 20_000 { for k in transient { h.remove(k) }; transient = [] }
            case .randomChurn:
                // Inserts and removals of other keys at every step, in bursts that resize.
                if rng.next() % 2 == 0 { addTransient(h, Int(rng.next() % 300)) }
                var removals = Int(rng.next() % 300)
                while removals > 0, !transient.isEmpty {
                    transient.swapAt(Int(rng.next() % UInt64(transient.count)), transient.count - 1)
                    h.remove(transient.removeLast())
                    removals -= 1
                }
            }
            capacities.insert(h.table.capacity)
        } while cursor != 0 && steps < 1_000_000
        #expect(cursor == 0, "scan never finished")
        let missing = stable.filter { !seen.contains($0) }
        #expect(missing.count == 0, "\(missing.count) stable keys never returned, e.g. \(missing.prefix(3))")
        if churn == .growEarly || churn == .growThenShrink || churn == .randomChurn {
            #expect(capacities.count > 1, "the table was expected to resize during the scan")
        }
        if churn == .shrinkMidway || churn == .growThenShrink {
            #expect(h.table.capacity < capacities.max()!, "the table was expected to shrink")
        }
    }
}

/// The table takes its bucket from the hash's low bits and its tag from bits 25-31; shards
/// take theirs from the high 32 bits. Sequential, similar keys must spread over all three.
@Suite struct KeyHashSpreadTests {
    static let keys: [[UInt8]] = (0..<100_000).map { i in
        let digits = String(i)
        return Array(("key:" + String(repeating: "0", count: 12 - digits.count) + digits).utf8)
    }

    @Test func bucketsOfSequentialKeysLookRandom() {
        let buckets = 1 << 17
        var used = Set<Int>()
        var perBucket = [Int](repeating: 0, count: buckets)
        for k in Self.keys {
            let b = Int(k.withUnsafeBytes { KeyTable.hash($0) }) & (buckets - 1)
            used.insert(b)
            perBucket[b] += 1
        }
        // A random function fills m(1 - e^(-n/m)) distinct buckets.
        let n = Double(Self.keys.count), m = Double(buckets)
        let expected = m * (1 - exp(-n / m))
        #expect(Double(used.count) > expected * 0.97, "\(used.count) distinct buckets, expected about \(Int(expected))")
        #expect(perBucket.max()! <= 10)
    }

    @Test func tagsAndShardsAreBalanced() {
        var tags = [Int](repeating: 0, count: 128)
        var shards = [Int](repeating: 0, count: 3)
        for k in Self.keys {
            k.withUnsafeBytes { kb in
                tags[Int(KeyTable.hash(kb) >> 25)] += 1
                shards[KeyHash.shard(of: kb, count: 3)] += 1
            }
        }
        let perTag = Self.keys.count / 128
        #expect(tags.min()! > perTag * 3 / 4 && tags.max()! < perTag * 5 / 4, "tags \(tags.min()!)...\(tags.max()!)")
        let perShard = Self.keys.count / 3
        #expect(shards.allSatisfy { abs($0 - perShard) < perShard / 50 }, "shards \(shards)")
    }

    @Test func slotsAreRedisClusterSlots() {
        // Values from redis-cli CLUSTER KEYSLOT on Redis 7.0.
        #expect(withBytes("foo") { KeyHash.slot(of: $0) } == 12182)
        #expect(withBytes("bar") { KeyHash.slot(of: $0) } == 5061)
        #expect(withBytes("{user1000}.following") { KeyHash.slot(of: $0) } == withBytes("user1000") { KeyHash.slot(of: $0) })
        #expect(withBytes("") { KeyHash.slot(of: $0) } == 0)
        #expect(withBytes("123456789") { KeyHash.slot(of: $0) } == 0x31C3 & 0x3FFF)
    }

    @Test func hashTagsColocate() {
        func shard(_ key: String) -> Int { withBytes(key) { KeyHash.shard(of: $0, count: 7) } }
        #expect(shard("{user:1}:a") == shard("{user:1}:b"))
        #expect(shard("x{user:1}") == shard("user:1"))
        #expect(withBytes("foo{}bar") { string(KeyHash.shardingPart($0)) } == "foo{}bar")
        #expect(withBytes("foo{bar") { string(KeyHash.shardingPart($0)) } == "foo{bar")
        #expect(withBytes("a{b}{c}") { string(KeyHash.shardingPart($0)) } == "b")
        #expect(withBytes("{}{x}") { string(KeyHash.shardingPart($0)) } == "{}{x}")
        // Keys over 64 bytes take memchr, shorter ones a scan: the same rule either way.
        let pad = String(repeating: "k", count: 70)
        #expect(withBytes(pad + "{tag}x") { string(KeyHash.shardingPart($0)) } == "tag")
        #expect(withBytes(pad + "{}{x}") { string(KeyHash.shardingPart($0)) } == pad + "{}{x}")
        #expect(withBytes(pad + "{open") { string(KeyHash.shardingPart($0)) } == pad + "{open")
        #expect(withBytes("}{a}" + pad) { string(KeyHash.shardingPart($0)) } == "a")
        #expect(withBytes("x{") { string(KeyHash.shardingPart($0)) } == "x{")
    }

    /// The word-at-a-time scan against Redis Cluster's rule written plainly, on random keys
    /// of every length up to 40 from an alphabet heavy in braces (and bytes that differ from
    /// a brace by one bit or one borrow, the cases a SWAR scan can get wrong).
    @Test func crc16TwoBytesAStepIsTheBytewiseCRC() {
        var rng = SplitMix64(seed: 11)
        for _ in 0..<5_000 {
            let bytes = (0..<rng.below(40)).map { _ in UInt8(truncatingIfNeeded: rng.below(256)) }
            bytes.withUnsafeBytes { #expect(KeyHash.crc16($0) == KeyHash.crc16Bytewise($0)) }
        }
    }

    @Test func shardingPartMatchesThePlainRule() {
        func plain(_ k: [UInt8]) -> [UInt8] {
            guard let open = k.firstIndex(of: 123) else { return k }
            guard let close = k[(open + 1)...].firstIndex(of: 125), close > open + 1 else { return k }
            return Array(k[(open + 1)..<close])
        }
        let alphabet: [UInt8] = [123, 125, 122, 124, 126, 0x7A, 0xFB, 0xFD, 0, 1, 0x80, 0xFF, 97]
        var rng = SplitMix64(seed: 7)
        for _ in 0..<20_000 {
            let key = (0..<rng.below(41)).map { _ in alphabet[rng.below(alphabet.count)] }
            let part = key.withUnsafeBytes { Array(KeyHash.shardingPart($0)) }
            #expect(part == plain(key), "\(key)")
        }
    }
}
