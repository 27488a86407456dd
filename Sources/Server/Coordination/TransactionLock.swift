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
    /// in `keys` (they start where the previous shard's end).
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
    }
    /// Lock keys of every shard, in shard order (`ShardLock.keysEnd`). A buffer of its own,
    /// not an array: handing an array's elements to IntentLocks took and dropped a count of
    /// it per request.
    private var keys = SlabBuffer<UInt64>(capacity: 8)
    /// Parts on the coordinator's own shard run when it grants too (their operation's slot
    /// says which).
    var localPartsAtGrant = false
    /// Operations of the same client that joined this request in the pass it was made, after
    /// the one in `operationSlot` (a pipeline of EXECs: one request, grant and release per
    /// shard for all of them; Locking.swift, lock groups).
    private(set) var joinedSlots: [Int] = []
    /// Operations that hold it: released everywhere when the last one finishes.
    var holders = 1
    /// At most this many operations share one request (a pipeline longer than that takes
    /// another: each waits for the last of its group to finish before its keys are free).
    static let maxHolders = 64
    /// No operation may join any more: its requests are on their way (the pass's batches
    /// left) or its coordinator's own shard queued it.
    var sealed = false

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
        if !joinedSlots.isEmpty { joinedSlots.clearKeepingCapacity() }
        holders = 1
        sealed = false
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

    /// Whether it locks some shard whole.
    var locksAWholeShard: Bool { shardLocks.contains { $0.wholeShard } }

    /// Whether it names `shard` (a whole shard or keys there).
    func names(shard: Int) -> Bool { position(of: shard) != nil }

    /// The operation in `slot` joins the request with the keys of its `plan`, whose shards
    /// it names already and none of them whole (the caller checked). Only while sealed is
    /// false: no other thread reads it yet.
    func join(slot: Int, plan: inout LockPlan) {
        joinedSlots.append(slot)
        holders += 1
        // A pipeline mostly repeats its keys: nothing to add then.
        var start = 0
        var allThere = true
        for i in shardLocks.indices where allThere {
            let held = keys.elements(start..<shardLocks[i].keysEnd)
            start = shardLocks[i].keysEnd
            for k in plan.keys where plan.shards[k.position].index == shardLocks[i].shard && !held.contains(k.key) {
                allThere = false
                break
            }
        }
        if allThere { return }
        // Each shard's new keys go in at the end of its range, the keys after it moved up in
        // one block (copying every key of the group at each join made a 16-deep pipeline of
        // 10-key EXISTS cost ~2k instructions per command).
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: plan.keys.count) { added in
            for i in shardLocks.indices {
                guard let position = plan.shards.firstIndex(where: { $0.index == shardLocks[i].shard }) else { continue }
                var n = 0
                for k in plan.keys where k.position == position {
                    added[n] = k.key
                    n += 1
                }
                guard n > 0 else { continue }
                keys.insert(contentsOf: UnsafeBufferPointer(rebasing: added[..<n]), at: shardLocks[i].keysEnd)
                for j in i..<shardLocks.count { shardLocks[j].keysEnd += n }
            }
        }
    }

    /// Queues this lock's request for `shard` on `locks`, with the lock as its holder and
    /// its eager parts' record there (EagerParts.swift) handed back with the grant.
    func enqueue(on locks: IntentLocks, shard: Int, eagerParts: UInt32 = 0, into granted: inout [IntentLocks.Grant]) {
        guard let i = position(of: shard) else {
            locks.enqueue(id: id, keys: UnsafeBufferPointer(start: nil, count: 0), wholeShard: false, chain: chain,
                          shared: shared, holder: self, payload: eagerParts, into: &granted)
            return
        }
        let start = i == 0 ? 0 : shardLocks[i - 1].keysEnd
        locks.enqueue(id: id, keys: keys.elements(start..<shardLocks[i].keysEnd),
                      wholeShard: shardLocks[i].wholeShard, chain: chain, after: shardLocks[i].after, shared: shared,
                      holder: self, payload: eagerParts, into: &granted)
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
