#if canImport(Glibc)
import Glibc
#endif
import RESP
import Values

/// What a script run that may still be abandoned changed on its shard, to put back.
///
/// A script run on its keys' shard may meet a key of another shard after it wrote; it is
/// then abandoned and run again under locks on every shard (docs/ARCHITECTURE.md,
/// Scripts across shards), so its writes must vanish. Before a write command of such a
/// run, `save` keeps each key's stored state once (per database and key): a string's bytes
/// in an arena (no allocation), an object as a duplicate, an absent key as absent. `undo`
/// restores them exactly (value, encoding flags, TTL, existence); a run that completes just
/// `forget`s them. Only while such a run is in progress, on its shard's thread.
public final class WriteUndoLog {
    private enum Prior {
        case absent
        case string(offset: Int, count: Int, flags: Entry.Flags, expireAt: Int64, lastAccess: UInt32, frequency: UInt8)
        case entry(Entry)  // a duplicate in no table
    }
    private struct Item {
        let db: Int
        let keyOffset: Int
        let keyCount: Int
        let prior: Prior
    }
    private var items: [Item] = []
    private var arena = ByteBuffer(capacity: 0)

    public init() {}

    public var isEmpty: Bool { items.isEmpty }
    public var count: Int { items.count }

    /// Keeps `key`'s stored state in `db` unless this run kept it already. A key past its
    /// deadline but not reclaimed is kept as it is stored (restored, it expires as before).
    public func save(_ shard: Shard, db: Int, key: UnsafeRawBufferPointer) {
        for item in items where item.db == db && item.keyCount == key.count {
            if key.count == 0 || memcmp(arena.base + item.keyOffset, key.baseAddress!, key.count) == 0 { return }
        }
        let keyOffset = arena.count
        arena.append(key)
        let prior: Prior
        if let e = shard.storedEntry(db: db, key: key) {
            if e.kind == .string {
                let offset = arena.count
                arena.append(e.value)
                prior = .string(offset: offset, count: e.valueLength, flags: e.flags.intersection(.encoding),
                                expireAt: e.expireAt, lastAccess: e.lastAccess, frequency: e.frequency)
            } else {
                prior = .entry(Self.duplicate(e))
            }
        } else {
            prior = .absent
        }
        items.append(Item(db: db, keyOffset: keyOffset, keyCount: key.count, prior: prior))
    }

    /// Puts every saved key back as it was, then forgets them.
    public func undo(_ shard: Shard) {
        for item in items.reversed() {
            let key = UnsafeRawBufferPointer(start: arena.base + item.keyOffset, count: item.keyCount)
            switch item.prior {
            case .absent:
                shard.restore(db: item.db, key: key, to: nil)
            case let .string(offset, count, flags, expireAt, lastAccess, frequency):
                let value = UnsafeRawBufferPointer(start: arena.base + offset, count: count)
                let e = Entry.makeString(key: key, hash: KeyTable.hash(key), value: value)
                e.flags = flags
                e.expireAt = expireAt
                e.lastAccess = lastAccess
                e.frequency = frequency
                shard.restore(db: item.db, key: key, to: e)
            case .entry(let e):
                shard.restore(db: item.db, key: key, to: e)
            }
        }
        items.removeAll(keepingCapacity: true)
        arena.clear()
    }

    /// The run completed: its writes stand.
    public func forget() {
        guard !items.isEmpty else { return }
        for item in items { if case .entry(let e) = item.prior { e.free() } }
        items.removeAll(keepingCapacity: true)
        arena.clear()
        arena.shrinkIfEmpty(to: 4096)
    }

    /// A copy no later write of the run can reach (objects change in place: duplicated).
    private static func duplicate(_ e: Entry) -> Entry {
        if !e.isInlineHash, let value = e.object as? any ValueType {
            let d = Entry.makeObject(key: e.key, hash: e.hash, sharing: value.duplicate())
            d.expireAt = e.expireAt
            d.lastAccess = e.lastAccess
            d.frequency = e.frequency
            return d
        }
        return e.copy(newKey: nil)  // an inline hash's listpack is copied
    }
}

extension Shard {
    /// Puts `prior` (an entry in no table; nil: absent) under `key` in place of whatever is
    /// stored there, with no keyspace notification and no replication record: an undone
    /// write (WriteUndoLog). WATCH sees the key touched, waiters judge it anew.
    public func restore(db: Int, key: UnsafeRawBufferPointer, to prior: Entry?) {
        let t = table(db)
        if let slot = t.pointee.find(key, hash: KeyTable.hash(key)) {
            noteModified(db: db, key: key)
            let current = t.pointee.remove(at: slot)
            if current.expireAt != 0 { t.pointee.expiringCount -= 1 }
            current.expireAt = 0
            retire(current)
        }
        if let prior {
            noteModified(db: db, key: key)
            markFresh(prior)
            prior.tableID = UInt16(tableOfDatabase[db])
            let deadline = prior.expireAt
            prior.expireAt = 0
            t.pointee.insertNew(prior)
            applyExpire(prior, from: 0, to: deadline, table: t, newBlock: true)
        }
        blocked.signal(db: db, key: key)
    }
}
