import Testing
import Shards

/// The generic blocking registry: waiters per key in blocking order, deadlines, and the
/// keys the shard's write paths make ready.
@Suite struct BlockedKeysTests {
    func waiter(_ client: UInt64, _ keys: [String], db: Int = 0, deadline: Int64 = 0, turn: UInt64? = nil)
        -> BlockedKeys.Waiter {
        BlockedKeys.Waiter(clientID: client, db: db, keys: keys.map { Array($0.utf8) }, deadline: deadline,
                           turn: turn ?? client)
    }

    func key(_ k: String, db: Int = 0) -> BlockedKeys.Key { BlockedKeys.Key(db: db, key: Array(k.utf8)) }

    func ready(_ shard: Shard) -> [String] {
        shard.blocked.takeReadyKeys().map { "\($0.db):" + String(decoding: $0.key, as: UTF8.self) }
    }

    @Test func waitersPerKeyInBlockingOrderAndRemoval() {
        let b = BlockedKeys()
        #expect(b.isEmpty)
        let w1 = waiter(1, ["a", "b"]), w2 = waiter(2, ["a"]), w3 = waiter(3, ["a"], db: 1)
        for w in [w1, w2, w3] { b.add(w) }
        #expect(b.waiters(on: key("a")).map(\.clientID) == [1, 2])
        #expect(b.waiters(on: key("a", db: 1)).map(\.clientID) == [3])
        b.remove(w1)
        #expect(w1.done && b.waiters(on: key("a")).map(\.clientID) == [2] && b.waiters(on: key("b")).isEmpty)
        #expect(b.waiters(ofClient: 1).isEmpty && b.waiters(ofClient: 2).count == 1)
        b.remove(w2)
        b.remove(w3)
        #expect(b.isEmpty)
    }

    /// A request read earlier by another worker may arrive later: it goes before the waiters
    /// with later turns, on each of its keys, and equal turns keep their arrival order.
    @Test func waitersKeepTheOrderTheirCommandsWereRead() {
        let b = BlockedKeys()
        b.add(waiter(1, ["a"], turn: 10))
        b.add(waiter(2, ["a", "b"], turn: 30))
        b.add(waiter(3, ["b", "a"], turn: 20))  // read before 2, arrived after it
        b.add(waiter(4, ["a"], turn: 5))       // read before everyone
        b.add(waiter(5, ["a"], turn: 30))
        #expect(b.waiters(on: key("a")).map(\.clientID) == [4, 1, 3, 2, 5])
        #expect(b.waiters(on: key("b")).map(\.clientID) == [3, 2])
    }

    @Test func onlyWaitedKeysBecomeReadyOnceEachInSignalOrder() {
        let b = BlockedKeys()
        withBytes("x") { b.signal(db: 0, key: $0) }  // nobody waits: nothing to serve
        #expect(!b.hasReadyKeys)
        b.add(waiter(1, ["a", "b"]))
        for k in ["b", "nobody", "a", "b"] { withBytes(k) { b.signal(db: 0, key: $0) } }
        withBytes("a") { b.signal(db: 1, key: $0) }  // another database's key
        #expect(b.takeReadyKeys() == [key("b"), key("a")])
        #expect(!b.hasReadyKeys)
    }

    @Test func deadlinesTimeOutInOrderAndSkipRemovedWaiters() {
        let b = BlockedKeys()
        let late = waiter(1, ["a"], deadline: 300), early = waiter(2, ["a"], deadline: 100)
        let gone = waiter(3, ["a"], deadline: 50), never = waiter(4, ["a"])
        for w in [late, early, gone, never] { b.add(w) }
        b.remove(gone)
        #expect(b.earliestDeadline() == 100)
        #expect(b.popTimedOut(now: 99) == nil)
        #expect(b.popTimedOut(now: 300) === early)
        #expect(b.popTimedOut(now: 300) === late)
        #expect(b.popTimedOut(now: .max) == nil)
        #expect(b.earliestDeadline() == nil && b.waiters(on: key("a")).map(\.clientID) == [4])
    }

    /// Every write path that adds, replaces or removes a waited-on key makes it ready.
    @Test func shardWritesMakeWaitedKeysReady() {
        let shard = Shard(index: 0, databases: 4)
        shard.set("untouched", "v")
        for (db, k) in [(0, "new"), (0, "over"), (0, "gone"), (0, "moved"), (1, "moved"), (0, "dst"), (2, "s"), (3, "s"),
                        (1, "f"), (0, "ttl")] {
            shard.blocked.add(waiter(UInt64(db), [k], db: db))
        }
        shard.set("new", "v")
        #expect(ready(shard) == ["0:new"])
        shard.set("over", "1")
        _ = ready(shard)
        shard.set("over", "2")  // overwritten
        #expect(ready(shard) == ["0:over"])
        shard.set("gone", "v")
        _ = ready(shard)
        shard.del("gone")
        #expect(ready(shard) == ["0:gone"])
        // MOVE: detached from db 0, attached in db 1.
        shard.set("moved", "v")
        _ = ready(shard)
        let e = withBytes("moved") { shard.detach(db: 0, key: $0) }!
        #expect(shard.attach(e, db: 1, replace: false))
        #expect(ready(shard) == ["0:moved", "1:moved"])
        // RENAME/COPY onto an existing key: attach with replace.
        shard.set("dst", "old")
        _ = ready(shard)
        #expect(shard.attach(makeEntry("dst", value: "new"), db: 0, replace: true))
        #expect(ready(shard) == ["0:dst"])
        // SWAPDB and FLUSHDB: every waited-on key of the databases involved.
        shard.swapDatabases(2, 3)
        #expect(Set(ready(shard)) == ["2:s", "3:s"])
        shard.flush(db: 1)
        #expect(Set(ready(shard)) == ["1:f", "1:moved"])
        // Expiry.
        shard.now = 1000
        shard.set("ttl", "v", expireAt: 1500)
        _ = ready(shard)
        shard.now = 2000
        shard.expireAllDue()
        #expect(ready(shard) == ["0:ttl"])
        // A key nobody waits on, changed every way: nothing.
        shard.set("untouched", "w")
        shard.del("untouched")
        #expect(!shard.blocked.hasReadyKeys)
    }
}
