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
/// every one of its keys' queues and no earlier whole-shard request is queued. Enqueue and
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
/// groups close in that order).
public final class IntentLocks {
    public struct Request {
        public let id: UInt64
        /// Distinct keys (duplicates are dropped here).
        public let keys: [UInt64]
        public let wholeShard: Bool
        /// Non-zero: the request's work on this shard runs the moment it is granted (its
        /// parts travel with it), and it may then share keys with granted requests of the
        /// same chain ahead of it (see "Chains" above).
        public let chain: UInt64

        public init(id: UInt64, keys: [UInt64], wholeShard: Bool, chain: UInt64 = 0) {
            self.id = id
            self.wholeShard = wholeShard
            self.chain = wholeShard ? 0 : chain
            if keys.count < 2 {
                self.keys = keys
            } else if keys.count <= 8 {
                // A transaction's few keys: a scan, and no copy at all when none repeats.
                var repeats = false
                for i in 1..<keys.count where keys[..<i].contains(keys[i]) { repeats = true; break }
                if repeats {
                    var distinct: [UInt64] = []
                    distinct.reserveCapacity(keys.count)
                    for k in keys where !distinct.contains(k) { distinct.append(k) }
                    self.keys = distinct
                } else {
                    self.keys = keys
                }
            } else {
                var sorted = keys
                sorted.sort()
                var distinct: [UInt64] = []
                distinct.reserveCapacity(sorted.count)
                for k in sorted where distinct.last != k { distinct.append(k) }
                self.keys = distinct
            }
        }
    }

    private struct Queued {
        let keys: [UInt64]
        let wholeShard: Bool
        let chain: UInt64
        /// Arrival number on this shard.
        let arrival: UInt64
        /// Keys on which it may not be granted yet (keyed requests), or requests that
        /// arrived earlier and are still queued (whole-shard requests).
        var waitingFor: Int
        var granted = false
    }

    /// The requests naming one key, in arrival order: the first `granted` hold it, and the
    /// first one after them has been counted as free to go here (`frontCounted`) once
    /// nothing ahead stops it. Uncontended keys (one request) need no array.
    private struct KeyQueue {
        var first: UInt64
        var rest: [UInt64] = []
        var granted = 0
        /// The chain every holder belongs to (0: some holder is in none, or they differ).
        var grantedChain: UInt64 = 0
        var frontCounted = false

        init(_ id: UInt64) { first = id }

        var count: Int { 1 + rest.count }
        subscript(i: Int) -> UInt64 { i == 0 ? first : rest[i - 1] }

        func position(of id: UInt64) -> Int? {
            if first == id { return 0 }
            return rest.firstIndex(of: id).map { $0 + 1 }
        }

        /// Removes entry `i`; false if the queue is now empty.
        mutating func remove(at i: Int) -> Bool {
            if i == 0 {
                guard !rest.isEmpty else { return false }
                first = rest.removeFirst()
            } else {
                rest.remove(at: i - 1)
            }
            return true
        }
    }

    private var queued = IDMap<Queued>()
    private var keyQueues = IDMap<KeyQueue>()
    /// Whole-shard requests still queued, in arrival order (rare: FLUSHALL, KEYS, EXEC of a
    /// server command...).
    private var wholeShardRequests: [UInt64] = []
    private var heldWholeShard = 0
    private var arrivals: UInt64 = 0

    public init() {}

    /// What a lock holds for `key` (its 64-bit hash).
    @inlinable public static func lockKey(_ key: UnsafeRawBufferPointer) -> UInt64 { KeyHash.hash(key) }

    /// No request queued or held: single commands need no checks.
    @inlinable public var isIdle: Bool { queueIsEmpty }
    @usableFromInline var queueIsEmpty: Bool { queued.isEmpty }

    /// Queues a request; returns the ids granted as a result (possibly this one).
    public func enqueue(_ request: Request) -> [UInt64] {
        arrivals += 1
        var entry = Queued(keys: request.keys, wholeShard: request.wholeShard, chain: request.chain,
                           arrival: arrivals, waitingFor: 0)
        if request.wholeShard {
            entry.waitingFor = queued.count
            wholeShardRequests.append(request.id)
            queued[request.id] = entry
        } else {
            entry.waitingFor = request.keys.count
            queued[request.id] = entry
            for k in request.keys {
                if let i = keyQueues.index(forKey: k) {
                    keyQueues.values[i].rest.append(request.id)
                    _ = countFront(atQueue: i)
                } else {
                    keyQueues[k] = KeyQueue(request.id)
                    _ = countFront(atQueue: keyQueues.index(forKey: k)!)
                }
            }
        }
        guard grantable(queued[request.id]!) else { return [] }
        var granted: [UInt64] = []
        grant(request.id, into: &granted)
        if granted.count > 1 { granted.sort { queued[$0]!.arrival < queued[$1]!.arrival } }
        return granted
    }

    /// Drops a finished request; returns the ids that this frees to be granted, in arrival
    /// order.
    public func release(_ id: UInt64) -> [UInt64] {
        guard let r = queued.removeValue(forKey: id) else { return [] }
        var candidates: [UInt64] = []
        if r.wholeShard {
            if r.granted { heldWholeShard -= 1 }
            wholeShardRequests.removeAll { $0 == id }
        } else {
            for k in r.keys {
                guard let i = keyQueues.index(forKey: k), let p = keyQueues.values[i].position(of: id) else { continue }
                if keyQueues.values[i].count == 1 {
                    keyQueues.remove(at: i)
                    continue
                }
                if p < keyQueues.values[i].granted {
                    keyQueues.values[i].granted -= 1
                    if keyQueues.values[i].granted == 0 {
                        keyQueues.values[i].grantedChain = 0
                    } else if keyQueues.values[i].grantedChain == 0 {
                        // Mixed holders: the one leaving may have been the odd one out.
                        keyQueues.values[i].grantedChain = chainOfHolders(keyQueues.values[i], excluding: id)
                    }
                } else if p == keyQueues.values[i].granted {
                    keyQueues.values[i].frontCounted = false
                }
                _ = keyQueues.values[i].remove(at: p)
                if let next = countFront(atQueue: i) { candidates.append(next) }
            }
        }
        // Whole-shard requests that arrived later wait for one request fewer.
        for w in wholeShardRequests where queued[w]!.arrival > r.arrival {
            queued[w]!.waitingFor -= 1
            candidates.append(w)
        }
        if r.wholeShard {
            // Keyed requests that arrived after it were held back by it alone, maybe.
            for (other, entry) in queued where !entry.granted && !entry.wholeShard && entry.arrival > r.arrival {
                candidates.append(other)
            }
        }
        var granted: [UInt64] = []
        for c in candidates {
            guard let entry = queued[c], !entry.granted, grantable(entry) else { continue }
            grant(c, into: &granted)
        }
        if granted.count > 1 { granted.sort { queued[$0]!.arrival < queued[$1]!.arrival } }
        return granted
    }

    /// True if a granted request holds `key` (or the whole shard).
    public func blocks(key: UnsafeRawBufferPointer) -> Bool {
        if heldWholeShard > 0 { return true }
        if keyQueues.isEmpty { return false }
        return holds(IntentLocks.lockKey(key))
    }

    /// `blocks(key:)` for a lock key already hashed.
    func holds(_ lockKey: UInt64) -> Bool {
        heldWholeShard > 0 || (keyQueues[lockKey].map { $0.granted > 0 } ?? false)
    }

    /// True if a granted request holds the whole shard (keyless commands wait for it).
    public var wholeShardHeld: Bool { heldWholeShard > 0 }

    /// A keyed request is free on every key and no earlier whole-shard request waits; a
    /// whole-shard request is the oldest one queued.
    private func grantable(_ entry: Queued) -> Bool {
        guard entry.waitingFor == 0 else { return false }
        if entry.wholeShard { return true }
        guard let first = wholeShardRequests.first else { return true }
        return queued[first].map { $0.arrival > entry.arrival } ?? true
    }

    /// The first request after the holders of queue `i`, if nothing ahead stops it there
    /// any more: counts it free on this key (once) and returns it when that was its last key.
    private func countFront(atQueue i: IDMap<KeyQueue>.Storage.Index) -> UInt64? {
        let q = keyQueues.values[i]
        guard !q.frontCounted, q.granted < q.count else { return nil }
        let next = q[q.granted]
        guard let entry = queued[next] else { return nil }
        guard q.granted == 0 || (entry.chain != 0 && q.grantedChain == entry.chain) else { return nil }
        keyQueues.values[i].frontCounted = true
        queued[next]!.waitingFor -= 1
        return queued[next]!.waitingFor == 0 ? next : nil
    }

    private func chainOfHolders(_ q: KeyQueue, excluding id: UInt64) -> UInt64 {
        var chain: UInt64?
        for j in 0..<(q.granted + 1) where q[j] != id {
            let c = queued[q[j]]?.chain ?? 0
            if chain == nil { chain = c } else if chain != c { return 0 }
        }
        return chain ?? 0
    }

    /// Grants `id`, then whatever of the same chain that lets follow it, in arrival order.
    private func grant(_ id: UInt64, into granted: inout [UInt64]) {
        var pending = [id]
        while let next = pending.popLast() {
            guard let entry = queued[next], !entry.granted else { continue }
            queued[next]!.granted = true
            granted.append(next)
            if entry.wholeShard {
                heldWholeShard += 1
                continue
            }
            for k in entry.keys {
                let i = keyQueues.index(forKey: k)!
                keyQueues.values[i].granted += 1
                let holders = keyQueues.values[i].granted
                if holders == 1 {
                    keyQueues.values[i].grantedChain = entry.chain
                } else if keyQueues.values[i].grantedChain != entry.chain {
                    keyQueues.values[i].grantedChain = 0
                }
                keyQueues.values[i].frontCounted = false
                if entry.chain != 0, let follower = countFront(atQueue: i), grantable(queued[follower]!) {
                    pending.append(follower)
                }
            }
        }
    }
}
