import Testing
@testable import Server

/// The global order of multi-shard lock requests without a sequencer thread (LockOrder).
@Suite struct LockOrderTests {
    @Test func aNumberStillBeingSentHoldsTheBoundBelowIt() {
        let order = LockOrder(workers: 2)
        var reserved0: Range<UInt64> = 0..<0, reserved1: Range<UInt64> = 0..<0
        let first = order.take(worker: 0, floorHeld: false, reserved: &reserved0)
        #expect(order.safeBound() <= first)  // worker 0 may not have pushed it everywhere yet
        let second = order.take(worker: 1, floorHeld: false, reserved: &reserved1)
        order.cleared(worker: 0)
        #expect(order.safeBound() > first)
        #expect(order.safeBound() <= second)
        order.cleared(worker: 1)
        #expect(order.safeBound() > second)
    }

    @Test func aHeldFloorStaysAtTheOldestNumber() {
        let order = LockOrder(workers: 1)
        var reserved: Range<UInt64> = 0..<0
        let first = order.take(worker: 0, floorHeld: false, reserved: &reserved)
        // A message of the first request still waits for ring room: the next one keeps the floor.
        _ = order.take(worker: 0, floorHeld: true, reserved: &reserved)
        #expect(order.safeBound() <= first)
        order.cleared(worker: 0)
        #expect(order.safeBound() > first + 1)
    }

    @Test func oneWorkersNumbersWhileItsFloorIsHeldAreNotInterleavedWithAnothers() {
        let order = LockOrder(workers: 2)
        var reserved0: Range<UInt64> = 0..<0, reserved1: Range<UInt64> = 0..<0
        let a1 = order.take(worker: 0, floorHeld: false, reserved: &reserved0)
        let b1 = order.take(worker: 1, floorHeld: false, reserved: &reserved1)
        let a2 = order.take(worker: 0, floorHeld: true, reserved: &reserved0)
        let b2 = order.take(worker: 1, floorHeld: true, reserved: &reserved1)
        #expect(a1 + 1 == a2 && b1 + 1 == b2)
        #expect(a2 < b1)
        // Once the floor went, the rest of the block is dropped: a shard may have queued
        // worker 1's numbers by then, and worker 0's next must come after them.
        order.cleared(worker: 0)
        order.cleared(worker: 1)
        let a3 = order.take(worker: 0, floorHeld: false, reserved: &reserved0)
        #expect(a3 > b2)
        #expect(order.safeBound() <= a3)
    }

    @Test func aWorkersOwnShardIgnoresItsFloorAndItsLaterNumbersComeAboveTheBound() {
        let order = LockOrder(workers: 2)
        var reserved0: Range<UInt64> = 0..<0, reserved1: Range<UInt64> = 0..<0
        let own = order.take(worker: 0, floorHeld: false, reserved: &reserved0)
        let other = order.take(worker: 1, floorHeld: false, reserved: &reserved1)
        order.cleared(worker: 1)  // worker 1's request is in worker 0's ring
        // Other shards wait for worker 0's floor; its own shard holds `own` already.
        #expect(order.safeBound() <= own)
        let bound = order.safeBound(forShardOf: 0)
        #expect(bound > other && bound > own)
        #expect(order.safeBound(forShardOf: 1) <= own)  // worker 0's floor still counts there
        // Its block is dropped at that drain: what it numbers next comes above the bound,
        // and its floor stays where it was for the others.
        reserved0 = 0..<0
        let later = order.take(worker: 0, floorHeld: true, reserved: &reserved0)
        #expect(later >= bound)
        #expect(order.safeBound() <= own)
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
