import Shards

/// The lock request of one multi-shard operation (or transaction): which keys it needs on
/// which shard. Built by the coordinating worker before it is sent, read-only afterwards,
/// and handed from thread to thread inside ring messages.
final class TransactionLock: @unchecked Sendable {  // immutable once sent
    let id: UInt64
    /// Worker that runs the operation, and the operation's slot there.
    let coordinator: Int
    let operationSlot: Int
    /// For EXEC after WATCH: the client whose watches each shard checks when granting.
    let watchingClient: UInt64?
    let shards: [Int: ShardLockSet]
    /// Parts the owner of each (remote) shard runs as soon as it grants, saving the
    /// coordinator a round trip; absent when a WATCH must be checked everywhere first.
    var eager: [Int: Batch] = [:]

    struct ShardLockSet {
        /// Lock keys, possibly repeated (the request keeps each once).
        var keys: [UInt64] = []
        var wholeShard = false
    }

    init(id: UInt64, coordinator: Int, operationSlot: Int, watchingClient: UInt64?, shards: [Int: ShardLockSet]) {
        self.id = id
        self.coordinator = coordinator
        self.operationSlot = operationSlot
        self.watchingClient = watchingClient
        self.shards = shards
    }

    func request(for shard: Int) -> IntentLocks.Request {
        let set = shards[shard] ?? ShardLockSet()
        return IntentLocks.Request(id: id, keys: set.keys, wholeShard: set.wholeShard)
    }
}
