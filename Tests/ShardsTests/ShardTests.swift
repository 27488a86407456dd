import Testing
import Shards
import TestSupport

// Small helpers so tests read as commands.
extension Shard {
    @discardableResult
    func set(_ key: String, _ value: String, db: Int = 0, expireAt: Int64? = 0) -> Entry {
        withBytes(key) { k in withBytes(value) { v in setString(db: db, key: k, value: v, expireAt: expireAt) } }
    }

    func get(_ key: String, db: Int = 0) -> String? {
        withBytes(key) { k in lookup(db: db, key: k).map { string($0.value) } }
    }

    func entry(_ key: String, db: Int = 0) -> Entry? {
        withBytes(key) { k in lookup(db: db, key: k) }
    }

    @discardableResult
    func del(_ key: String, db: Int = 0) -> Bool {
        withBytes(key) { k in delete(db: db, key: k) }
    }

    /// Runs active expiry until nothing due is left; returns the number of rounds.
    @discardableResult
    func expireAllDue(budget: Int = 1000) -> Int {
        var rounds = 1
        while activeExpire(budget: budget) { rounds += 1 }
        return rounds
    }
}

extension PropagationLog {
    /// The commands recorded so far, handed off (and so taken out of the log), as RESP text.
    func handedOffCommands() -> [String] {
        var commands: [String] = []
        handOff { records in
            PropagationLog.forEach(in: records.readable) { _, _, _, _, _, payload in
                commands.append(String(decoding: payload, as: UTF8.self))
            }
        }
        return commands
    }
}

@Suite struct ShardBasicTests {
    @Test func setGetOverwriteDelete() {
        let shard = Shard(index: 0, databases: 16)
        shard.now = 1_000
        #expect(shard.get("k") == nil)
        shard.set("k", "v1")
        #expect(shard.get("k") == "v1")
        #expect(shard.keyCount(db: 0) == 1)
        shard.set("k", String(repeating: "x", count: 500))  // larger: a new block
        #expect(shard.get("k") == String(repeating: "x", count: 500))
        shard.set("k", String(repeating: "y", count: 300))  // fits and not too small: in place
        #expect(shard.get("k") == String(repeating: "y", count: 300))
        shard.set("k", "")
        #expect(shard.get("k") == "")
        #expect(shard.keyCount(db: 0) == 1)
        #expect(shard.del("k"))
        #expect(shard.get("k") == nil)
        #expect(!shard.del("k"))
        #expect(shard.keyCount(db: 0) == 0)
    }

    @Test func databasesAreSeparate() {
        let shard = Shard(index: 0, databases: 16)
        shard.set("k", "zero", db: 0)
        shard.set("k", "nine", db: 9)
        #expect(shard.get("k", db: 0) == "zero")
        #expect(shard.get("k", db: 9) == "nine")
        #expect(shard.get("k", db: 1) == nil)
        shard.swapDatabases(0, 9)
        #expect(shard.get("k", db: 0) == "nine")
        shard.flush(db: 0)
        #expect(shard.get("k", db: 0) == nil)
        #expect(shard.get("k", db: 9) == "zero")
    }

    @Test func lookupForReadCountsHitsAndMisses() {
        let shard = Shard(index: 0, databases: 1)
        shard.now = 5_000_000
        shard.set("k", "v")
        _ = withBytes("k") { shard.lookupForRead(db: 0, key: $0) }
        _ = withBytes("nope") { shard.lookupForRead(db: 0, key: $0) }
        #expect(shard.keyspaceHits == 1)
        #expect(shard.keyspaceMisses == 1)
        #expect(shard.entry("k")!.lastAccess == 5_000)
    }

    @Test func manyKeysAcrossGrowth() {
        let shard = Shard(index: 0, databases: 1)
        for i in 0..<20_000 { shard.set("key:\(i)", "value:\(i)") }
        #expect(shard.keyCount(db: 0) == 20_000)
        for i in stride(from: 0, to: 20_000, by: 7) { #expect(shard.get("key:\(i)") == "value:\(i)") }
        var n = 0
        shard.forEach(db: 0) { _ in n += 1 }
        #expect(n == 20_000)
    }
}

@Suite struct ShardExpiryTests {
    @Test func lazyExpiryAtTheDeadline() {
        let shard = Shard(index: 0, databases: 1)
        let log = PropagationLog(clock: OrderClock(workers: 1), worker: 0)
        shard.propagation = log
        shard.now = 1_000
        shard.set("k", "v", expireAt: 2_000)
        #expect(shard.expiringCount(db: 0) == 1)
        shard.now = 1_999
        #expect(shard.get("k") == "v")
        shard.now = 2_000  // due at exactly the deadline, as Redis (when <= now)
        #expect(shard.get("k") == nil)
        #expect(shard.keyCount(db: 0) == 0)
        #expect(shard.expiringCount(db: 0) == 0)
        #expect(shard.expiredKeys == 1)
        // Replicas learn of the expiry as a DEL.
        #expect(log.handedOffCommands() == ["*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n"])
        // The heap item is now stale: popping it frees the block without counting it again.
        #expect(shard.heapCount == 1)
        shard.expireAllDue()
        #expect(shard.heapCount == 0)
        #expect(shard.expiredKeys == 1)
    }

    /// A string written over a key past its deadline (not yet reclaimed) replaces a key
    /// that expired: its DEL goes out first, as Redis's lookupKeyWrite propagates it. Without
    /// it a replica, which keeps the key until the master's DEL, applied SET ... KEEPTTL to
    /// the dead key and kept its deadline (the key hidden there, live on the master).
    @Test func aStringWrittenOverAKeyPastItsDeadlineDeletesItFirst() {
        let shard = Shard(index: 0, databases: 1)
        let log = PropagationLog(clock: OrderClock(workers: 1), worker: 0)
        shard.propagation = log
        shard.now = 1_000
        shard.set("k", "old", expireAt: 2_000)
        shard.now = 2_000
        shard.set("k", "new", expireAt: nil)  // KEEPTTL
        #expect(shard.get("k") == "new")
        #expect(shard.entry("k")!.expireAt == 0)
        #expect(shard.expiringCount(db: 0) == 0)
        #expect(shard.expiredKeys == 1)
        #expect(log.handedOffCommands() == ["*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n"])
        shard.expireAllDue()  // the old block's heap item is stale
        #expect(shard.get("k") == "new")
        #expect(shard.expiredKeys == 1)
    }

    /// On a replica the master's SET ... KEEPTTL finds the key still there (the master's DEL
    /// comes first if it expired) and keeps its deadline, as redis-server's replica does.
    @Test func aReplicaAppliesKeepTTLToTheKeyItStillHolds() {
        let shard = Shard(index: 0, databases: 1)
        shard.expiryDeletesOnAccess = false
        shard.now = 1_000
        shard.set("k", "old", expireAt: 2_000)
        shard.now = 2_000
        shard.applyingMasterStream = true
        shard.set("k", "new", expireAt: nil)
        #expect(shard.entry("k")!.expireAt == 2_000)
        shard.applyingMasterStream = false
        #expect(shard.get("k") == nil)  // hidden until the master's DEL
        #expect(shard.keyCount(db: 0) == 1)
    }

    @Test func expiredKeysAreInvisibleToScanAndForEachAndDelete() {
        let shard = Shard(index: 0, databases: 1)
        shard.now = 1_000
        shard.set("old", "v", expireAt: 1_500)
        shard.set("new", "v", expireAt: 0)
        shard.now = 1_500
        var names: [String] = []
        shard.forEach(db: 0) { names.append(string($0.key)) }
        #expect(names == ["new"])
        var cursor: UInt64 = 0
        names = []
        repeat { cursor = shard.scan(db: 0, cursor: cursor) { names.append(string($0.key)) } } while cursor != 0
        #expect(names == ["new"])
        #expect(!shard.del("old"))  // DEL of an expired key deletes it but reports 0, as Redis
        #expect(shard.keyCount(db: 0) == 1)
    }

    /// Active expiry leaves a key a granted lock holds, and every key while the shard is held
    /// whole, to a later pass (as single commands wait for them); it deletes them once the
    /// locks are gone.
    @Test func activeExpireWaitsForLocksOnTheKey() {
        let shard = Shard(index: 0, databases: 1)
        shard.now = 1_000
        shard.set("held", "v", expireAt: 1_001)
        shard.set("free", "v", expireAt: 1_001)
        let heldKey = withBytes("held") { IntentLocks.lockKey($0) }
        #expect(shard.locks.enqueue(IntentLocks.Request(id: 1, keys: [heldKey], wholeShard: false)) == [1])
        shard.now = 1_002
        #expect(!shard.activeExpire(budget: 100))  // what the lock holds back is not a backlog
        #expect(shard.keyCount(db: 0) == 1)
        #expect(shard.expiredKeys == 1)
        _ = shard.locks.release(1)
        #expect(!shard.activeExpire(budget: 100))
        #expect(shard.keyCount(db: 0) == 0)
        #expect(shard.expiredKeys == 2)

        shard.set("a", "v", expireAt: 1_003)
        shard.set("b", "v", expireAt: 1_003)
        #expect(shard.locks.enqueue(IntentLocks.Request(id: 2, keys: [], wholeShard: true)) == [2])
        shard.now = 1_004
        _ = shard.activeExpire(budget: 100)
        #expect(shard.keyCount(db: 0) == 2)
        _ = shard.locks.release(2)
        _ = shard.activeExpire(budget: 100)
        #expect(shard.keyCount(db: 0) == 0)
        #expect(shard.heapCount == 0)
    }

    @Test func activeExpireHonoursItsBudget() {
        let shard = Shard(index: 0, databases: 1)
        shard.now = 1_000
        for i in 1...100 { shard.set("k\(i)", "v", expireAt: 1_000 + Int64(i)) }
        shard.now = 1_050
        #expect(shard.activeExpire(budget: 10))  // more due after this round
        #expect(shard.keyCount(db: 0) == 90)
        let rounds = shard.expireAllDue(budget: 10)
        #expect(rounds == 4)
        #expect(shard.keyCount(db: 0) == 50)
        #expect(shard.expiredKeys == 50)
        #expect(shard.get("k50") == nil)
        #expect(shard.get("k51") == "v")
        #expect(shard.nextDeadline == 1_051)
        shard.now = 10_000
        #expect(!shard.activeExpire(budget: 1000))
        #expect(shard.keyCount(db: 0) == 0)
        #expect(shard.heapCount == 0)
    }

    @Test func activeExpireCanBeDisabled() {
        let shard = Shard(index: 0, databases: 1)
        shard.now = 1_000
        shard.set("k", "v", expireAt: 1_001)
        shard.activeExpireEnabled = false
        shard.now = 2_000
        #expect(!shard.activeExpire(budget: 100))
        #expect(shard.keyCount(db: 0) == 1)
        #expect(shard.get("k") == nil)  // lazy expiry still applies
    }

    @Test func keepTTLKeepsTheDeadline() {
        let shard = Shard(index: 0, databases: 1)
        shard.now = 1_000
        shard.set("k", "v1", expireAt: 5_000)
        shard.set("k", "v2", expireAt: nil)  // SET ... KEEPTTL, value fits in place
        #expect(shard.entry("k")?.expireAt == 5_000)
        #expect(shard.expiringCount(db: 0) == 1)
        #expect(shard.heapCount == 1)  // same block, same deadline: no new heap item
        shard.set("k", String(repeating: "z", count: 1000), expireAt: nil)  // new block
        #expect(shard.entry("k")?.expireAt == 5_000)
        #expect(shard.expiringCount(db: 0) == 1)
        #expect(shard.heapCount == 2)  // the new block needs its own item
        shard.now = 5_000
        shard.expireAllDue()
        #expect(shard.get("k") == nil)
        #expect(shard.expiredKeys == 1)
        #expect(shard.expiredStaleSkips == 1)  // the old block's item
        #expect(shard.heapCount == 0)
    }

    @Test func plainSetClearsTheTTL() {
        let shard = Shard(index: 0, databases: 1)
        shard.now = 1_000
        shard.set("k", "v1", expireAt: 5_000)
        shard.set("k", "v2")  // expireAt 0: no TTL
        #expect(shard.entry("k")?.expireAt == 0)
        #expect(shard.expiringCount(db: 0) == 0)
        shard.now = 6_000
        shard.expireAllDue()
        #expect(shard.get("k") == "v2")
        #expect(shard.expiredStaleSkips == 1)
    }

    @Test func keepTTLOnAnExpiredKeyStartsWithoutTTL() {
        let shard = Shard(index: 0, databases: 1)
        shard.now = 1_000
        shard.set("k", "v1", expireAt: 1_500)
        shard.now = 2_000
        shard.set("k", "v2", expireAt: nil)
        #expect(shard.get("k") == "v2")
        #expect(shard.entry("k")?.expireAt == 0)
        #expect(shard.expiringCount(db: 0) == 0)
    }

    @Test func ttlChangesLeaveStaleItemsThatAreSkipped() {
        let shard = Shard(index: 0, databases: 1)
        shard.now = 1_000
        let e = shard.set("longer", "v", expireAt: 2_000)
        shard.setExpire(db: 0, entry: e, at: 3_000)        // extended
        let f = shard.set("shorter", "v", expireAt: 3_000)
        shard.setExpire(db: 0, entry: f, at: 2_000)        // shortened
        #expect(shard.heapCount == 4)
        shard.now = 2_000
        shard.expireAllDue()
        #expect(shard.get("longer") == "v")                // its 2000 item was stale
        #expect(shard.get("shorter") == nil)
        #expect(shard.expiredStaleSkips == 1)
        #expect(shard.expiredKeys == 1)
        shard.now = 3_000
        shard.expireAllDue()
        #expect(shard.get("longer") == nil)
        #expect(shard.expiredKeys == 2)
        #expect(shard.expiredStaleSkips == 2)              // "shorter"'s 3000 item, on a dead block
        #expect(shard.heapCount == 0)
        // PERSIST: clearing the TTL leaves a stale item too.
        let g = shard.set("persisted", "v", expireAt: 4_000)
        shard.setExpire(db: 0, entry: g, at: 0)
        #expect(shard.expiringCount(db: 0) == 0)
        shard.now = 4_000
        shard.expireAllDue()
        #expect(shard.get("persisted") == "v")
    }

    @Test func heapIsCompactedWhenStaleItemsPileUp() {
        let shard = Shard(index: 0, databases: 1)
        shard.now = 1_000
        let keys = (0..<3000).map { "k\($0)" }
        for k in keys { shard.set(k, "v", expireAt: 100_000) }
        // Each change pushes a new item; the old ones go stale.
        for round in 1...5 {
            for k in keys { shard.setExpire(db: 0, entry: shard.entry(k)!, at: 100_000 + Int64(round)) }
        }
        #expect(shard.heapCount < 3000 * 6)  // compaction ran
        #expect(shard.heapCount >= 3000)     // but kept every live item
        shard.now = 100_004
        shard.expireAllDue()
        #expect(shard.keyCount(db: 0) == 3000)
        shard.now = 100_005
        shard.expireAllDue()
        #expect(shard.keyCount(db: 0) == 0)
        #expect(shard.heapCount == 0)
    }

    @Test func detachHandsOutACopyAndKeepsTheHeapSafe() {
        let shard = Shard(index: 0, databases: 2)
        shard.now = 1_000
        shard.set("k", "v", expireAt: 2_000)
        let moved = withBytes("k") { shard.detach(db: 0, key: $0) }!
        #expect(string(moved.key) == "k")
        #expect(moved.expireAt == 2_000)
        #expect(moved.heapReferences == 0)
        #expect(shard.keyCount(db: 0) == 0)
        shard.insertNew(moved, db: 1, expireAt: moved.expireAt)
        #expect(shard.get("k", db: 1) == "v")
        shard.now = 2_000
        shard.expireAllDue()
        #expect(shard.get("k", db: 1) == nil)
        #expect(shard.expiredKeys == 1)
        #expect(shard.heapCount == 0)
    }
}

@Suite(.serialized) struct ShardMemoryTests {
    /// A deleted key that the heap still references stays allocated (marked dead) until
    /// its heap item is popped, and is freed then.
    @Test(.needsJemalloc) func deletedEntryWithHeapItemIsFreedWhenPopped() throws {
        try #require(ThreadHeap.isActive, "needs jemalloc's per-thread counters")
        let shard = Shard(index: 0, databases: 1)
        shard.now = 1_000
        let e = shard.set("k", String(repeating: "v", count: 200), expireAt: 2_000)
        let blockSize = e.allocatedSize
        #expect(shard.del("k"))
        // Not freed yet: the heap holds a reference.
        #expect(e.flags.contains(.dead))
        #expect(e.heapReferences == 1)
        shard.now = 2_000
        let freedBefore = ThreadHeap.freed!
        shard.expireAllDue()
        let freed = Int(ThreadHeap.freed! - freedBefore)
        #expect(freed >= blockSize)
        #expect(shard.heapCount == 0)
        #expect(shard.expiredKeys == 0)
        #expect(shard.expiredStaleSkips == 1)
    }

    /// A workload through every path that retires blocks; afterwards (shard released) this
    /// thread's allocations must balance.
    @Test(.needsJemalloc) func mixedWorkloadLeaksNothing() throws {
        try #require(ThreadHeap.isActive, "needs jemalloc's per-thread counters")
        Self.workload()  // warm up: the runtime caches metadata on first use
        let before = ThreadHeap.net!
        Self.workload()
        let leaked = ThreadHeap.net! - before
        #expect(leaked < 4096, "\(leaked) bytes not freed")
    }

    static func workload() {
        let shard = Shard(index: 0, databases: 4)
        shard.now = 1_000
        for i in 0..<5000 {
            shard.set("k\(i)", "value-\(i)", db: i % 4, expireAt: i % 3 == 0 ? 0 : 2_000 + Int64(i % 100))
        }
        for i in stride(from: 0, to: 5000, by: 5) {
            shard.set("k\(i)", String(repeating: "g", count: 100 + i % 50), db: i % 4, expireAt: nil)  // grow, KEEPTTL
        }
        for i in stride(from: 1, to: 5000, by: 5) {
            if let e = shard.entry("k\(i)", db: i % 4) { shard.setExpire(db: i % 4, entry: e, at: 3_000) }
        }
        for i in stride(from: 2, to: 5000, by: 5) { shard.del("k\(i)", db: i % 4) }
        for i in stride(from: 3, to: 5000, by: 5) {
            _ = withBytes("k\(i)") { k in shard.detach(db: i % 4, key: k) }.map { e in
                shard.insertNew(e, db: (i + 1) % 4, expireAt: e.expireAt)
            }
        }
        shard.now = 2_050
        _ = shard.activeExpire(budget: 700)
        for i in stride(from: 4, to: 5000, by: 10) { _ = shard.get("k\(i)", db: i % 4) }  // lazy expiry
        shard.flush(db: 1)
        shard.now = 2_080
        _ = shard.activeExpire(budget: 300)
        // Whatever is left is released with the shard.
    }
}
