/// WATCHed keys of one shard and which clients they have been invalidated for.
///
/// A write to a watched key marks every client watching it as dirty; EXEC asks each
/// shard it involves whether the client is dirty there. Owned by the shard's thread.
public final class WatchTable {
    public struct Key: Hashable {
        public let db: Int
        public let key: [UInt8]
    }

    private var watchers: [Key: Set<UInt64>] = [:]
    private var byClient: [UInt64: [Key]] = [:]
    private var dirty: Set<UInt64> = []
    /// Watchers of each key that was present but already expired when they watched it
    /// (Redis's watchedKey.expired): its deletion and its expiry are no change for them.
    private var staleWatchers: [Key: Set<UInt64>] = [:]

    public init() {}

    @inlinable public var isEmpty: Bool { watchersAreEmpty }
    @usableFromInline var watchersAreEmpty: Bool { watchers.isEmpty }

    /// `expired`: the key is present but past its deadline (Redis's keyIsExpired at WATCH).
    public func watch(client: UInt64, db: Int, key: UnsafeRawBufferPointer, expired: Bool = false) {
        let k = Key(db: db, key: Array(key))
        if watchers[k, default: []].insert(client).inserted {
            byClient[client, default: []].append(k)
            if expired { staleWatchers[k, default: []].insert(client) }
        }
    }

    /// A write to `key`, or (`expiredAway`) the deletion of the expired key: its watchers are
    /// dirty, except, as Redis's touchWatchedKey, for the deletion, those that watched it
    /// already expired (they watch a missing key from then on, so a later write is a change).
    /// A write to a stale key is a change for all: Redis deletes the key before writing.
    public func touch(db: Int, key: UnsafeRawBufferPointer, expiredAway: Bool = false) {
        let k = Key(db: db, key: Array(key))
        guard let clients = watchers[k] else { return }
        guard let stale = staleWatchers.removeValue(forKey: k) else { dirty.formUnion(clients); return }
        dirty.formUnion(expiredAway ? clients.subtracting(stale) : clients)
    }

    /// Whether `client` watched `k` when it was already expired: EXEC does not count its
    /// expiry as a change (Redis's isWatchedKeyExpired skips it).
    public func watchedExpired(_ client: UInt64, _ k: Key) -> Bool {
        staleWatchers[k]?.contains(client) ?? false
    }

    /// Marks the watchers of every watched key in `db` for which `exists` says yes
    /// (FLUSHDB/FLUSHALL touch only keys that were there; SWAPDB passes its own test).
    public func touchAll(db: Int, where exists: ([UInt8]) -> Bool) {
        for (k, clients) in watchers where k.db == db && exists(k.key) { dirty.formUnion(clients) }
    }

    public func markDirty(_ client: UInt64) { dirty.insert(client) }

    public func isDirty(_ client: UInt64) -> Bool { dirty.contains(client) }

    /// The keys `client` watches on this shard.
    public func keys(of client: UInt64) -> [Key] { byClient[client] ?? [] }

    public func unwatchAll(client: UInt64) {
        dirty.remove(client)
        guard let keys = byClient.removeValue(forKey: client) else { return }
        for k in keys {
            watchers[k]?.remove(client)
            if watchers[k]?.isEmpty == true { watchers[k] = nil }
            if staleWatchers[k]?.remove(client) != nil, staleWatchers[k]?.isEmpty == true { staleWatchers[k] = nil }
        }
    }
}
