import Testing
import Shards
import Values

/// The undo log of a script run that may be abandoned: every write after `save` is undone
/// exactly (value, encoding, TTL, existence, objects changed in place, other databases).
@Suite struct WriteUndoLogTests {
    private func save(_ log: WriteUndoLog, _ shard: Shard, _ key: String, db: Int = 0) {
        withBytes(key) { log.save(shard, db: db, key: $0) }
    }

    private func hashValue(_ shard: Shard, _ key: String, _ field: String) -> String? {
        guard let hash = shard.entry(key)?.object as? Hash else { return nil }
        return withBytes(field) { f in hash.withValue(f) { $0.map(string) } }
    }

    private func hashSet(_ shard: Shard, _ key: String, _ field: String, _ value: String) {
        guard let h = shard.entry(key)?.object as? Hash else { return }
        withBytes(field) { f in withBytes(value) { v in _ = h.set(f, v) } }
    }

    @Test func stringsTTLsAndExistenceComeBack() {
        let shard = Shard(index: 0, databases: 4)
        shard.now = 1_000
        shard.set("s", "old", expireAt: 50_000)
        shard.set("plain", "12")
        shard.set("gone", "here")
        shard.set("d1", "one", db: 1)
        let log = WriteUndoLog()
        for key in ["s", "plain", "gone", "new"] { save(log, shard, key) }
        save(log, shard, "s")  // a second save of a key keeps the first state
        save(log, shard, "d1", db: 1)
        shard.set("s", "a much longer value than before, in a new block")
        shard.set("s", "again")
        shard.set("plain", "13", expireAt: 9_000)
        shard.del("gone")
        shard.set("new", "fresh", expireAt: 7_000)
        shard.del("d1", db: 1)
        #expect(log.count == 5)
        log.undo(shard)
        #expect(log.isEmpty)
        #expect(shard.get("s") == "old" && shard.entry("s")?.expireAt == 50_000)
        #expect(shard.get("plain") == "12" && shard.entry("plain")?.expireAt == 0)
        #expect(shard.get("gone") == "here")
        #expect(shard.get("new") == nil)
        #expect(shard.get("d1", db: 1) == "one")
        #expect(shard.keyCount(db: 0) == 3 && shard.expiringCount(db: 0) == 1 && shard.keyCount(db: 1) == 1)
        // The heap still expires the restored deadline (and only it).
        shard.now = 60_000
        shard.expireAllDue()
        #expect(shard.get("s") == nil && shard.get("plain") == "12" && shard.keyCount(db: 0) == 2)
    }

    @Test func objectsChangedInPlaceComeBack() {
        let shard = Shard(index: 0, databases: 1)
        shard.now = 1_000
        let big = Hash()
        for i in 0..<200 { withBytes("f\(i)") { f in withBytes("v\(i)") { v in _ = big.set(f, v) } } }
        big.convertToTable()
        withBytes("big") { shard.insertNew(Entry.makeObject(key: $0, hash: KeyTable.hash($0), object: big), db: 0,
                                           expireAt: 0) }
        let small = Hash()
        withBytes("f") { f in withBytes("1") { v in _ = small.set(f, v) } }
        withBytes("small") { shard.insertNew(Entry.makeObject(key: $0, hash: KeyTable.hash($0), object: small), db: 0,
                                             expireAt: 0) }
        #expect(shard.entry("small")?.isInlineHash == true)
        let log = WriteUndoLog()
        save(log, shard, "big")
        save(log, shard, "small")
        hashSet(shard, "big", "f3", "changed")  // in place, as HSET changes a table hash
        shard.del("small")
        #expect(hashValue(shard, "big", "f3") == "changed" && shard.entry("small") == nil)
        log.undo(shard)
        #expect(hashValue(shard, "big", "f3") == "v3" && hashValue(shard, "small", "f") == "1")
        #expect((shard.entry("big")?.object as? Hash)?.count == 200)
    }

    @Test func forgetKeepsTheWrites() {
        let shard = Shard(index: 0, databases: 1)
        let log = WriteUndoLog()
        save(log, shard, "k")
        shard.set("k", "v")
        log.forget()
        #expect(log.isEmpty && shard.get("k") == "v")
        log.undo(shard)  // nothing left to undo
        #expect(shard.get("k") == "v")
    }
}
