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
public final class IntentLocks {
    public struct Request {
        public let id: UInt64
        /// Distinct keys (duplicates are dropped here).
        public let keys: [UInt64]
        public let wholeShard: Bool

        public init(id: UInt64, keys: [UInt64], wholeShard: Bool) {
            self.id = id
            self.wholeShard = wholeShard
            if keys.count < 2 {
                self.keys = keys
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
        /// Arrival number on this shard.
        let arrival: UInt64
        /// Keys whose queue an earlier request still heads (keyed requests), or requests
        /// that arrived earlier and are still queued (whole-shard requests).
        var waitingFor: Int
        var granted = false
    }

    /// The requests naming one key, in arrival order. Uncontended keys (one request) need
    /// no array.
    private struct KeyQueue {
        var head: UInt64
        var headGranted = false
        var behind: [UInt64] = []
    }

    private var queued: [UInt64: Queued] = [:]
    private var keyQueues: [UInt64: KeyQueue] = [:]
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
        var entry = Queued(keys: request.keys, wholeShard: request.wholeShard, arrival: arrivals, waitingFor: 0)
        if request.wholeShard {
            entry.waitingFor = queued.count
            wholeShardRequests.append(request.id)
        } else {
            for k in request.keys {
                if let i = keyQueues.index(forKey: k) {
                    keyQueues.values[i].behind.append(request.id)
                    entry.waitingFor += 1
                } else {
                    keyQueues[k] = KeyQueue(head: request.id)
                }
            }
        }
        queued[request.id] = entry
        guard grantable(entry) else { return [] }
        grant(request.id)
        return [request.id]
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
                guard let i = keyQueues.index(forKey: k) else { continue }
                if keyQueues.values[i].head == id {
                    if keyQueues.values[i].behind.isEmpty {
                        keyQueues.remove(at: i)
                    } else {
                        let next = keyQueues.values[i].behind.removeFirst()
                        keyQueues.values[i].head = next
                        keyQueues.values[i].headGranted = false
                        queued[next]?.waitingFor -= 1
                        candidates.append(next)
                    }
                } else {
                    keyQueues.values[i].behind.removeAll { $0 == id }
                }
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
            grant(c)
            granted.append(c)
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
        heldWholeShard > 0 || (keyQueues[lockKey]?.headGranted ?? false)
    }

    /// True if a granted request holds the whole shard (keyless commands wait for it).
    public var wholeShardHeld: Bool { heldWholeShard > 0 }

    /// A keyed request heads all its keys' queues and no earlier whole-shard request waits;
    /// a whole-shard request is the oldest one queued.
    private func grantable(_ entry: Queued) -> Bool {
        guard entry.waitingFor == 0 else { return false }
        if entry.wholeShard { return true }
        guard let first = wholeShardRequests.first else { return true }
        return queued[first].map { $0.arrival > entry.arrival } ?? true
    }

    private func grant(_ id: UInt64) {
        guard let entry = queued[id] else { return }
        queued[id]!.granted = true
        if entry.wholeShard {
            heldWholeShard += 1
        } else {
            for k in entry.keys { keyQueues[k]!.headGranted = true }
        }
    }
}
