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
    let shards: ShardMap<ShardLockSet>
    /// Parts the owner of each (remote) shard runs as soon as it grants, saving the
    /// coordinator a round trip; absent when a WATCH must be checked everywhere first.
    var eager = ShardMap<Batch>()
    /// Parts on the coordinator's own shard run when it grants too (their operation's slot
    /// says which).
    var localPartsAtGrant = false
    /// Non-zero when every part runs at grant and the operation answers once (a chained
    /// operation, MultiShardOperation): the coordinator's chain (its index + 1), whose later
    /// requests may follow this one on its keys (IntentLocks' chains)...
    let chain: UInt64
    /// ...and its client, whose later commands each shard keeps behind the request until it
    /// is granted.
    let chainedClient: UInt64

    struct ShardLockSet {
        /// Lock keys, possibly repeated (the request keeps each once).
        var keys: [UInt64] = []
        var wholeShard = false
    }

    init(id: UInt64, coordinator: Int, operationSlot: Int, watchingClient: UInt64?, shards: ShardMap<ShardLockSet>,
         chain: UInt64 = 0, chainedClient: UInt64 = 0) {
        self.id = id
        self.coordinator = coordinator
        self.operationSlot = operationSlot
        self.watchingClient = watchingClient
        self.chain = chain
        self.chainedClient = chainedClient
        self.shards = shards
    }

    /// The lock key standing for a client (a collision with a real key's hash only makes
    /// something wait that need not).
    static func clientKey(_ client: UInt64) -> UInt64 { (client &+ 0x5EED) &* 0x9E37_79B9_7F4A_7C15 }

    func request(for shard: Int) -> IntentLocks.Request {
        let set = shards[shard] ?? ShardLockSet()
        return IntentLocks.Request(id: id, keys: set.keys, wholeShard: set.wholeShard, chain: chain)
    }
}
