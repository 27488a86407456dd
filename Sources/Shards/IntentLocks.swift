/// Per-shard intent locks for work that spans shards (Dragonfly's VLL, simplified).
///
/// Requests arrive in one global order (the sequencer's, or directly for work confined
/// to this shard) and are granted in that order: a request is granted once no earlier
/// request still in the queue shares a key with it (a whole-shard request shares every
/// key). Because every shard grants in the same order, a transaction only ever waits for
/// earlier ones, so there is no deadlock. Single commands consult `blocks(key:)`: only
/// granted requests hold keys. Keys are held by their 64-bit hash: a collision only makes
/// something wait that need not, never lets a conflict through. Owned by the shard's thread.
public final class IntentLocks {
    public struct Request {
        public let id: UInt64
        public let keys: Set<UInt64>
        public let wholeShard: Bool
        public var granted = false
        public init(id: UInt64, keys: Set<UInt64>, wholeShard: Bool) {
            self.id = id
            self.keys = keys
            self.wholeShard = wholeShard
        }
    }

    private var queue: [Request] = []
    private var heldKeys: [UInt64: Int] = [:]
    private var heldWholeShard = 0

    public init() {}

    /// What a lock holds for `key` (its 64-bit hash).
    @inlinable public static func lockKey(_ key: UnsafeRawBufferPointer) -> UInt64 { KeyHash.hash(key) }

    /// No request queued or held: single commands need no checks.
    @inlinable public var isIdle: Bool { queueIsEmpty }
    @usableFromInline var queueIsEmpty: Bool { queue.isEmpty }

    /// Queues a request; returns the ids granted as a result (possibly this one).
    public func enqueue(_ request: Request) -> [UInt64] {
        queue.append(request)
        return grantReady()
    }

    /// Drops a finished request; returns the ids that this frees to be granted.
    public func release(_ id: UInt64) -> [UInt64] {
        guard let i = queue.firstIndex(where: { $0.id == id }) else { return [] }
        let r = queue.remove(at: i)
        if r.granted {
            if r.wholeShard { heldWholeShard -= 1 }
            for k in r.keys {
                if let n = heldKeys[k], n > 1 { heldKeys[k] = n - 1 } else { heldKeys[k] = nil }
            }
        }
        return grantReady()
    }

    /// True if a granted request holds `key` (or the whole shard).
    public func blocks(key: UnsafeRawBufferPointer) -> Bool {
        if heldWholeShard > 0 { return true }
        if heldKeys.isEmpty { return false }
        return heldKeys[IntentLocks.lockKey(key)] != nil
    }

    /// True if a granted request holds the whole shard (keyless commands wait for it).
    public var wholeShardHeld: Bool { heldWholeShard > 0 }

    /// One pass in queue order: a request is granted if none of its keys is taken by an
    /// earlier request, granted or still waiting (keys are served first come, first
    /// served); a whole-shard request needs to be first and blocks everything after it.
    private func grantReady() -> [UInt64] {
        var granted: [UInt64] = []
        var taken = Set<UInt64>()
        for i in queue.indices {
            let r = queue[i]
            if r.wholeShard {
                if i == 0 && !r.granted {
                    queue[i].granted = true
                    heldWholeShard += 1
                    granted.append(r.id)
                }
                break
            }
            if !r.granted && r.keys.isDisjoint(with: taken) {
                queue[i].granted = true
                for k in r.keys { heldKeys[k, default: 0] += 1 }
                granted.append(r.id)
            }
            taken.formUnion(r.keys)
        }
        return granted
    }
}
