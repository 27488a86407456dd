import Testing
@testable import Shards
import TestSupport

@Suite struct IntentLocksTests {
    func request(_ id: UInt64, _ keys: [UInt64], whole: Bool = false, chain: UInt64 = 0,
                 shared: Bool = false) -> IntentLocks.Request {
        IntentLocks.Request(id: id, keys: keys, wholeShard: whole, chain: chain, shared: shared)
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

    /// DEBUG LOCKS' lines: one per queued request, in arrival order, saying who holds and
    /// what each waiting one still waits for.
    @Test func describeListsHoldersAndWaiters() {
        let locks = IntentLocks()
        #expect(locks.describe() == ["requests 0, whole-shard held 0, whole-shard queued 0, keys 0"])
        _ = locks.enqueue(request(7, [10], shared: true))
        _ = locks.enqueue(request(8, [10, 20]))
        _ = locks.enqueue(request(9, [], whole: true))
        let lines = locks.describe()
        #expect(lines.count == 4)
        #expect(lines[0] == "requests 3, whole-shard held 0, whole-shard queued 1, keys 2")
        #expect(lines[1] == "request id 7 arrival 1 granted shared keys 10@0/2h1x0")
        #expect(lines[2] == "request id 8 arrival 2 waiting for 1 keys 10@1/2h1x0 20@solo")
        #expect(lines[3] == "request id 9 arrival 3 waiting for 2 whole-shard")
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

    @Test func sharedRequestsHoldAKeyTogetherAndAWriterWaitsForAll() {
        let locks = IntentLocks()
        #expect(locks.enqueue(request(1, [10, 11], shared: true)) == [1])
        #expect(locks.enqueue(request(2, [10], shared: true)) == [2])
        #expect(locks.enqueue(request(3, [10])).isEmpty)
        // A reader behind the waiting writer waits for it: no overtaking.
        #expect(locks.enqueue(request(4, [10], shared: true)).isEmpty)
        #expect(locks.release(1).isEmpty)
        #expect(locks.release(2) == [3])
        #expect(locks.release(3) == [4])
        #expect(locks.release(4).isEmpty)
        #expect(locks.isIdle)
    }

    @Test func aWritersReleaseGrantsEveryReaderQueuedBehindIt() {
        let locks = IntentLocks()
        #expect(locks.enqueue(request(1, [10])) == [1])
        #expect(locks.enqueue(request(2, [10], shared: true)).isEmpty)
        #expect(locks.enqueue(request(3, [10, 12], shared: true)).isEmpty)
        #expect(locks.enqueue(request(4, [10])).isEmpty)
        #expect(locks.release(1) == [2, 3])
        #expect(locks.release(3).isEmpty)
        #expect(locks.release(2) == [4])
    }

    @Test func readingCommandsPassSharedHolders() {
        let locks = IntentLocks()
        let key: [UInt8] = Array("k".utf8)
        let lockKey = key.withUnsafeBytes { IntentLocks.lockKey($0) }
        _ = locks.enqueue(request(1, [lockKey], shared: true))
        #expect(key.withUnsafeBytes { locks.blocks(key: $0) })
        #expect(!key.withUnsafeBytes { locks.blocks(key: $0, reading: true) })
        _ = locks.enqueue(request(2, [lockKey], chain: 0))
        _ = locks.release(1)
        #expect(key.withUnsafeBytes { locks.blocks(key: $0, reading: true) })
    }

    @Test func releasingAnUnknownIdChangesNothing() {
        let locks = IntentLocks()
        #expect(locks.release(42).isEmpty)
        #expect(locks.isIdle)
    }
}

/// The per-key queues against the rule they implement, on random workloads: a request is
/// granted once every earlier queued request sharing a key with it is granted and either of
/// its (non-zero) chain or, both being shared, a reader too (a whole-shard request shares
/// every key, has no chain and is not shared), and single commands see exactly the granted
/// requests' keys (readers, those of granted requests that are not shared).
@Suite struct IntentLocksModelTests {
    /// The rule, checked by brute force over the queue in arrival order.
    struct Model {
        var queue: [(id: UInt64, keys: Set<UInt64>, whole: Bool, chain: UInt64, after: UInt64, shared: Bool,
                     granted: Bool)] = []

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
                    (earlier.keys.isDisjoint(with: r.keys) || (earlier.granted && r.chain != 0 && earlier.chain == r.chain)
                        || (earlier.granted && earlier.shared && r.shared))
                        && (earlier.id != r.after || earlier.granted)
                }
                if free { queue[i].granted = true; granted.insert(r.id) }
            }
            return granted
        }

        func holds(_ key: UInt64, reading: Bool = false) -> Bool {
            queue.contains { $0.granted && ($0.whole || ($0.keys.contains(key) && !(reading && $0.shared))) }
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
                // Now and then a long list, as a lock group's: most of its keys repeat.
                let count = rng.next() % 10 == 0 ? 9 + Int(rng.next() % 12) : 1 + Int(rng.next() % 4)
                let keys = whole ? [] : (0..<count).map { _ in rng.next() % 12 }
                let chain = whole ? 0 : rng.next() % 3
                let shared = !whole && rng.next() % 2 == 0
                // A predecessor, as a client's chained requests name: an earlier request no
                // other one names yet (a client's requests form a line).
                let named = Set(model.queue.map(\.after))
                let free = model.queue.map(\.id).filter { !named.contains($0) }
                let after = whole || free.isEmpty || rng.next() % 3 == 0 ? 0 : free[Int(rng.next() % UInt64(free.count))]
                let id = nextID
                nextID += 1
                model.queue.append((id, Set(keys), whole, chain, after, shared, false))
                let expected = model.grantReady()
                let got = locks.enqueue(IntentLocks.Request(id: id, keys: keys, wholeShard: whole, chain: chain, after: after,
                                                            shared: shared))
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
                #expect(locks.holds(key, reading: true) == model.holds(key, reading: true))
            }
            #expect(locks.wholeShardHeld == model.queue.contains { $0.granted && $0.whole })
            #expect(locks.isIdle == model.queue.isEmpty)
        }
    }
}

/// Several shards' lock tables driven as the workers drive them: each request numbered in
/// one global order, queued on each of its shards in that order (at different moments),
/// its work on a shard done the moment that shard grants it, released once every shard has
/// granted it and (chained requests) once the previous request of its chain has completed.
/// Whatever the interleaving, two requests that conflict on a key (one of them not shared)
/// must do their work there in number order, on every shard: that is what makes a
/// cross-shard operation atomic. And nothing may stay queued forever.
@Suite struct IntentLocksAcrossShardsTests {
    struct Op {
        let id: UInt64
        let keys: [[UInt64]]  // per shard; empty: not on that shard
        let shared: Bool
        let chain: UInt64
        /// Per shard: the request of the same client it must follow there (0: none).
        let after: [UInt64]
        var grantedOn = 0
        var completed = false
        var released = false
        var shardCount: Int { keys.filter { !$0.isEmpty }.count }
    }

    @Test(arguments: 1...12)
    func conflictingWorkRunsInNumberOrderOnEveryShard(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let shards = 2
        let locks = (0..<shards).map { _ in IntentLocks() }
        var ops: [Op] = []
        var delivered = [Int](repeating: 0, count: shards)  // next op index each shard queues
        var history: [UInt64: [(id: UInt64, shared: Bool)]] = [:]
        var failures = 0
        var latestOfClient = [[UInt64]](repeating: [UInt64](repeating: 0, count: shards), count: 4)

        func granted(_ ids: [UInt64], shard: Int) {
            for id in ids {
                let i = Int(id) - 1
                for k in ops[i].keys[shard] { history[k, default: []].append((id, ops[i].shared)) }
                ops[i].grantedOn += 1
            }
        }
        /// Completes, in chain order, what every shard has granted.
        func complete() {
            for i in ops.indices where !ops[i].completed && ops[i].grantedOn == ops[i].shardCount {
                let earlierOfChain = ops[..<i].contains { $0.chain != 0 && $0.chain == ops[i].chain && !$0.completed }
                if ops[i].chain == 0 || !earlierOfChain { ops[i].completed = true }
            }
        }
        func release(_ i: Int) {
            ops[i].released = true
            for s in 0..<shards where !ops[i].keys[s].isEmpty { granted(locks[s].release(ops[i].id), shard: s) }
        }
        func deliver(_ s: Int) -> Bool {
            while delivered[s] < ops.count && ops[delivered[s]].keys[s].isEmpty { delivered[s] += 1 }
            guard delivered[s] < ops.count else { return false }
            let op = ops[delivered[s]]
            delivered[s] += 1
            granted(locks[s].enqueue(IntentLocks.Request(id: op.id, keys: op.keys[s], wholeShard: false,
                                                         chain: op.chain, after: op.after[s], shared: op.shared)),
                    shard: s)
            return true
        }

        for _ in 0..<4000 {
            let live = ops.filter { !$0.released }.count
            switch rng.below(10) {
            case 0..<3 where live < 24:
                var keys = (0..<shards).map { s -> [UInt64] in
                    rng.below(3) == 0 ? [] : (0..<(1 + rng.below(2))).map { _ in UInt64(s * 100 + rng.below(3)) }
                }
                if keys.allSatisfy(\.isEmpty) { keys[0] = [UInt64(rng.below(3))] }
                // A client's chained requests carry its worker's chain and follow each other on
                // every shard; unchained ones stand alone.
                let client = rng.below(4)
                let chained = rng.below(4) != 0
                let id = UInt64(ops.count + 1)
                var after = [UInt64](repeating: 0, count: shards)
                if chained {
                    for s in 0..<shards where !keys[s].isEmpty {
                        after[s] = latestOfClient[client][s]
                        latestOfClient[client][s] = id
                    }
                }
                ops.append(Op(id: id, keys: keys, shared: rng.below(2) == 0,
                              chain: chained ? UInt64(client % 2 + 1) : 0, after: after))
            case 3..<7:
                _ = deliver(rng.below(shards))
            default:
                complete()
                let done = ops.indices.filter { ops[$0].completed && !ops[$0].released }
                if !done.isEmpty { release(done[rng.below(done.count)]) }
            }
        }
        // Drain: everything is eventually granted, completed and released.
        var progress = true
        while progress {
            progress = false
            for s in 0..<shards where deliver(s) { progress = true }
            complete()
            for i in ops.indices where ops[i].completed && !ops[i].released {
                release(i)
                progress = true
            }
        }
        let allReleased = ops.allSatisfy { $0.released }
        #expect(allReleased, "requests left waiting")
        for (key, accesses) in history {
            for j in accesses.indices {
                for i in 0..<j where (!accesses[i].shared || !accesses[j].shared) && accesses[i].id > accesses[j].id {
                    failures += 1
                    if failures < 5 {
                        Issue.record("key \(key): \(accesses[i].id) worked before \(accesses[j].id)")
                    }
                }
            }
        }
        #expect(failures == 0)
        let idle = locks.allSatisfy { $0.isIdle }
        #expect(idle)
    }
}
