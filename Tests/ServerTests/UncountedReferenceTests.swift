import Testing
@testable import Server
import Shards

/// Structs holding `unowned(unsafe)` references, as unspecialized generic code (a debug
/// build's `for x in list`, Optional) sees them. Swift 6.3.1 gets nil's bit pattern wrong for
/// a struct whose only spare bits are an `unowned(unsafe)` *optional*: generic code's nil
/// read as a value, and `for g in grants` in queueLock never ended (IntentLocks.Grant now
/// keeps an address). These keep that from coming back through another struct.
@Suite struct UncountedReferenceTests {
    func none<T>(_: T.Type) -> T? { nil }

    @Test func lockMessagesAndOrderedRequests() {
        let lock = TransactionLock()
        let messages = [LockMessage(lock: lock, shard: 0, order: 1), LockMessage(lock: lock, shard: 1, order: 2)]
        #expect(none(LockMessage.self) == nil)
        var orders: [UInt64] = []
        for m in messages {  // stops one past the end instead of looping forever
            orders.append(m.order)
            if orders.count > messages.count { break }
        }
        #expect(orders == [1, 2])
        #expect(none(OrderedLockRequests.Request.self) == nil)
        var requests = OrderedLockRequests()
        requests.add(lock, shard: 0, order: 2)
        requests.add(lock, shard: 1, order: 1)
        var ready: OrderedLockRequests.Ready = []
        requests.take(below: 3, into: &ready)
        var shards: [Int] = []
        for r in ready {
            shards.append(r.shard)
            if shards.count > ready.count { break }
        }
        #expect(shards == [1, 0])
    }

    @Test func shardContextWithoutWorker() {
        let shard = Shard(index: 0, databases: 1)
        let contexts = [ShardContext(shard: shard, db: 0, resp: .resp2), ShardContext(shard: shard, db: 0, resp: .resp2)]
        #expect(none(ShardContext.self) == nil)
        var n = 0
        for c in contexts {
            n += 1
            #expect(c.worker == nil)
            if n > contexts.count { break }
        }
        #expect(n == 2)
    }
}
