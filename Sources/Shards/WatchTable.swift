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

    public init() {}

    @inlinable public var isEmpty: Bool { watchersAreEmpty }
    @usableFromInline var watchersAreEmpty: Bool { watchers.isEmpty }

    public func watch(client: UInt64, db: Int, key: UnsafeRawBufferPointer) {
        let k = Key(db: db, key: Array(key))
        if watchers[k, default: []].insert(client).inserted { byClient[client, default: []].append(k) }
    }

    public func touch(db: Int, key: UnsafeRawBufferPointer) {
        guard let clients = watchers[Key(db: db, key: Array(key))] else { return }
        dirty.formUnion(clients)
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
        }
    }
}
