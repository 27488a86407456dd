import Testing
@testable import Shards

@Suite struct IntentLocksTests {
    func request(_ id: UInt64, _ keys: [UInt64], whole: Bool = false) -> IntentLocks.Request {
        IntentLocks.Request(id: id, keys: Set(keys), wholeShard: whole)
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
