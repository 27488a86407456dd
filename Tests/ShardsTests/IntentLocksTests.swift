import Testing
@testable import Shards
import TestSupport

@Suite struct IntentLocksTests {
    func request(_ id: UInt64, _ keys: [UInt64], whole: Bool = false, chain: UInt64 = 0) -> IntentLocks.Request {
        IntentLocks.Request(id: id, keys: keys, wholeShard: whole, chain: chain)
    }

    /// A grant list iterated as the worker does (`for g in granted`, unspecialized in a debug
    /// build) ends after its grants, each handing back its holder. With the holder kept as an
    /// `unowned(unsafe)` optional, the iterator's nil looked like one more grant, forever.
    @Test func grantListEndsAndHandsBackHolders() {
        final class Holder {}
        let holders = [Holder(), Holder()]
        let locks = IntentLocks()
        var granted: [IntentLocks.Grant] = []
        locks.enqueue(request(1, [10]), holder: holders[0], into: &granted)
        locks.enqueue(request(2, [11]), holder: nil, into: &granted)
        locks.enqueue(request(3, [12]), holder: holders[1], into: &granted)
        var seen: [UInt64] = []
        for g in granted {
            seen.append(g.id)
            if seen.count > granted.count { break }  // instead of looping forever
        }
        #expect(seen == [1, 2, 3])
        #expect(granted[0].holder === holders[0])
        #expect(granted[1].holder == nil)
        #expect(granted[2].holder === holders[1])
        // Generic code's nil is nil to inline code.
        func none<T>(_: T.Type) -> T? { nil }
        #expect(none(IntentLocks.Grant.self) == nil)
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

    @Test func aChainFollowsItsGrantedRequestsButNotOthers() {
        let locks = IntentLocks()
        #expect(locks.enqueue(request(1, [10, 11], chain: 7)) == [1])
        // Same chain, keys held by 1: granted behind it at once.
        #expect(locks.enqueue(request(2, [10], chain: 7)) == [2])
        // Another chain, or none, waits for the holders.
        #expect(locks.enqueue(request(3, [11], chain: 8)).isEmpty)
        #expect(locks.enqueue(request(4, [10], chain: 0)).isEmpty)
        // Chain 7 again, but 4 (not of the chain) is ahead of it on key 10.
        #expect(locks.enqueue(request(5, [10], chain: 7)).isEmpty)
        #expect(locks.release(2).isEmpty)
        #expect(locks.release(1) == [3, 4])
        #expect(locks.release(4) == [5])
    }

    @Test func aChainWaitsForAnUngrantedRequestAhead() {
        let locks = IntentLocks()
        #expect(locks.enqueue(request(1, [10], chain: 0)) == [1])
        #expect(locks.enqueue(request(2, [10, 20], chain: 7)).isEmpty)
        // 3 follows 2 on key 20, but 2 is not granted: 3 waits, and then follows at once.
        #expect(locks.enqueue(request(3, [20], chain: 7)).isEmpty)
        #expect(locks.release(1) == [2, 3])
    }

    @Test func aRequestWaitsForItsUngrantedPredecessorWhateverItsKeys() {
        let locks = IntentLocks()
        #expect(locks.enqueue(request(1, [10], chain: 0)) == [1])
        #expect(locks.enqueue(request(2, [10], chain: 7)).isEmpty)
        // 3 shares no key with anyone, but comes after 2 (a client's pipelined requests).
        #expect(locks.enqueue(IntentLocks.Request(id: 3, keys: [30], wholeShard: false, chain: 7, after: 2)).isEmpty)
        // A granted or finished predecessor holds nothing back.
        #expect(locks.enqueue(IntentLocks.Request(id: 4, keys: [40], wholeShard: false, chain: 7, after: 1)) == [4])
        #expect(locks.enqueue(IntentLocks.Request(id: 5, keys: [50], wholeShard: false, chain: 7, after: 99)) == [5])
        #expect(locks.release(1) == [2, 3])
    }

    @Test func releasingAnUnknownIdChangesNothing() {
        let locks = IntentLocks()
        #expect(locks.release(42).isEmpty)
        #expect(locks.isIdle)
    }
}

/// The per-key queues against the rule they implement, on random workloads: a request is
/// granted once every earlier queued request sharing a key with it is granted and of its
/// (non-zero) chain, none if it has no chain (a whole-shard request shares every key and
/// has no chain), and single commands see exactly the granted requests' keys.
@Suite struct IntentLocksModelTests {
    /// The rule, checked by brute force over the queue in arrival order.
    struct Model {
        var queue: [(id: UInt64, keys: Set<UInt64>, whole: Bool, chain: UInt64, after: UInt64, granted: Bool)] = []

        mutating func grantReady() -> Set<UInt64> {
            var granted = Set<UInt64>()
            for i in queue.indices {
                let r = queue[i]
                if r.whole {
                    if i == 0 && !r.granted { queue[i].granted = true; granted.insert(r.id) }
                    break
                }
                guard !r.granted else { continue }
                let free = queue[..<i].allSatisfy { earlier in
                    (earlier.keys.isDisjoint(with: r.keys) || (earlier.granted && r.chain != 0 && earlier.chain == r.chain))
                        && (earlier.id != r.after || earlier.granted)
                }
                if free { queue[i].granted = true; granted.insert(r.id) }
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
                let chain = whole ? 0 : rng.next() % 3
                // A predecessor, as a client's chained requests name: an earlier request no
                // other one names yet (a client's requests form a line).
                let named = Set(model.queue.map(\.after))
                let free = model.queue.map(\.id).filter { !named.contains($0) }
                let after = whole || free.isEmpty || rng.next() % 3 == 0 ? 0 : free[Int(rng.next() % UInt64(free.count))]
                let id = nextID
                nextID += 1
                model.queue.append((id, Set(keys), whole, chain, after, false))
                let expected = model.grantReady()
                let got = locks.enqueue(IntentLocks.Request(id: id, keys: keys, wholeShard: whole, chain: chain, after: after))
                #expect(Set(got) == expected)
                #expect(got.count == Set(got).count)
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
