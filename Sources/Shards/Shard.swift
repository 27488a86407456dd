#if canImport(Glibc)
import Glibc
#endif
import RESP
import Values

/// One partition of the keyspace: a table per database and one expiry heap.
///
/// A shard is owned by exactly one thread (its worker); nothing else reads or writes it,
/// so no operation here takes a lock. Other threads reach it only through ring messages.
public final class Shard: @unchecked Sendable {  // touched only by its owning worker thread
    public let index: Int
    public let databaseCount: Int
    /// Tables by table id; `tableOfDatabase` maps a database index to its table id
    /// (SWAPDB swaps the mapping, so entries keep a stable table id for the heap).
    private let tables: UnsafeMutablePointer<KeyTable>
    private(set) var tableOfDatabase: [Int]
    private var heap = ExpiryHeap()

    /// Intent locks of transactions and multi-shard commands running on this shard.
    public let locks = IntentLocks()
    /// Due expirations a lock holds back this pass (activeExpire), kept for its capacity.
    private var expiryHeldBack: [ExpiryHeap.Item] = []
    /// WATCHed keys; every mutation below reports to it through `noteModified`.
    public let watches = WatchTable()
    /// Clients blocked on keys; every mutation below that adds, replaces or removes a key
    /// marks it ready (a value changed in place is signalled by its command).
    public let blocked = BlockedKeys()

    /// Cached clock: unix milliseconds, refreshed by the worker before each batch.
    public var now: Int64 = 0
    /// When false (DEBUG SET-ACTIVE-EXPIRE 0), only lazy expiry runs.
    public var activeExpireEnabled = true
    /// When true (a replica), keys are never deleted on access: reads hide them instead.
    public var expiryDeletesOnAccess = true

    // Counters for INFO stats (read through the worker's published snapshot).
    public var expiredKeys = 0
    public var expiredStaleSkips = 0
    public var keyspaceHits = 0
    public var keyspaceMisses = 0
    /// The draws of SPOP, SRANDMEMBER, HRANDFIELD, ZRANDMEMBER and RANDOMKEY on this shard.
    public var random = FastRandom()

    public init(index: Int, databases: Int) {
        self.index = index
        databaseCount = databases
        tables = .allocate(capacity: databases)
        for i in 0..<databases { (tables + i).initialize(to: KeyTable()) }
        tableOfDatabase = Array(0..<databases)
    }

    deinit {
        heap.removeAll { item in release(item.entry) }
        for i in 0..<databaseCount {
            tables[i].removeAll { retire($0) }
            (tables + i).deinitialize(count: 1)
        }
        tables.deallocate()
    }

    @inline(__always) func table(_ db: Int) -> UnsafeMutablePointer<KeyTable> {
        tables + tableOfDatabase[db]
    }

    public func keyCount(db: Int) -> Int { table(db).pointee.count }
    public func expiringCount(db: Int) -> Int { table(db).pointee.expiringCount }

    // MARK: Lookup

    /// Set while a command from this replica's master runs: keys past their deadline still
    /// count as present (Redis's expireIfNeeded for the master client), so the master's DEL
    /// of an expired key removes it and its other writes apply as they did on the master.
    public var applyingMasterStream = false

    @inline(__always) private func isExpired(_ e: Entry) -> Bool {
        let at = e.expireAt
        return at != 0 && at <= now && !applyingMasterStream
    }

    /// The live entry for `key`, expiring it lazily if its deadline has passed.
    public func lookup(db: Int, key: UnsafeRawBufferPointer) -> Entry? {
        lookup(db: db, key: key, hash: KeyTable.hash(key))
    }

    public func lookup(db: Int, key: UnsafeRawBufferPointer, hash: UInt32) -> Entry? {
        let t = table(db)
        guard let slot = t.pointee.find(key, hash: hash) else { return nil }
        let e = t.pointee.entry(at: slot)
        if isExpired(e) {
            if expiryDeletesOnAccess { expire(slot: slot, in: t) }
            return nil
        }
        // An object (a stream) is changed in place after its lookup, and its command may note
        // the change only afterwards: a running snapshot copies it now, as it still is.
        if snapshotActive && e.kind == .object { copyForSnapshot(e) }
        return e
    }

    /// Prefetches what looking up keys `args[first]`, `args[first + step]`... will read, in
    /// two sweeps (their home slots, then the entries there), so the keys' cache misses
    /// overlap instead of following one another. On a table bigger than the cache a lookup
    /// is mostly waiting for memory (KeyTable.find was 74% of an MGET of 10 random keys of
    /// 100k); Valkey 8 prefetches batched keys likewise. Up to 16 keys at a time.
    public func prefetch(db: Int, _ args: Arguments, first: Int, step: Int = 1) {
        guard args.count - first >= 2 else { return }  // one key: nothing to overlap
        let t = table(db)
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 16) { hashes in
            var i = first
            while i < args.count {
                var n = 0
                var j = i
                while j < args.count && n < 16 {
                    hashes[n] = KeyTable.hash(args[j])
                    t.pointee.prefetchHome(hash: hashes[n])
                    n += 1
                    j += step
                }
                for k in 0..<n { t.pointee.prefetchEntry(hash: hashes[k]) }
                i = j
            }
        }
    }

    /// Like `lookup`, and records a hit or miss and the access time (read commands).
    public func lookupForRead(db: Int, key: UnsafeRawBufferPointer) -> Entry? {
        if let e = lookup(db: db, key: key) {
            keyspaceHits += 1
            e.lastAccess = UInt32(truncatingIfNeeded: now / 1000)
            return e
        }
        keyspaceMisses += 1
        notify(KeyspaceEvent.keyMiss, "keymiss", db: db, key: key)  // lookupKeyGeneric, reads
        return nil
    }

    private func expire(slot: Int, in t: UnsafeMutablePointer<KeyTable>) {
        if snapshotActive { copyForSnapshot(t.pointee.entry(at: slot)) }
        let e = t.pointee.remove(at: slot)
        if !watches.isEmpty || propagation != nil || !blocked.isEmpty || notifyFlags != 0,
           let db = tableOfDatabase.firstIndex(of: tables.distance(to: t)) {
            notify(KeyspaceEvent.expired, "expired", db: db, key: e.key)
            if !watches.isEmpty { watches.touch(db: db, key: e.key, expiredAway: true) }
            blocked.signal(db: db, key: e.key)
            // Replicas never expire keys themselves: the master's DEL does it, in stream order.
            propagation?.expired(db: db, key: e.key)
        }
        if e.expireAt != 0 { t.pointee.expiringCount -= 1 }
        expiredKeys += 1
        retire(e)
    }

    /// Where this shard's writes are recorded for replication (nil while nothing replicates).
    public var propagation: PropagationLog?
    /// True when writes are to be recorded (`propagation` set and this server not a replica):
    /// a plain flag, so the command path checks it without touching a reference count.
    public var recordsWrites = false

    /// The keyspace notification classes configured (KeyspaceEvent; 0: none, the common
    /// case), copied by the worker once per loop pass, and the notifications made since.
    public var notifyFlags = 0
    public var notifications = PendingNotifications()

    /// True if `key` is present but past its deadline (not yet reclaimed).
    public func isLogicallyExpired(db: Int, key: UnsafeRawBufferPointer) -> Bool {
        let t = table(db)
        guard let slot = t.pointee.find(key, hash: KeyTable.hash(key)) else { return false }
        return isExpired(t.pointee.entry(at: slot))
    }

    // MARK: Writes

    /// Tells WATCH that `key` changed. Every mutation in this file calls it; command
    /// handlers that change a value in place call it themselves.
    @inline(__always) public func noteModified(db: Int, key: UnsafeRawBufferPointer) {
        changes &+= 1
        if snapshotActive { copyForSnapshot(db: db, key: key) }
        if !watches.isEmpty { watches.touch(db: db, key: key) }
    }

    /// A change WATCH does not see (Redis calls no signalModifiedKey for consumer-group
    /// state: XREADGROUP, XACK, XCLAIM...) but saves, snapshots and replication must.
    @inline(__always) public func noteChangedUnwatched(db: Int, key: UnsafeRawBufferPointer) {
        changes &+= 1
        if snapshotActive { copyForSnapshot(db: db, key: key) }
    }

    /// Makes the writes counted since `start` (a value of `changes` the running command
    /// read) exactly `n`, for a command Redis counts its own way in server.dirty (PFADD: its
    /// creation and one per register it raised, however often its string moved).
    public func countChanges(_ n: Int, since start: Int) {
        changes = start &+ n
    }

    /// Writes since start-up (save rules, INFO's rdb_changes_since_last_save).
    public private(set) var changes = 0
    public func resetChanges() { changes = 0 }

    /// Stores a string value. `expireAt`: nil keeps the existing TTL (KEEPTTL),
    /// 0 clears it, otherwise the unix-ms deadline. Returns the stored entry.
    @discardableResult
    public func setString(db: Int, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer,
                          expireAt: Int64?) -> Entry {
        let hash = KeyTable.hash(key)
        let t = table(db)
        if let slot = t.pointee.find(key, hash: hash) {
            let old = t.pointee.entry(at: slot)
            let oldExpired = isExpired(old)
            if oldExpired && expiryDeletesOnAccess {
                // Redis deletes an expired key before writing it anew (lookupKeyWrite) and
                // propagates that DEL. Replicas need it: they keep the key until the master's
                // DEL, so a SET ... KEEPTTL reaching them without it kept the dead deadline
                // there (the key hidden on every replica, live without a TTL on the master).
                expire(slot: slot, in: t)
                let e = Entry.makeString(key: key, hash: hash, value: value)
                insert(e, table: t, db: db, expireAt: expireAt ?? 0)
                return e
            }
            noteModified(db: db, key: key)  // a new key is reported by `insert`
            blocked.signal(db: db, key: key)
            let oldExpire = old.expireAt
            // A key past its deadline that this server may not delete (a replica's own write):
            // it counts as expired and is written without its TTL.
            if oldExpired { expiredKeys += 1 }
            let keepTTL = expireAt == nil && !oldExpired
            let newExpire = keepTTL ? oldExpire : (expireAt ?? 0)
            let e: Entry
            if old.kind == .string && value.count <= old.valueCapacity && value.count * 2 >= old.valueLength {
                // Overwrite in place: the block (and its heap references) stays put.
                if value.count > 0 { old.valuePointer.copyMemory(from: value.baseAddress!, byteCount: value.count) }
                old.valueLength = value.count
                old.flags.subtract(.encoding)
                e = old
            } else {
                e = Entry.makeString(key: key, hash: hash, value: value)
                markFresh(e)
                e.tableID = UInt16(tableOfDatabase[db])
                e.expireAt = oldExpire  // so the accounting below sees one transition
                t.pointee.replace(at: slot, with: e)
                old.expireAt = 0
                retire(old)
            }
            e.lastAccess = UInt32(truncatingIfNeeded: now / 1000)
            e.frequency = 0
            applyExpire(e, from: oldExpire, to: newExpire, table: t, newBlock: e != old)
            return e
        }
        let e = Entry.makeString(key: key, hash: hash, value: value)
        insert(e, table: t, db: db, expireAt: expireAt ?? 0)
        return e
    }

    /// Inserts a new entry (the key must be absent) with its TTL.
    public func insertNew(_ e: Entry, db: Int, expireAt: Int64) {
        insert(e, table: table(db), db: db, expireAt: expireAt)
    }

    private func insert(_ e: Entry, table t: UnsafeMutablePointer<KeyTable>, db: Int, expireAt: Int64) {
        noteModified(db: db, key: e.key)
        notify(KeyspaceEvent.new, "new", db: db, key: e.key)  // Redis's dbAdd
        markFresh(e)
        e.tableID = UInt16(tableOfDatabase[db])
        e.lastAccess = UInt32(truncatingIfNeeded: now / 1000)
        t.pointee.insertNew(e)
        applyExpire(e, from: 0, to: expireAt, table: t, newBlock: true)
        blocked.signal(db: db, key: e.key)
    }

    /// Replaces the entry stored under `old`'s key with `new` (same key), keeping `new.expireAt`.
    public func replace(db: Int, old: Entry, with new: Entry) {
        noteModified(db: db, key: old.key)
        let t = table(db)
        guard let slot = t.pointee.find(old.key, hash: old.hash) else { return }
        let target = new.expireAt
        markFresh(new)
        new.expireAt = old.expireAt
        new.tableID = UInt16(tableOfDatabase[db])
        t.pointee.replace(at: slot, with: new)
        let oldExpire = old.expireAt
        old.expireAt = 0
        retire(old)
        applyExpire(new, from: oldExpire, to: target, table: t, newBlock: true)
        blocked.signal(db: db, key: new.key)
    }

    /// Sets or clears (0) the TTL of a live entry.
    public func setExpire(db: Int, entry e: Entry, at deadline: Int64) {
        noteModified(db: db, key: e.key)
        applyExpire(e, from: e.expireAt, to: deadline, table: table(db), newBlock: false)
    }

    /// `newBlock`: `e` is not the block the heap knew, so even an unchanged deadline needs a heap item.
    func applyExpire(_ e: Entry, from old: Int64, to new: Int64, table t: UnsafeMutablePointer<KeyTable>,
                             newBlock: Bool) {
        e.expireAt = new
        if old == 0 && new != 0 { t.pointee.expiringCount += 1 }
        if old != 0 && new == 0 { t.pointee.expiringCount -= 1 }
        if new != 0 && (new != old || newBlock) { heap.push(deadline: new, entry: e) }
        maybeCompactHeap()
    }

    /// Deletes `key`; true if a live key was removed.
    @discardableResult
    public func delete(db: Int, key: UnsafeRawBufferPointer) -> Bool {
        let t = table(db)
        let hash = KeyTable.hash(key)
        guard let slot = t.pointee.find(key, hash: hash) else { return false }
        let e = t.pointee.entry(at: slot)
        if isExpired(e) {
            if expiryDeletesOnAccess { expire(slot: slot, in: t) }
            return false
        }
        noteModified(db: db, key: key)
        let removed = t.pointee.remove(at: slot)
        if removed.expireAt != 0 { t.pointee.expiringCount -= 1 }
        retire(removed)
        blocked.signal(db: db, key: key)
        return true
    }

    /// Removes a live entry from its table without freeing it (MOVE/RENAME take it elsewhere).
    /// The returned entry keeps its expireAt; the caller must insert or retire it.
    public func detach(db: Int, key: UnsafeRawBufferPointer) -> Entry? {
        let t = table(db)
        guard let slot = t.pointee.find(key, hash: KeyTable.hash(key)) else { return nil }
        let e = t.pointee.entry(at: slot)
        if isExpired(e) {
            if expiryDeletesOnAccess { expire(slot: slot, in: t) }
            return nil
        }
        noteModified(db: db, key: key)
        t.pointee.remove(at: slot)
        if e.expireAt != 0 { t.pointee.expiringCount -= 1 }
        // The heap may still reference the block: hand the caller a fresh copy instead.
        let copy = e.copy(newKey: nil)
        e.expireAt = 0
        retire(e)
        blocked.signal(db: db, key: key)
        return copy
    }

    /// Puts an entry that belongs to no table (from `detach` or `Entry.copy`) under its key,
    /// keeping its `expireAt`. A live key already there is replaced if `replace`, else the
    /// call returns false and the caller still owns `e`. An expired one is always dropped
    /// (even on a replica: the key is being written).
    public func attach(_ e: Entry, db: Int, replace: Bool) -> Bool {
        let t = table(db)
        if let slot = t.pointee.find(e.key, hash: e.hash) {
            let old = t.pointee.entry(at: slot)
            if isExpired(old) {
                expire(slot: slot, in: t)
            } else {
                guard replace else { return false }
                noteModified(db: db, key: e.key)
                t.pointee.remove(at: slot)
                if old.expireAt != 0 { t.pointee.expiringCount -= 1 }
                retire(old)
            }
        }
        insert(e, table: t, db: db, expireAt: e.expireAt)
        return true
    }

    /// Frees an entry that has left its table, or leaves it to the heap if still referenced.
    public func retire(_ e: Entry) {
        if e.heapReferences == 0 {
            e.free()
        } else {
            e.flags.insert(.dead)
        }
    }

    private func release(_ e: Entry) {
        e.heapReferences -= 1
        if e.heapReferences == 0 && e.flags.contains(.dead) { e.free() }
    }

    // MARK: Whole databases

    public func flush(db: Int) {
        let t = table(db)
        if snapshotActive { t.pointee.forEach { copyForSnapshot($0) } }
        if !watches.isEmpty {
            watches.touchAll(db: db) { key in key.withUnsafeBytes { lookup(db: db, key: $0) != nil } }
        }
        t.pointee.removeAll { e in e.expireAt = 0; retire(e) }
        blocked.signalAll(db: db)
    }

    public func flushAll() {
        for db in 0..<databaseCount { flush(db: db) }
        heap.removeAll { item in release(item.entry) }
    }

    public func swapDatabases(_ a: Int, _ b: Int) {
        if !watches.isEmpty {
            // Redis touches a watched key of either database if it exists in either.
            for db in [a, b] {
                watches.touchAll(db: db) { key in
                    key.withUnsafeBytes { lookup(db: a, key: $0) != nil || lookup(db: b, key: $0) != nil }
                }
            }
        }
        tableOfDatabase.swapAt(a, b)
        // Clients stay blocked on their database's keys, which now hold the other's values.
        blocked.signalAll(db: a)
        blocked.signalAll(db: b)
    }

    /// Every stored entry of `db`, logically expired ones too (DEBUG DIGEST sees them, as
    /// Redis's walk of its dict does).
    public func forEachStored(db: Int, _ body: (Entry) -> Void) {
        table(db).pointee.forEach(body)
    }

    /// The stored entry of `key`, even past its deadline, without expiring it (DEBUG).
    public func storedEntry(db: Int, key: UnsafeRawBufferPointer) -> Entry? {
        let t = table(db)
        guard let slot = t.pointee.find(key, hash: KeyTable.hash(key)) else { return nil }
        return t.pointee.entry(at: slot)
    }

    public func forEach(db: Int, _ body: (Entry) -> Void) {
        let now = self.now
        table(db).pointee.forEach { e in
            let at = e.expireAt
            if at == 0 || at > now { body(e) }
        }
    }

    /// One step of SCAN over this shard's table for `db`: live entries of one bucket.
    public func scan(db: Int, cursor: UInt64, _ body: (Entry) -> Void) -> UInt64 {
        scan(db: db, cursor: cursor, looksUpExpired: { _ in false }, body)
    }

    /// One step of SCAN that also deletes the bucket's expired entries that SCAN looks up,
    /// as Redis's does (`looksUpExpired` says which; a replica only skips them).
    public func scan(db: Int, cursor: UInt64, looksUpExpired: (Entry) -> Bool,
                     _ body: (Entry) -> Void) -> UInt64 {
        let now = self.now
        let t = table(db)
        var expired: [Entry] = []
        let next = t.pointee.scan(cursor: cursor) { e in
            let at = e.expireAt
            if at == 0 || at > now { body(e) } else if looksUpExpired(e) { expired.append(e) }
        }
        // Deleted after the bucket's visit: the table must not change under its scan.
        if expiryDeletesOnAccess {
            for e in expired {
                if let slot = t.pointee.find(e.key, hash: e.hash) { expire(slot: slot, in: t) }
            }
        }
        return next
    }

    /// A granted intent lock holds `key` (or the whole shard): active expiry leaves such a key
    /// to its holder, as a command naming it waits; its DEL would be recorded in the middle
    /// of the holder's work. (Not SCAN and RANDOMKEY: across shards they run as the holder of
    /// whole-shard locks themselves, and must delete what they meet, as Redis's do.)
    @inline(__always) func heldByLock(_ key: UnsafeRawBufferPointer) -> Bool {
        !locks.isIdle && locks.blocks(key: key)
    }

    /// A random live entry. As Redis's dbRandomKey, an expired key picked on the way is
    /// deleted and the pick retried, so a live key is found however many have expired
    /// (a replica, which may not delete, gives up after 100 expired picks).
    public func randomEntry(db: Int) -> Entry? {
        var rng = random
        defer { random = rng }
        let t = table(db)
        var expiredPicks = 0
        while let e = t.pointee.randomEntry(using: &rng) {
            if !isExpired(e) { return e }
            if expiryDeletesOnAccess, let slot = t.pointee.find(e.key, hash: e.hash) {
                expire(slot: slot, in: t)
            } else {
                expiredPicks += 1
                if expiredPicks == 100 { return nil }
            }
        }
        return nil
    }

    // MARK: Snapshots (point in time, copy on write, no fork)
    //
    // `beginSnapshot` flips the parity: every existing entry becomes "not copied". The
    // worker then calls `advanceSnapshot` each loop iteration, which copies a bounded number
    // of entries; any change to an entry not yet copied copies it first (`noteModified`,
    // expiry, flush), and entries created meanwhile are marked as copied (`markFresh`). So
    // the copy is the shard as it was when the snapshot began, while the shard keeps serving.

    public private(set) var snapshotActive = false
    /// Worker that collects this shard's copy.
    public private(set) var snapshotRequester = 0
    private var snapshotParity = false
    /// The copy so far, in chunks of about `snapshotChunkSize` bytes: growing one big array
    /// would stall the shard on reallocations of the whole copy. Records never straddle chunks.
    private var snapshotChunks: [[UInt8]] = []
    private var snapshotBuffer: [UInt8] = []
    public static let snapshotChunkSize = 1 << 20
    private var snapshotDatabaseOfTable: [Int] = []
    private var snapshotTable = 0
    private var snapshotSlot = 0
    private var snapshotRehashes = 0
    public private(set) var snapshotKeys = 0
    /// A big object's copy made in steps between commands (`ValueType.writeRDBStep`): the
    /// walk waits on it, and anything about to touch the entry finishes it first (the entry
    /// counts as not copied until then), so the copy is still the value as it was.
    private var stepwiseCopy: SnapshotRecord.ObjectCopy?


    @inline(__always) private func isCopied(_ e: Entry) -> Bool {
        e.flags.contains(.snapshotParity) == snapshotParity
    }

    @inline(__always) func markFresh(_ e: Entry) {
        if snapshotParity { e.flags.insert(.snapshotParity) } else { e.flags.remove(.snapshotParity) }
    }

    public func beginSnapshot(requester: Int) {
        snapshotParity.toggle()
        snapshotActive = true
        snapshotRequester = requester
        snapshotChunks = []
        snapshotBuffer = []
        snapshotBuffer.reserveCapacity(Shard.snapshotChunkSize)
        snapshotKeys = 0
        snapshotDatabaseOfTable = Array(repeating: 0, count: databaseCount)
        for (db, t) in tableOfDatabase.enumerated() { snapshotDatabaseOfTable[t] = db }
        snapshotTable = 0
        snapshotSlot = 0
        snapshotRehashes = tables[0].rehashes
    }

    private func copyForSnapshot(db: Int, key: UnsafeRawBufferPointer) {
        let t = table(db)
        guard let slot = t.pointee.find(key, hash: KeyTable.hash(key)) else { return }
        copyForSnapshot(t.pointee.entry(at: slot))
    }

    private func copyForSnapshot(_ e: Entry) {
        guard !isCopied(e) else { return }
        if stepwiseCopy?.entry == e {  // no binding: a second reference would copy the record
            while !stepCopy(budget: Int.max) {}
            return
        }
        markFresh(e)
        guard e.kind == .string else { copyObjectForSnapshot(e); return }
        let size = SnapshotRecord.size(of: e)
        if snapshotBuffer.count + size > snapshotBuffer.capacity && !snapshotBuffer.isEmpty {
            snapshotChunks.append(snapshotBuffer)
            snapshotBuffer = []
            snapshotBuffer.reserveCapacity(max(Shard.snapshotChunkSize, size))
        }
        SnapshotRecord.encode(e, db: snapshotDatabaseOfTable[Int(e.tableID)]) { snapshotBuffer.append(contentsOf: $0) }
        snapshotKeys += 1
    }

    /// An object's value is serialized now (its RDB encoding), so that writes after this
    /// point cannot reach the copy. Its record may make a chunk larger than the chunk size.
    @inline(never)
    private func copyObjectForSnapshot(_ e: Entry) {
        guard var copy = SnapshotRecord.ObjectCopy(e, db: snapshotDatabaseOfTable[Int(e.tableID)]) else { return }
        while !copy.step(budget: Int.max) {}
        appendToSnapshot(copy.take())
    }

    /// Adds an object's record to the copy: a big one becomes a chunk of its own (not copied
    /// again); records never straddle chunks.
    private func appendToSnapshot(_ record: [UInt8]) {
        if record.count >= Shard.snapshotChunkSize / 4 {
            if !snapshotBuffer.isEmpty {
                snapshotChunks.append(snapshotBuffer)
                snapshotBuffer = []
                snapshotBuffer.reserveCapacity(Shard.snapshotChunkSize)
            }
            snapshotChunks.append(record)
        } else {
            if snapshotBuffer.count + record.count > snapshotBuffer.capacity && !snapshotBuffer.isEmpty {
                snapshotChunks.append(snapshotBuffer)
                snapshotBuffer = []
                snapshotBuffer.reserveCapacity(Shard.snapshotChunkSize)
            }
            snapshotBuffer.append(contentsOf: record)
        }
        snapshotKeys += 1
    }

    /// Takes one step of the stepwise copy (about `budget` elements); true once it is done
    /// and its record is in the copy.
    @inline(never)
    private func stepCopy(budget: Int) -> Bool {
        guard var copy = stepwiseCopy else { return true }
        stepwiseCopy = nil  // the record is not shared while it grows
        guard copy.step(budget: budget) else {
            stepwiseCopy = copy
            return false
        }
        markFresh(copy.entry)
        appendToSnapshot(copy.take())
        return true
    }

    /// Copies up to `budget` entries (a big object: one step of `budget` elements per call);
    /// returns the finished copy (its chunks) once every table is walked.
    public func advanceSnapshot(budget: Int) -> [[UInt8]]? {
        guard snapshotActive else { return nil }
        if stepwiseCopy != nil && !stepCopy(budget: budget) { return nil }
        var work = 0
        while snapshotTable < databaseCount {
            let t = tables + snapshotTable
            if t.pointee.rehashes != snapshotRehashes {
                // The table was rebuilt under the walk: start it over; copied entries are skipped.
                snapshotRehashes = t.pointee.rehashes
                snapshotSlot = 0
            }
            let capacity = t.pointee.capacity
            while snapshotSlot < capacity {
                if let e = t.pointee.entry(inSlot: snapshotSlot) {
                    if e.kind == .object && !isCopied(e),
                       let copy = SnapshotRecord.ObjectCopy(e, db: snapshotDatabaseOfTable[Int(e.tableID)]) {
                        stepwiseCopy = copy
                        snapshotSlot += 1
                        if !stepCopy(budget: budget) { return nil }
                        work += 1
                        continue
                    }
                    copyForSnapshot(e)
                }
                snapshotSlot += 1
                work += 1
                if work >= budget { return nil }
            }
            snapshotTable += 1
            snapshotSlot = 0
            if snapshotTable < databaseCount { snapshotRehashes = tables[snapshotTable].rehashes }
        }
        snapshotActive = false
        if !snapshotBuffer.isEmpty { snapshotChunks.append(snapshotBuffer) }
        let copy = snapshotChunks
        snapshotChunks = []
        snapshotBuffer = []
        return copy
    }

    // MARK: Active expiry

    /// Pops due deadlines, deleting keys whose TTL really ended, for at most `budget`
    /// heap items. Returns true if due items remain (the caller runs again soon).
    ///
    /// A key a granted lock holds (or any key, while a lock holds the whole shard) is left
    /// for a later pass, as a single command waits for such a lock: deleted now, its DEL
    /// would be recorded in the middle of the holder's work. A full resync's snapshot (taken
    /// under whole-shard locks, its point recorded once every shard has copied) kept a key
    /// that this shard deleted in between, with the DEL before the point: the replica never
    /// deleted it (replication fuzz, seed 1351152951).
    public func activeExpire(budget: Int) -> Bool {
        guard activeExpireEnabled else { return false }
        var work = 0
        while work < budget, let item = heap.popDue(now: now) {
            work += 1
            let e = item.entry
            defer { release(e) }
            guard !e.flags.contains(.dead), e.expireAt == item.deadline else {
                expiredStaleSkips += 1
                continue
            }
            let t = tables + Int(e.tableID)
            guard let slot = t.pointee.find(e.key, hash: e.hash), t.pointee.entry(at: slot) == e else { continue }
            if !expiryDeletesOnAccess { continue }
            if heldByLock(e.key) {
                expiryHeldBack.append(item)
                continue
            }
            expire(slot: slot, in: t)
        }
        let due = heap.earliest.map { $0 <= now } ?? false
        // Held back: back in the heap (a reference of their own), tried again at the next
        // pass that finds the lock gone; they do not keep the worker from sleeping.
        for item in expiryHeldBack { heap.push(deadline: item.deadline, entry: item.entry) }
        expiryHeldBack.removeAll(keepingCapacity: true)
        // A heap grown by a burst of TTLs keeps its array when drained: give it back.
        if heap.isEmpty && heap.capacity > 4096 { heap = ExpiryHeap() }
        return due
    }

    public var nextDeadline: Int64? { heap.earliest }
    public var heapCount: Int { heap.count }

    /// Rebuilds the heap without stale items once they outnumber the live ones.
    private func maybeCompactHeap() {
        guard heap.count > 4096 else { return }
        var live = 0
        for i in 0..<databaseCount { live += tables[i].expiringCount }
        guard heap.count > live * 2 + 1024 else { return }
        heap.compact(isLive: { item in
            !item.entry.flags.contains(.dead) && item.entry.expireAt == item.deadline
        }, drop: { item in release(item.entry) })
    }

    /// Bytes held by the tables' arrays (INFO memory's overhead figures).
    public var tableOverheadBytes: Int {
        var total = 0
        for i in 0..<databaseCount { total += tables[i].overheadBytes }
        return total
    }
}

extension Entry {
    /// A fresh block with the same key (or `newKey`), value, kind and TTL; object values are shared (retained).
    public func copy(newKey: UnsafeRawBufferPointer?) -> Entry {
        let key = newKey ?? self.key
        let hash = newKey.map { KeyTable.hash($0) } ?? self.hash
        let e: Entry
        if isInlineHash {
            e = Entry.makeInlineHash(key: key, hash: hash, listpack: Listpack.copy(of: Listpack.bytes(inlineListpack))!)
        } else if kind == .object, let obj = object {
            e = Entry.makeObject(key: key, hash: hash, sharing: obj)
        } else {
            e = Entry.makeString(key: key, hash: hash, value: value)
            e.flags = flags.intersection(.encoding)
        }
        e.expireAt = expireAt
        e.lastAccess = lastAccess
        e.frequency = frequency
        return e
    }
}
