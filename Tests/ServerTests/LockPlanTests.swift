@testable import Server
import Shards
import Testing

@Suite struct LockPlanTests {
    @Test func keysAreGroupedByShardInTheOrderShardsWereNamed() {
        var plan = LockPlan()
        plan.add(key: 10, shard: 1)
        plan.add(key: 20, shard: 0)
        plan.add(key: 11, shard: 1)
        plan.include(shard: 3)
        plan.lockWholeShard(2)
        #expect(plan.shards.map(\.index) == [1, 0, 3, 2])
        #expect(plan.shards.map(\.wholeShard) == [false, false, false, true])
        #expect(plan.count == 4)

        let lock = TransactionLock()
        lock.fill(id: 9, coordinator: 0, operationSlot: 0, watchingClient: nil, plan: plan)
        #expect((0..<lock.shardCount).map(lock.shard(at:)) == [1, 0, 3, 2])
        let locks = IntentLocks()
        var granted: [IntentLocks.Grant] = []
        lock.enqueue(on: locks, shard: 1, into: &granted)
        #expect(granted.map(\.id) == [9])
        #expect(locks.holds(10) && locks.holds(11) && !locks.holds(20))

        plan.removeAll()
        #expect(plan.isEmpty && plan.keys.isEmpty)
    }

    @Test func anOperationJoiningALockAddsItsKeysToEachOfItsShards() {
        var plan = LockPlan()
        plan.add(key: 10, shard: 1)
        plan.add(key: 20, shard: 0)
        let lock = TransactionLock()
        lock.fill(id: 5, coordinator: 0, operationSlot: 3, watchingClient: nil, plan: plan, chain: 1, chainedClient: 42)
        #expect(lock.names(shard: 0) && lock.names(shard: 1) && !lock.names(shard: 2) && !lock.locksAWholeShard)
        var joining = LockPlan()
        joining.add(key: 21, shard: 0)
        joining.add(key: 11, shard: 1)
        joining.add(key: 20, shard: 0)  // a key the group has already
        lock.join(slot: 7, plan: &joining)
        #expect(lock.joinedSlots == [7] && lock.holders == 2)
        for (shard, held, free) in [(1, [10, 11], [20, 21]), (0, [20, 21], [10, 11])] as [(Int, [UInt64], [UInt64])] {
            let locks = IntentLocks()
            var granted: [IntentLocks.Grant] = []
            lock.enqueue(on: locks, shard: shard, into: &granted)
            #expect(granted.map(\.id) == [5])
            #expect(held.allSatisfy { locks.holds($0) } && !free.contains { locks.holds($0) })
        }
        lock.fill(id: 6, coordinator: 0, operationSlot: 3, watchingClient: nil, plan: plan)
        #expect(lock.joinedSlots.isEmpty && lock.holders == 1 && !lock.sealed)
    }

    @Test func aChainedLockComesAfterItsClientsPreviousOneOnEachShard() {
        var plan = LockPlan()
        plan.add(key: 10, shard: 0)
        plan.add(key: 20, shard: 1)
        var latest: [UInt64] = []
        let first = TransactionLock(), second = TransactionLock()
        first.fill(id: 1, coordinator: 0, operationSlot: 0, watchingClient: nil, plan: plan, chain: 1, chainedClient: 42)
        first.follow(clientsLatest: &latest)
        plan.removeAll()
        plan.add(key: 30, shard: 1)  // no key in common with the first one
        second.fill(id: 2, coordinator: 0, operationSlot: 1, watchingClient: nil, plan: plan, chain: 1, chainedClient: 42)
        second.follow(clientsLatest: &latest)
        #expect(latest == [1, 2])
        let locks = IntentLocks()
        var granted: [IntentLocks.Grant] = []
        _ = locks.enqueue(IntentLocks.Request(id: 7, keys: [20], wholeShard: false))  // holds key 20 on shard 1
        first.enqueue(on: locks, shard: 1, into: &granted)
        second.enqueue(on: locks, shard: 1, into: &granted)
        #expect(granted.isEmpty)  // the second waits for the first, which waits for key 20
        #expect(locks.release(7) == [1, 2])
    }

    @Test func aRetiredLockIsReusedOnlyOnceNothingElseHoldsIt() {
        var pool = TransactionLockPool()
        var heldByAShard: TransactionLock? = pool.take()
        let identity = ObjectIdentifier(heldByAShard!)
        pool.retire(heldByAShard!)
        let whileHeld = pool.take()
        #expect(ObjectIdentifier(whileHeld) != identity)
        heldByAShard = nil
        #expect(ObjectIdentifier(pool.take()) == identity)
    }
}
