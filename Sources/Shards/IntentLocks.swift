/// Per-shard intent locks for work that spans shards (Dragonfly's VLL, simplified).
///
/// Requests arrive in one global order (the sequencer's, or directly for work confined
/// to this shard) and are granted in that order: a request is granted once no earlier
/// request still in the queue shares a key with it (a whole-shard request shares every
/// key). Because every shard grants in the same order, a transaction only ever waits for
/// earlier ones, so there is no deadlock. Single commands consult `blocks(key:)`: only
/// granted requests hold keys. Owned by the shard's thread.
public final class IntentLocks {
    public struct Request {
        public let id: UInt64
        public let keys: Set<[UInt8]>
        public let wholeShard: Bool
        public var granted = false
        public init(id: UInt64, keys: Set<[UInt8]>, wholeShard: Bool) {
            self.id = id
            self.keys = keys
            self.wholeShard = wholeShard
        }
    }

    private var queue: [Request] = []
    private var heldKeys: [[UInt8]: Int] = [:]
    private var heldWholeShard = 0

    public init() {}

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
        return heldKeys[Array(key)] != nil
    }

    /// True if a granted request holds the whole shard (keyless commands wait for it).
    public var wholeShardHeld: Bool { heldWholeShard > 0 }

    private func grantReady() -> [UInt64] {
        var granted: [UInt64] = []
        for i in queue.indices where !queue[i].granted {
            let r = queue[i]
            var conflict = false
            for j in 0..<i where conflicts(queue[j], r) { conflict = true; break }
            if conflict { continue }
            queue[i].granted = true
            if r.wholeShard { heldWholeShard += 1 }
            for k in r.keys { heldKeys[k, default: 0] += 1 }
            granted.append(r.id)
        }
        return granted
    }

    private func conflicts(_ a: Request, _ b: Request) -> Bool {
        if a.wholeShard || b.wholeShard { return true }
        let (small, large) = a.keys.count <= b.keys.count ? (a.keys, b.keys) : (b.keys, a.keys)
        for k in small where large.contains(k) { return true }
        return false
    }
}
