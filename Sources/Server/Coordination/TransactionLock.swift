import RESP
import Shards
import Synchronization

/// The lock request of one multi-shard operation (or transaction): which keys it needs on
/// which shard. Filled by the coordinating worker before it is sent, read-only while any
/// other thread holds it (inside ring messages, the shards' lock tables, their ordered
/// queues), and reused by the coordinator once nobody else does (`TransactionLockPool`).
final class TransactionLock: @unchecked Sendable {  // written only by the coordinator while it holds the only reference
    private(set) var id: UInt64 = 0
    /// Worker that runs the operation, and the operation's slot there.
    private(set) var coordinator = 0
    private(set) var operationSlot = 0
    /// For EXEC after WATCH: the client whose watches each shard checks when granting.
    private(set) var watchingClient: UInt64?
    /// Non-zero when every part runs at grant and the operation answers once (a chained
    /// operation, MultiShardOperation): the coordinator's chain (its index + 1), whose later
    /// requests may follow this one on its keys (IntentLocks' chains)...
    private(set) var chain: UInt64 = 0
    /// ...and its client, whose later commands each shard keeps behind the request until it
    /// is granted.
    private(set) var chainedClient: UInt64 = 0
    /// Its operation only reads its keys: a shared request on every shard (IntentLocks).
    private(set) var shared = false
    /// The shards it locks, in the order the plan named them, each with the end of its keys
    /// in `keys` (they start where the previous shard's end) and the parts its owner runs
    /// as soon as it grants, saving the coordinator a round trip (nil when a WATCH must be
    /// checked everywhere first, or for the coordinator's own shard).
    /// `after`: a chained request's predecessor there (IntentLocks' predecessors): the
    /// client's previous chained request on that shard, so its requests are granted there
    /// in the order it made them.
    private var shardLocks: [ShardLock] = []
    /// A struct, not a tuple: an array of tuples holding a reference is destroyed through
    /// the runtime's generic tuple witness (~300 instructions per transaction).
    private struct ShardLock {
        var shard: Int
        var wholeShard: Bool
        var keysEnd: Int
        var after: UInt64 = 0
        /// Owned by the lock (a count taken by `setEagerParts`) until the shard's owner takes
        /// it at its grant (`takeEagerParts`): the count moves with the batch instead of being
        /// dropped here when the lock is filled again, by then on a batch the other thread
        /// may be using (its count's cache line moved between cores).
        var eager: Unmanaged<Batch>? = nil
    }
    /// Lock keys of every shard, in shard order (`ShardLock.keysEnd`). A buffer of its own,
    /// not an array: handing an array's elements to IntentLocks took and dropped a count of
    /// it per request.
    private var keys = SlabBuffer<UInt64>(capacity: 8)
    /// Parts on the coordinator's own shard run when it grants too (their operation's slot
    /// says which).
    var localPartsAtGrant = false

    init() {}

    var shardCount: Int { shardLocks.count }
    func shard(at position: Int) -> Int { shardLocks[position].shard }

    /// Makes the lock stand for `plan`. Only on a lock no other thread holds. (`inout`, not
    /// mutated: read in place from its operation, not copied with a retain per array.)
    func fill(id: UInt64, coordinator: Int, operationSlot: Int, watchingClient: UInt64?, plan: inout LockPlan,
              chain: UInt64 = 0, chainedClient: UInt64 = 0, shared: Bool = false) {
        self.id = id
        self.shared = shared
        self.coordinator = coordinator
        self.operationSlot = operationSlot
        self.watchingClient = watchingClient
        self.chain = chain
        self.chainedClient = chainedClient
        localPartsAtGrant = false
        shardLocks.clearKeepingCapacity()
        keys.removeAll()
        for position in plan.shards.indices {
            for k in plan.keys where k.position == position { keys.append(k.key) }
            shardLocks.append(ShardLock(shard: plan.shards[position].index, wholeShard: plan.shards[position].wholeShard,
                                        keysEnd: keys.count))
        }
    }

    /// `fill` from a plan given by value (tests, cold paths).
    func fill(id: UInt64, coordinator: Int, operationSlot: Int, watchingClient: UInt64?, plan: LockPlan,
              chain: UInt64 = 0, chainedClient: UInt64 = 0, shared: Bool = false) {
        var plan = plan
        fill(id: id, coordinator: coordinator, operationSlot: operationSlot, watchingClient: watchingClient, plan: &plan,
             chain: chain, chainedClient: chainedClient, shared: shared)
    }

    /// A chained request comes after its client's previous chained request on each of its
    /// shards: `latest` holds the client's latest request id per shard, updated to this one.
    /// (It used to name a key standing for the client on every shard: two more key queues
    /// per cross-shard transaction.)
    func follow(clientsLatest latest: inout [UInt64]) {
        for i in shardLocks.indices {
            let shard = shardLocks[i].shard
            if latest.count <= shard { latest.append(contentsOf: repeatElement(0, count: shard + 1 - latest.count)) }
            shardLocks[i].after = latest[shard]
            latest[shard] = id
        }
    }

    private func position(of shard: Int) -> Int? { shardLocks.firstIndex { $0.shard == shard } }

    /// Queues this lock's request for `shard` on `locks`, with the lock as its holder.
    func enqueue(on locks: IntentLocks, shard: Int, into granted: inout [IntentLocks.Grant]) {
        guard let i = position(of: shard) else {
            locks.enqueue(id: id, keys: UnsafeBufferPointer(start: nil, count: 0), wholeShard: false, chain: chain,
                          shared: shared, holder: self, into: &granted)
            return
        }
        let start = i == 0 ? 0 : shardLocks[i - 1].keysEnd
        locks.enqueue(id: id, keys: keys.elements(start..<shardLocks[i].keysEnd),
                      wholeShard: shardLocks[i].wholeShard, chain: chain, after: shardLocks[i].after, shared: shared,
                      holder: self, into: &granted)
    }

    /// The batch of parts the owner of `shard` runs when it grants, while the coordinator
    /// fills it (the lock holds it).
    func eagerPartsBeingFilled(for shard: Int) -> Unmanaged<Batch>? {
        for i in shardLocks.indices where shardLocks[i].shard == shard { return shardLocks[i].eager }
        return nil
    }

    /// Makes `batch` the parts the owner of `shard` runs when it grants; the lock keeps it
    /// until then. Only while no other thread holds the lock.
    func setEagerParts(_ batch: Batch, for shard: Int) {
        if let i = position(of: shard) { shardLocks[i].eager = Unmanaged.passRetained(batch) }
    }

    /// On the owner of `shard`, as it grants: the parts that travelled with the request, with
    /// the lock's count of them (taken once: the lock is read-only there, its field is left
    /// as it is and overwritten when the lock is filled again).
    func takeEagerParts(for shard: Int) -> Batch? {
        for i in shardLocks.indices where shardLocks[i].shard == shard { return shardLocks[i].eager?.takeRetainedValue() }
        return nil
    }
}

/// The TransactionLocks a worker coordinated, taken back for reuse once no other thread
/// holds them: a pipelining client starts one per transaction, and allocating each (with
/// its arrays) and freeing it on whichever thread dropped it last cost ~2.5k instructions
/// per cross-shard transaction. Locks are retired in the order their operations finish and
/// are usually released by their shards in about that order, so only the oldest is checked.
struct TransactionLockPool {
    private var retired: [TransactionLock?] = []
    private var head = 0
    /// Retired locks kept at most (beyond, the oldest is left to ARC).
    static let capacity = 1024

    /// A lock nobody else holds: the oldest retired one if it is free by now, or a new one.
    mutating func take() -> TransactionLock {
        if head < retired.count, isKnownUniquelyReferenced(&retired[head]) {
            // The shards' last releases of it happened on their threads: see their writes
            // (none, but their reads must be over) before this thread writes it again.
            atomicMemoryFence(ordering: .acquiring)
            let lock = retired[head].take()!
            head += 1
            if head == retired.count {
                retired.removeAll(keepingCapacity: true)
                head = 0
            }
            return lock
        }
        return TransactionLock()
    }

    /// Keeps `lock`, whose operation is over, for `take` once its last release is processed.
    mutating func retire(_ lock: TransactionLock) {
        if retired.count - head >= TransactionLockPool.capacity {
            retired[head] = nil
            head += 1
        }
        if head > 0 && head * 2 >= retired.count {
            retired.removeFirst(head)
            head = 0
        }
        retired.append(lock)
    }
}
