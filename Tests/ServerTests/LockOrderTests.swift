import Testing
@testable import Server

/// The global order of multi-shard lock requests without a sequencer thread (LockOrder).
@Suite struct LockOrderTests {
    @Test func aNumberStillBeingSentHoldsTheBoundBelowIt() {
        let order = LockOrder(workers: 2)
        let first = order.take(worker: 0, floorHeld: false)
        #expect(order.safeBound() <= first)  // worker 0 may not have pushed it everywhere yet
        let second = order.take(worker: 1, floorHeld: false)
        order.cleared(worker: 0)
        #expect(order.safeBound() > first)
        #expect(order.safeBound() <= second)
        order.cleared(worker: 1)
        #expect(order.safeBound() > second)
    }

    @Test func aHeldFloorStaysAtTheOldestNumber() {
        let order = LockOrder(workers: 1)
        let first = order.take(worker: 0, floorHeld: false)
        // A message of the first request still waits for ring room: the next one keeps the floor.
        _ = order.take(worker: 0, floorHeld: true)
        #expect(order.safeBound() <= first)
        order.cleared(worker: 0)
        #expect(order.safeBound() > first + 1)
    }

    @Test func requestsAreQueuedInNumberOrderBelowTheBound() {
        var requests = OrderedLockRequests()
        func lock(_ id: UInt64) -> TransactionLock {
            let lock = TransactionLock()
            lock.fill(id: id, coordinator: 0, operationSlot: 0, watchingClient: nil, plan: LockPlan())
            return lock
        }
        requests.add(lock(7), shard: 0, order: 7)
        requests.add(lock(3), shard: 0, order: 3)
        requests.add(lock(5), shard: 0, order: 5)
        var ready: OrderedLockRequests.Ready = []
        requests.take(below: 6, into: &ready)
        #expect(ready.map(\.order) == [3, 5])
        #expect(!requests.isEmpty)
        #expect(requests.passesWaited == 1)
        requests.take(below: 8, into: &ready)
        #expect(ready.map(\.order) == [7])
        #expect(requests.isEmpty)
        #expect(requests.passesWaited == 0)
    }
}
