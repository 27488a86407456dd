/// Clients blocked on keys of one shard, whatever command blocked them (Redis's
/// db->blocking_keys, server.ready_keys and its timeout table): per key the waiters in the
/// order they blocked, per client its waiters, one min-heap of deadlines (no timer per
/// client), and the keys made ready since they were last served.
///
/// The shard's own write paths mark a waited-on key ready whenever the key is added,
/// deleted, overwritten, renamed or moved onto, copied to, swapped or flushed (Redis's
/// signalKeyAsReady from dbAdd, signalDeletedKeyAsReady, scanDatabaseForReadyKeys);
/// commands that change a value in a way that can serve a waiter (XADD, XGROUP DESTROY)
/// call `signal` themselves. The worker then looks at each ready key as it is now and
/// answers the waiters it can. Nothing here knows what a waiter waits for: the server
/// subclasses `Waiter`. Owned by the shard's thread.
public final class BlockedKeys {
    public struct Key: Hashable {
        public let db: Int
        public let key: [UInt8]
        public init(db: Int, key: [UInt8]) { self.db = db; self.key = key }
    }

    /// One blocked request's wait on one or more keys of this shard.
    open class Waiter {
        public let clientID: UInt64
        public let db: Int
        public let keys: [[UInt8]]
        /// Unix ms at which it times out; 0: never.
        public let deadline: Int64
        /// The request's place in the server-wide order of blocking commands (taken when its
        /// command was read): a key's waiters are kept in this order.
        public let turn: UInt64
        /// Answered, timed out or cancelled: no longer in any list.
        public fileprivate(set) var done = false

        public init(clientID: UInt64, db: Int, keys: [[UInt8]], deadline: Int64, turn: UInt64) {
            self.clientID = clientID; self.db = db; self.keys = keys; self.deadline = deadline; self.turn = turn
        }
    }

    private var byKey: [Key: [Waiter]] = [:]
    private var byClient: [UInt64: [Waiter]] = [:]
    private var ready: [Key] = []
    private var readySet = Set<Key>()
    private var deadlines = DeadlineHeap()

    /// A plain flag, so write paths pay one load and a branch while nobody is blocked.
    public private(set) var isEmpty = true

    public init() {}

    /// Adds `w` behind the waiters with an earlier turn: a request read by another worker
    /// before one this shard's worker read may reach the shard after it.
    public func add(_ w: Waiter) {
        for k in w.keys {
            let key = Key(db: w.db, key: k)
            var list = byKey.removeValue(forKey: key) ?? []
            var at = list.count
            while at > 0 && list[at - 1].turn > w.turn { at -= 1 }
            list.insert(w, at: at)
            byKey[key] = list
        }
        byClient[w.clientID, default: []].append(w)
        if w.deadline > 0 { deadlines.push(w.deadline, w) }
        isEmpty = false
    }

    public func remove(_ w: Waiter) {
        guard !w.done else { return }
        w.done = true
        for k in w.keys {
            let key = Key(db: w.db, key: k)
            guard var list = byKey[key] else { continue }
            list.removeAll { $0 === w }
            byKey[key] = list.isEmpty ? nil : list
        }
        if var list = byClient[w.clientID] {
            list.removeAll { $0 === w }
            byClient[w.clientID] = list.isEmpty ? nil : list
        }
        isEmpty = byKey.isEmpty
    }

    /// The waiters on `key`, in the order their commands were read.
    public func waiters(on key: Key) -> [Waiter] { byKey[key] ?? [] }

    public func waiters(ofClient id: UInt64) -> [Waiter] { byClient[id] ?? [] }

    // MARK: Ready keys

    /// `key` may now serve its waiters (if it has any).
    @inline(__always)
    public func signal(db: Int, key: UnsafeRawBufferPointer) {
        if isEmpty { return }
        signalWaited(Key(db: db, key: Array(key)))
    }

    /// Every waited-on key of `db` (the whole database changed: SWAPDB, FLUSHDB).
    public func signalAll(db: Int) {
        for k in byKey.keys where k.db == db { signalWaited(k) }
    }

    /// Marks `k` ready again (a key taken by `takeReadyKeys` that could not be served yet).
    public func signal(_ k: Key) { signalWaited(k) }

    private func signalWaited(_ k: Key) {
        if byKey[k] != nil && readySet.insert(k).inserted {
            ready.append(k)
            hasReadyKeys = true
        }
    }

    /// A stored flag (not `!ready.isEmpty`): the worker reads it after every command.
    public private(set) var hasReadyKeys = false

    /// Whether `key` was made ready and its waiters are not served yet (held while its lock
    /// or blocking requests on their way are awaited): a request arriving now queues behind
    /// them instead of taking what is theirs.
    public func awaitsServing(db: Int, key: UnsafeRawBufferPointer) -> Bool {
        if ready.isEmpty { return false }
        return readySet.contains(Key(db: db, key: Array(key)))
    }

    /// The keys made ready so far, in the order they were signalled; serving them may signal more.
    public func takeReadyKeys() -> [Key] {
        let keys = ready
        ready.removeAll()
        readySet.removeAll()
        hasReadyKeys = false
        return keys
    }

    // MARK: Deadlines

    /// The earliest deadline of a waiter still waiting.
    public func earliestDeadline() -> Int64? {
        while let top = deadlines.top, top.waiter.done { deadlines.pop() }
        return deadlines.top?.deadline
    }

    /// Removes and returns a waiter whose deadline is at or before `now`, if any.
    public func popTimedOut(now: Int64) -> Waiter? {
        while let top = deadlines.top, top.waiter.done || top.deadline <= now {
            deadlines.pop()
            if !top.waiter.done {
                remove(top.waiter)
                return top.waiter
            }
        }
        return nil
    }
}

/// Min-heap of (deadline, waiter).
private struct DeadlineHeap {
    private var items: [(deadline: Int64, waiter: BlockedKeys.Waiter)] = []

    var top: (deadline: Int64, waiter: BlockedKeys.Waiter)? { items.first }

    mutating func push(_ deadline: Int64, _ waiter: BlockedKeys.Waiter) {
        items.append((deadline, waiter))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[parent].deadline <= items[i].deadline { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() {
        let last = items.removeLast()
        guard !items.isEmpty else { return }
        items[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && items[l].deadline < items[m].deadline { m = l }
            if r < items.count && items[r].deadline < items[m].deadline { m = r }
            if m == i { break }
            items.swapAt(m, i)
            i = m
        }
    }
}
