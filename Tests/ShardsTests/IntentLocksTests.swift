import Testing
@testable import Shards
import TestSupport

@Suite struct IntentLocksTests {
    func request(_ id: UInt64, _ keys: [UInt64], whole: Bool = false) -> IntentLocks.Request {
        IntentLocks.Request(id: id, keys: keys, wholeShard: whole)
    }

    @Test func disjointRequestsAreGrantedTogether() {
        let locks = IntentLocks()
        #expect(locks.enqueue(request(1, [10, 11])) == [1])
        #expect(locks.enqueue(request(2, [12])) == [2])
        #expect(!locks.isIdle)
    }

    @Test func conflictingRequestsAreGrantedInArrivalOrder() {
        let locks = IntentLocks()
        #expect(locks.enqueue(request(1, [10])) == [1])
        #expect(locks.enqueue(request(2, [10, 20])).isEmpty)
        // 3 shares key 20 with the waiting 2: it may not overtake it.
        #expect(locks.enqueue(request(3, [20])).isEmpty)
        // 4 conflicts with nobody: granted at once.
        #expect(locks.enqueue(request(4, [30])) == [4])
        #expect(locks.release(1) == [2])
        #expect(locks.release(2) == [3])
        #expect(locks.release(3).isEmpty)
        #expect(locks.release(4).isEmpty)
        #expect(locks.isIdle)
    }

    @Test func wholeShardWaitsForEarlierAndBlocksLater() {
        let locks = IntentLocks()
        #expect(locks.enqueue(request(1, [10])) == [1])
        #expect(locks.enqueue(request(2, [], whole: true)).isEmpty)
        #expect(locks.enqueue(request(3, [99])).isEmpty)
        #expect(locks.release(1) == [2])
        #expect(locks.wholeShardHeld)
        #expect(locks.release(2) == [3])
        #expect(!locks.wholeShardHeld)
    }

    @Test func singleCommandsSeeOnlyGrantedKeys() {
        let locks = IntentLocks()
        let held: [UInt8] = Array("held".utf8), queued: [UInt8] = Array("queued".utf8)
        let heldKey = held.withUnsafeBytes { IntentLocks.lockKey($0) }
        let queuedKey = queued.withUnsafeBytes { IntentLocks.lockKey($0) }
        _ = locks.enqueue(request(1, [heldKey]))
        _ = locks.enqueue(request(2, [heldKey, queuedKey]))
        #expect(held.withUnsafeBytes { locks.blocks(key: $0) })
        // Request 2 waits: its other key is not held yet, so single commands may use it.
        #expect(!queued.withUnsafeBytes { locks.blocks(key: $0) })
        _ = locks.release(1)
        #expect(queued.withUnsafeBytes { locks.blocks(key: $0) })
    }

    @Test func releasingAnUnknownIdChangesNothing() {
        let locks = IntentLocks()
        #expect(locks.release(42).isEmpty)
        #expect(locks.isIdle)
    }
}

/// The per-key queues against the rule they implement, on random workloads: a request is
/// granted once no earlier queued request shares a key with it (a whole-shard request
/// shares every key), and single commands see exactly the granted requests' keys.
@Suite struct IntentLocksModelTests {
    /// The rule, checked by brute force over the queue in arrival order.
    struct Model {
        var queue: [(id: UInt64, keys: Set<UInt64>, whole: Bool, granted: Bool)] = []

        mutating func grantReady() -> Set<UInt64> {
            var granted = Set<UInt64>()
            var taken = Set<UInt64>()
            for i in queue.indices {
                let r = queue[i]
                if r.whole {
                    if i == 0 && !r.granted { queue[i].granted = true; granted.insert(r.id) }
                    break
                }
                if !r.granted && r.keys.isDisjoint(with: taken) { queue[i].granted = true; granted.insert(r.id) }
                taken.formUnion(r.keys)
            }
            return granted
        }

        func holds(_ key: UInt64) -> Bool {
            queue.contains { $0.granted && ($0.whole || $0.keys.contains(key)) }
        }
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8])
    func agreesWithTheRule(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let locks = IntentLocks()
        var model = Model()
        var nextID: UInt64 = 1
        for _ in 0..<3000 {
            let live = model.queue.map(\.id)
            if live.isEmpty || rng.next() % 100 < 55 {
                let whole = rng.next() % 40 == 0
                let keys = whole ? [] : (0..<(1 + Int(rng.next() % 4))).map { _ in rng.next() % 12 }
                let id = nextID
                nextID += 1
                model.queue.append((id, Set(keys), whole, false))
                let expected = model.grantReady()
                #expect(Set(locks.enqueue(IntentLocks.Request(id: id, keys: keys, wholeShard: whole))) == expected)
            } else {
                // Release a granted request (as operations do), rarely one still waiting.
                let granted = model.queue.filter(\.granted).map(\.id)
                let pool = granted.isEmpty || rng.next() % 20 == 0 ? live : granted
                let id = pool[Int(rng.next() % UInt64(pool.count))]
                model.queue.removeAll { $0.id == id }
                let expected = model.grantReady()
                let got = locks.release(id)
                #expect(Set(got) == expected)
                #expect(got.count == Set(got).count)
            }
            for key: UInt64 in 0..<12 {
                #expect(locks.holds(key) == model.holds(key))
            }
            #expect(locks.wholeShardHeld == model.queue.contains { $0.granted && $0.whole })
            #expect(locks.isIdle == model.queue.isEmpty)
        }
    }
}
