import Testing
@testable import Shards
import TestSupport

/// Copy-on-write snapshots: the copy is the shard as it was at `beginSnapshot`, whatever
/// changes while it is taken a few entries at a time.
@Suite struct SnapshotTests {
    /// Decodes a snapshot copy into [db: [key: value]].
    func decode(_ bytes: [UInt8]) -> [Int: [String: String]] {
        var out: [Int: [String: String]] = [:]
        bytes.withUnsafeBytes { b in
            SnapshotRecord.forEach(in: b) { db, k, v, _, _ in
                let key = String(decoding: k, as: UTF8.self), value = String(decoding: v, as: UTF8.self)
                #expect(out[db, default: [:]][key] == nil, "\(key) copied twice")
                out[db, default: [:]][key] = value
            }
        }
        return out
    }

    func set(_ shard: Shard, _ db: Int, _ key: String, _ value: String) {
        withBytes(key) { k in withBytes(value) { v in _ = shard.setString(db: db, key: k, value: v, expireAt: 0) } }
    }

    func run(_ shard: Shard, budget: Int, between: (Int) -> Void) -> [UInt8] {
        var step = 0
        while true {
            if let chunks = shard.advanceSnapshot(budget: budget) { return chunks.flatMap { $0 } }
            between(step)
            step += 1
        }
    }

    @Test func copyIsThePointInTimeStateDespiteConcurrentChanges() {
        let shard = Shard(index: 0, databases: 4)
        shard.now = 1_000
        var expected: [Int: [String: String]] = [:]
        for i in 0..<3000 {
            set(shard, i % 3, "k\(i)", "old\(i)")
            expected[i % 3, default: [:]]["k\(i)"] = "old\(i)"
        }
        shard.beginSnapshot(requester: 0)
        var rng = SplitMix64(seed: 7)
        let copy = run(shard, budget: 97) { _ in
            // Overwrite, delete and create keys (growing tables) while the copy runs.
            for _ in 0..<40 {
                let i = Int.random(in: 0..<6000, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: set(shard, i % 3, "k\(i)", "new")
                case 1: _ = withBytes("k\(i)") { shard.delete(db: i % 3, key: $0) }
                default: set(shard, 3, "fresh\(i)", "x")
                }
            }
        }
        #expect(decode(copy) == expected)
        #expect(!shard.snapshotActive)
    }

    @Test func flushAndSwapDuringTheCopyKeepOldContents() {
        let shard = Shard(index: 0, databases: 2)
        for i in 0..<500 { set(shard, 0, "a\(i)", "0"); set(shard, 1, "b\(i)", "1") }
        shard.beginSnapshot(requester: 0)
        let copy = run(shard, budget: 50) { step in
            if step == 1 { shard.swapDatabases(0, 1) }
            if step == 3 { shard.flush(db: 0) }
        }
        let decoded = decode(copy)
        #expect(decoded[0]?.count == 500 && decoded[0]?["a1"] == "0")
        #expect(decoded[1]?.count == 500 && decoded[1]?["b1"] == "1")
    }

    @Test func aSecondSnapshotCopiesEverythingAgain() {
        let shard = Shard(index: 0, databases: 1)
        for i in 0..<100 { set(shard, 0, "k\(i)", "v") }
        shard.beginSnapshot(requester: 0)
        _ = run(shard, budget: 1000) { _ in }
        set(shard, 0, "later", "v")
        shard.beginSnapshot(requester: 0)
        let copy = run(shard, budget: 7) { _ in }
        #expect(decode(copy)[0]?.count == 101)
    }

    @Test func largeCopiesComeInWholeRecordChunks() {
        let shard = Shard(index: 0, databases: 1)
        let big = String(repeating: "v", count: 10_000)
        for i in 0..<400 { set(shard, 0, "k\(i)", big) }
        shard.beginSnapshot(requester: 0)
        var chunks: [[UInt8]]?
        while chunks == nil { chunks = shard.advanceSnapshot(budget: 64) }
        #expect(chunks!.count > 1)
        var total = 0
        for chunk in chunks! { total += decode(chunk)[0]?.count ?? 0 }  // each chunk parses alone
        #expect(total == 400)
    }
}
