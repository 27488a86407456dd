import RESP

/// Per-shard intent locks for work that spans shards (Dragonfly's VLL, simplified).
///
/// Requests arrive in one global order (the sequencer's, or directly for work confined
/// to this shard) and are granted in that order: a request is granted once no earlier
/// request still queued shares a key with it (a whole-shard request shares every key).
/// Because every shard grants in the same order, a transaction only ever waits for
/// earlier ones, so there is no deadlock. Single commands consult `blocks(key:)`: only
/// granted requests hold keys. Keys are held by their 64-bit hash: a collision only makes
/// something wait that need not, never lets a conflict through. Owned by the shard's thread.
///
/// Each key has a FIFO of the requests naming it; a keyed request is granted when it heads
/// every one of its keys' queues and no earlier whole-shard request is queued. A key named
/// by one request alone has no queue: the key map points at that request (`solo`), and a
/// queue is made only when a second request names the key. Enqueue and
/// release cost a dictionary step per key of the request, however long the queues are
/// (a single pass over the whole queue on every event cost ~5k instructions of set hashing
/// per cross-shard transaction with 80 in flight).
///
/// Chains: pipelined transactions would otherwise wait a round trip to their coordinator
/// each, every one holding its keys until every shard has run its part. A request whose
/// work here runs the moment it is granted may carry a chain (its coordinator's): it is
/// then also granted behind granted requests of the same chain on its keys, since their
/// work here is done and it comes after them in the global order on every shard. Single
/// commands still wait until the last holder releases, so nobody sees a chain
/// half-applied; the coordinator completes a chain's requests in order (their replication
/// groups close in that order). "Their work here is done" holds only if the caller acts on
/// grants in the order they are made, across calls too: a grant's work may release a lock
/// and so grant more before the rest of the first list is acted on (Worker.actOnGrants).
/// Shared requests made this reachable: mixed holders (a reader of another chain among
/// them) can leave, and a chain's writer then follows holders of its chain at once.
///
/// Shared requests: a request that only reads its keys (MGET, EXISTS, a transaction of
/// reads) may be granted on a key beside other granted shared requests, so readers do not
/// queue behind each other; only a writer waits for them, and they wait for a writer ahead.
/// A key's queue still grants in order: a shared request waiting on another key keeps the
/// requests behind it waiting here too. Single commands that only read pass shared holders
/// (`blocks(key:reading:)`).
///
/// Predecessors: a request may name an earlier one (`after`) that it must not be granted
/// before, whatever keys the two name: a client's pipelined chained requests run on each
/// shard in the order it made them. Only an earlier request still queued and not granted
/// holds it back; granted behind it at once, as a chain follows.
public final class IntentLocks {
    public struct Request {
        public let id: UInt64
        /// Keys, possibly repeated (a queued request keeps each once).
        public let keys: [UInt64]
        public let wholeShard: Bool
        /// Non-zero: the request's work on this shard runs the moment it is granted (its
        /// parts travel with it), and it may then share keys with granted requests of the
        /// same chain ahead of it (see "Chains" above).
        public let chain: UInt64
        /// An earlier request it is granted only after (0: none).
        public let after: UInt64
        /// It only reads its keys (see "Shared requests" above).
        public let shared: Bool

        public init(id: UInt64, keys: [UInt64], wholeShard: Bool, chain: UInt64 = 0, after: UInt64 = 0,
                    shared: Bool = false) {
            self.id = id
            self.keys = keys
            self.wholeShard = wholeShard
            self.chain = chain
            self.after = after
            self.shared = shared
        }
    }

    /// A granted request: its id and the holder it was queued with (not counted).
    public struct Grant {
        public let id: UInt64
        /// The holder's address, for a caller that reads it without counting it.
        public let holderAddress: UnsafeRawPointer?
        /// What the caller queued with the request besides its holder (0: nothing).
        public let payload: UInt32

        public init(id: UInt64, holder: AnyObject?, payload: UInt32 = 0) {
            self.id = id
            holderAddress = IntentLocks.address(of: holder)
            self.payload = payload
        }

        init(id: UInt64, holderAddress: UnsafeRawPointer?, payload: UInt32) {
            self.id = id
            self.holderAddress = holderAddress
            self.payload = payload
        }

        public var holder: AnyObject? { IntentLocks.object(at: holderAddress) }
    }

    /// An uncounted holder is kept as its address, not as an `unowned(unsafe)` optional
    /// reference: Swift 6.3 disagrees with itself on the bit pattern of nil for a struct
    /// holding one (its value witnesses, used by unspecialized generic code, against
    /// inline code), so in a debug build `for g in grants` never ended: the iterator's
    /// nil came back as a grant without a holder, again and again (IntentLocksTests).
    @inline(__always) static func address(of holder: AnyObject?) -> UnsafeRawPointer? {
        holder.map { UnsafeRawPointer(Unmanaged.passUnretained($0).toOpaque()) }
    }

    @inline(__always) static func object(at address: UnsafeRawPointer?) -> AnyObject? {
        address.map { Unmanaged<AnyObject>.fromOpaque($0).takeUnretainedValue() }
    }

    /// A queued request, in the `entries` slab: key queues name requests by slot, so
    /// following a queue costs an array index, not a dictionary lookup (a cross-shard
    /// transaction made ~40 lookups per shard when they named ids).
    private struct Entry {
        var id: UInt64 = 0
        var keys: [KeyRef] = []
        /// Not counted (an address: see `address(of:)`): whoever queues a request keeps its
        /// holder alive at least until the request is released (the worker's operation holds
        /// its TransactionLock), so the holder is only read while it lives; counting it was
        /// two atomic operations per queue and grant on an object another thread also counts.
        var holder: UnsafeRawPointer? = nil
        /// Handed back with the grant (the worker's eager parts waiting for it).
        var payload: UInt32 = 0
        var wholeShard = false
        var shared = false
        var chain: UInt64 = 0
        /// Arrival number on this shard.
        var arrival: UInt64 = 0
        /// Keys on which it may not be granted yet (keyed requests), or requests that
        /// arrived earlier and are still queued (whole-shard requests).
        var waitingFor = 0
        var granted = false
        var live = false
        /// The request that named this one as `after` while it was not granted (slot; -1: none),
        /// and the other way round.
        var follower = -1
        var predecessor = -1
    }

    /// A key of a queued request and the slot of that key's queue, which stays the same while
    /// the request is queued (a queue is freed only when its last request leaves): granting
    /// and releasing go to it without looking the key up again.
    private struct KeyRef {
        var key: UInt64
        var queue: Int
    }

    /// The requests naming one key (entry slots), in arrival order: the first `granted`
    /// hold it, and the first one after them has been counted as free to go here
    /// (`frontCounted`) once nothing ahead stops it. Uncontended keys (one request) need no
    /// array.
    private struct KeyQueue {
        var first: Int
        /// The rest from `restHead` on: the front leaves by moving the head, not by shifting
        /// the array (a removeFirst was ~80 instructions per release of a contended key).
        var rest: [Int] = []
        var restHead = 0
        var granted = 0
        /// Holders that are not shared: a shared request may join the holders only while
        /// this is 0.
        var exclusiveGranted = 0
        /// The chain every holder belongs to (0: some holder is in none, or they differ).
        var grantedChain: UInt64 = 0
        var frontCounted = false

        init(_ slot: Int) { first = slot }

        var count: Int { 1 + rest.count - restHead }
        var last: Int { restHead < rest.count ? rest[rest.count - 1] : first }
        subscript(i: Int) -> Int { i == 0 ? first : rest[restHead + i - 1] }

        func position(of slot: Int) -> Int? {
            if first == slot { return 0 }
            var j = restHead
            while j < rest.count {
                if rest[j] == slot { return j - restHead + 1 }
                j += 1
            }
            return nil
        }

        mutating func append(_ slot: Int) { rest.append(slot) }

        /// Removes entry `i`; false if the queue is now empty.
        mutating func remove(at i: Int) -> Bool {
            if i == 0 {
                guard restHead < rest.count else { return false }
                first = rest[restHead]
                restHead += 1
                if restHead == rest.count {
                    rest.clearKeepingCapacity()
                    restHead = 0
                } else if restHead >= 32 && restHead * 2 >= rest.count {
                    // A key that never drains (a pipeline on it): drop the consumed front now
                    // and then, so the array stays as long as the queue.
                    rest.removeFirst(restHead)
                    restHead = 0
                }
            } else {
                rest.remove(at: restHead + i - 1)
            }
            return true
        }

        /// Empties it for reuse (its array kept unless large).
        mutating func clear() {
            if rest.capacity <= 64 { rest.clearKeepingCapacity() } else { rest = [] }
            restHead = 0
        }
    }

    private var entries = SlabBuffer<Entry>()
    private var freeEntries: [Int] = []
    private let slotOf = SlotMap()
    private var queues = SlabBuffer<KeyQueue>()
    private var freeQueues: [Int] = []
    private let queueOf = SlotMap()
    /// Whole-shard requests still queued (slots), in arrival order (rare: FLUSHALL, KEYS,
    /// EXEC of a server command...).
    private var wholeShardRequests: [Int] = []
    private var heldWholeShard = 0
    private var arrivals: UInt64 = 0
    // Scratch kept between calls so granting allocates nothing in the steady state.
    private var pending: [Int] = []
    private var grantedSlots: [Int] = []
    private var candidates: [Int] = []

    public init() {}

    /// What a lock holds for `key` (its 64-bit hash).
    @inlinable public static func lockKey(_ key: UnsafeRawBufferPointer) -> UInt64 { KeyHash.hash(key) }

    /// No request queued or held: single commands need no checks.
    @inlinable public var isIdle: Bool { queueIsEmpty }
    @usableFromInline var queueIsEmpty: Bool { slotOf.isEmpty }

    /// Queues a request; returns the ids granted as a result (possibly this one).
    public func enqueue(_ request: Request) -> [UInt64] {
        var granted: [Grant] = []
        enqueue(request, holder: nil, into: &granted)
        return granted.map(\.id)
    }

    /// Drops a finished request; returns the ids that this frees to be granted, in arrival
    /// order.
    public func release(_ id: UInt64) -> [UInt64] {
        var granted: [Grant] = []
        release(id, into: &granted)
        return granted.map(\.id)
    }

    /// Queues a request with its `holder` (handed back when it is granted, not retained: the
    /// caller keeps it alive until the request is released); appends what
    /// is granted as a result (possibly this one), in arrival order.
    public func enqueue(_ request: Request, holder: AnyObject?, into granted: inout [Grant]) {
        request.keys.withUnsafeBufferPointer { keys in
            enqueue(id: request.id, keys: keys, wholeShard: request.wholeShard, chain: request.chain,
                    after: request.after, shared: request.shared, holder: holder, into: &granted)
        }
    }

    /// `enqueue(_:holder:into:)` with the keys borrowed: the entry keeps its own copy, in an
    /// array a released entry leaves behind, so queueing allocates nothing in the steady
    /// state. Keys may repeat (they are kept once).
    public func enqueue(id: UInt64, keys: UnsafeBufferPointer<UInt64>, wholeShard: Bool, chain: UInt64,
                        after predecessor: UInt64 = 0, shared: Bool = false, holder: AnyObject?,
                        payload: UInt32 = 0, into granted: inout [Grant]) {
        arrivals += 1
        let slot = newEntry()
        entries[slot].id = id
        entries[slot].holder = IntentLocks.address(of: holder)
        entries[slot].payload = payload
        entries[slot].wholeShard = wholeShard
        entries[slot].shared = shared && !wholeShard
        entries[slot].chain = wholeShard ? 0 : chain
        entries[slot].arrival = arrivals
        entries[slot].granted = false
        entries[slot].live = true
        entries[slot].follower = -1
        entries[slot].predecessor = -1
        var waitingFor = wholeShard ? slotOf.count : 0
        if predecessor != 0, !wholeShard, let p = slotOf[predecessor], !entries[p].granted {
            entries[p].follower = slot
            entries[slot].predecessor = p
            waitingFor += 1
        }
        entries[slot].waitingFor = waitingFor
        slotOf[id] = slot
        if wholeShard {
            wholeShardRequests.append(slot)
        } else {
            // Each key once: a key this request named already has it as its only request
            // or last in its queue (a sort to drop repeats cost ~80 instructions per key of
            // a lock group's pipeline).
            for k in keys {
                guard let existing = queueOf[k] else {
                    // The key's only request: no queue, and nothing ahead of it here.
                    queueOf[k] = IntentLocks.solo(slot)
                    entries[slot].keys.append(KeyRef(key: k, queue: -1))
                    continue
                }
                let q: Int
                if IntentLocks.isSolo(existing) {
                    let only = IntentLocks.soloSlot(existing)
                    if only == slot { continue }
                    q = queueFromSolo(key: k, slot: only)
                } else {
                    q = existing
                    if queues[q].last == slot { continue }
                }
                queues[q].append(slot)
                entries[slot].keys.append(KeyRef(key: k, queue: q))
                entries[slot].waitingFor += 1
                _ = countFront(q)
            }
        }
        guard grantable(slot) else { return }
        grantedSlots.clearKeepingCapacity()
        grant(slot)
        emit(into: &granted)
    }

    /// Drops a finished request; appends what this frees to be granted, in arrival order.
    public func release(_ id: UInt64, into granted: inout [Grant]) {
        guard let s = slotOf.removeValue(forKey: id) else { return }
        let arrival = entries[s].arrival
        let wholeShard = entries[s].wholeShard
        candidates.clearKeepingCapacity()
        if wholeShard {
            if entries[s].granted { heldWholeShard -= 1 }
            wholeShardRequests.removeAll { $0 == s }
        } else {
            for i in 0..<entries[s].keys.count {
                let k = entries[s].keys[i].key, q = entries[s].keys[i].queue
                if q < 0 {
                    queueOf.removeValue(forKey: k)  // it was the key's only request
                    continue
                }
                guard let p = queues[q].position(of: s) else { continue }
                if queues[q].count == 1 {
                    queueOf.removeValue(forKey: k)
                    freeQueue(q)
                    continue
                }
                if p < queues[q].granted {
                    queues[q].granted -= 1
                    if !entries[s].shared { queues[q].exclusiveGranted -= 1 }
                    if queues[q].granted == 0 {
                        queues[q].grantedChain = 0
                    } else if queues[q].grantedChain == 0 {
                        // Mixed holders: the one leaving may have been the odd one out.
                        queues[q].grantedChain = chainOfHolders(q, excluding: s)
                    }
                } else if p == queues[q].granted {
                    queues[q].frontCounted = false
                }
                _ = queues[q].remove(at: p)
                if let next = countFront(q) { candidates.append(next) }
            }
        }
        // A follower of a request that leaves before its grant no longer waits for it.
        if entries[s].follower >= 0 {
            let f = entries[s].follower
            entries[s].follower = -1
            entries[f].predecessor = -1
            entries[f].waitingFor -= 1
            candidates.append(f)
        }
        // A follower leaving before its predecessor's grant: the predecessor forgets it.
        if entries[s].predecessor >= 0 {
            entries[entries[s].predecessor].follower = -1
            entries[s].predecessor = -1
        }
        // Whole-shard requests that arrived later wait for one request fewer.
        for w in wholeShardRequests where entries[w].arrival > arrival {
            entries[w].waitingFor -= 1
            candidates.append(w)
        }
        if wholeShard {
            // Keyed requests that arrived after it were held back by it alone, maybe.
            for other in 0..<entries.count where entries[other].live && !entries[other].granted
                && !entries[other].wholeShard && entries[other].arrival > arrival {
                candidates.append(other)
            }
        }
        entries[s].holder = nil
        entries[s].live = false
        entries[s].keys.clearKeepingCapacity()  // the next request here reuses it
        freeEntries.append(s)
        grantedSlots.clearKeepingCapacity()
        for c in candidates where entries[c].live && !entries[c].granted && grantable(c) {
            grant(c)
        }
        emit(into: &granted)
    }

    /// True if a granted request holds `key` (or the whole shard); for a command that only
    /// reads (`reading`), a granted request that is not shared.
    public func blocks(key: UnsafeRawBufferPointer, reading: Bool = false) -> Bool {
        if heldWholeShard > 0 { return true }
        if queueOf.isEmpty { return false }
        return holds(IntentLocks.lockKey(key), reading: reading)
    }

    /// `blocks(key:reading:)` for a lock key already hashed.
    public func holds(_ lockKey: UInt64, reading: Bool = false) -> Bool {
        if heldWholeShard > 0 { return true }
        guard let q = queueOf[lockKey] else { return false }
        if IntentLocks.isSolo(q) {
            let e = entries[IntentLocks.soloSlot(q)]
            return e.granted && !(reading && e.shared)
        }
        return reading ? queues[q].exclusiveGranted > 0 : queues[q].granted > 0
    }

    /// The queued requests, one line each in arrival order, for DEBUG LOCKS: what an
    /// operator (or a test that found the server stuck) reads to see who holds and who waits.
    public func describe() -> [String] {
        var live: [Int] = []
        for s in 0..<entries.count where entries[s].live { live.append(s) }
        live.sort { entries[$0].arrival < entries[$1].arrival }
        var lines = ["requests \(live.count), whole-shard held \(heldWholeShard), whole-shard queued \(wholeShardRequests.count), keys \(queueOf.count)"]
        for s in live {
            let e = entries[s]
            var line = "request id \(e.id) arrival \(e.arrival) \(e.granted ? "granted" : "waiting for \(e.waitingFor)")"
            if e.wholeShard { line += " whole-shard" }
            if e.shared { line += " shared" }
            if e.chain != 0 { line += " chain \(e.chain)" }
            if e.predecessor >= 0 { line += " after \(entries[e.predecessor].id)" }
            if !e.wholeShard {
                line += " keys"
                for k in e.keys {
                    guard k.queue >= 0 else {
                        line += " \(k.key % 100_000)@solo"
                        continue
                    }
                    let q = queues[k.queue]
                    line += " \(k.key % 100_000)@\(q.position(of: s) ?? -1)/\(q.count)h\(q.granted)x\(q.exclusiveGranted)\(q.frontCounted ? "c" : "")"
                }
            }
            lines.append(line)
        }
        return lines
    }

    /// True if a granted request holds the whole shard (keyless commands wait for it).
    public var wholeShardHeld: Bool { heldWholeShard > 0 }

    /// A free entry slot (its keys empty, their array kept), or a new one.
    private func newEntry() -> Int {
        if let s = freeEntries.popLast() { return s }
        return entries.append(Entry())
    }

    /// A queue holding `slot` alone: a free one (its `rest` array kept, so a key contended
    /// again allocates nothing), or a new one.
    private func newQueue(first slot: Int) -> Int {
        if let q = freeQueues.popLast() {
            queues[q].first = slot
            queues[q].granted = 0
            queues[q].exclusiveGranted = 0
            queues[q].grantedChain = 0
            queues[q].frontCounted = false
            return q
        }
        return queues.append(KeyQueue(slot))
    }

    private func freeQueue(_ q: Int) {
        queues[q].clear()
        freeQueues.append(q)
    }

    /// `queueOf`'s value for a key whose only request is in entry `slot` (no KeyQueue: most
    /// keys never have a second request, and enqueueing, granting and releasing one cost a
    /// queue taken, updated and freed, a cache line more per key).
    /// (SlotMap holds non-negative values: a high bit tells the two apart.)
    private static let soloBit = 1 << 62
    @inline(__always) private static func solo(_ slot: Int) -> Int { slot | soloBit }
    @inline(__always) private static func isSolo(_ value: Int) -> Bool { value & soloBit != 0 }
    @inline(__always) private static func soloSlot(_ value: Int) -> Int { value & ~soloBit }

    /// A second request names `key`, whose only request was `first`: it gets a queue, in
    /// the state the queue would have reached with `first` alone (holding it if granted,
    /// counted free at its front otherwise).
    private func queueFromSolo(key: UInt64, slot first: Int) -> Int {
        let q = newQueue(first: first)
        if entries[first].granted {
            queues[q].granted = 1
            queues[q].exclusiveGranted = entries[first].shared ? 0 : 1
            queues[q].grantedChain = entries[first].chain
        } else {
            queues[q].frontCounted = true
        }
        queueOf[key] = q
        for j in 0..<entries[first].keys.count where entries[first].keys[j].key == key {
            entries[first].keys[j].queue = q
            break
        }
        return q
    }

    /// Appends the slots granted in this call to `granted`, in arrival order.
    private func emit(into granted: inout [Grant]) {
        if grantedSlots.count > 1 {
            grantedSlots.sort { entries[$0].arrival < entries[$1].arrival }
        }
        for i in 0..<grantedSlots.count {  // by index: a for-in holds the array (a count taken and dropped)
            let s = grantedSlots[i]
            granted.append(Grant(id: entries[s].id, holderAddress: entries[s].holder, payload: entries[s].payload))
        }
    }

    /// A keyed request is free on every key and no earlier whole-shard request waits; a
    /// whole-shard request is the oldest one queued.
    private func grantable(_ s: Int) -> Bool {
        guard entries[s].waitingFor == 0 else { return false }
        if entries[s].wholeShard { return true }
        guard let first = wholeShardRequests.first else { return true }
        return entries[first].arrival > entries[s].arrival
    }

    /// The first request after the holders of queue `q`, if nothing ahead stops it there
    /// any more (no holder; holders of its chain; or shared holders, for a shared request):
    /// counts it free on this key (once) and returns it when that was its last key.
    private func countFront(_ q: Int) -> Int? {
        let holders = queues[q].granted
        guard !queues[q].frontCounted, holders < queues[q].count else { return nil }
        let next = queues[q][holders]
        guard holders == 0 || (entries[next].chain != 0 && queues[q].grantedChain == entries[next].chain)
            || (entries[next].shared && queues[q].exclusiveGranted == 0) else { return nil }
        queues[q].frontCounted = true
        entries[next].waitingFor -= 1
        return entries[next].waitingFor == 0 ? next : nil
    }

    private func chainOfHolders(_ q: Int, excluding slot: Int) -> UInt64 {
        var chain: UInt64?
        for j in 0..<(queues[q].granted + 1) where queues[q][j] != slot {
            let c = entries[queues[q][j]].chain
            if chain == nil { chain = c } else if chain != c { return 0 }
        }
        return chain ?? 0
    }

    /// Grants slot `s`, then whatever that lets follow it (of its chain; shared behind
    /// shared); records each in `grantedSlots`.
    private func grant(_ s: Int) {
        pending.clearKeepingCapacity()
        pending.append(s)
        while let next = pending.popLast() {
            guard !entries[next].granted else { continue }
            entries[next].granted = true
            grantedSlots.append(next)
            if entries[next].follower >= 0 {
                let f = entries[next].follower
                entries[next].follower = -1
                entries[f].predecessor = -1
                entries[f].waitingFor -= 1
                if entries[f].waitingFor == 0 && grantable(f) { pending.append(f) }
            }
            if entries[next].wholeShard {
                heldWholeShard += 1
                continue
            }
            let chain = entries[next].chain
            let shared = entries[next].shared
            for i in 0..<entries[next].keys.count {
                let q = entries[next].keys[i].queue
                if q < 0 { continue }  // its key's only request: nothing queued behind it
                queues[q].granted += 1
                if !shared { queues[q].exclusiveGranted += 1 }
                if queues[q].granted == 1 {
                    queues[q].grantedChain = chain
                } else if queues[q].grantedChain != chain {
                    queues[q].grantedChain = 0
                }
                queues[q].frontCounted = false
                // Behind it may come a request of its chain, or (it being shared) a shared one.
                if chain != 0 || shared, let follower = countFront(q), grantable(follower) {
                    pending.append(follower)
                }
            }
        }
    }
}
