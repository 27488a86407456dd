/// A binary min-heap of (deadline, entry) pairs: the shard's schedule of expirations.
///
/// One heap per shard, never a timer per key. Entries are not removed when a TTL changes
/// or a key is deleted: the heap keeps a reference count in the entry block (so a
/// deleted block lives on as `dead` until its last heap reference is popped), and a
/// popped pair whose deadline no longer matches the entry's is simply stale.
public struct ExpiryHeap: ~Copyable {
    public struct Item {
        public var deadline: Int64
        public var entry: Entry
    }

    @usableFromInline var items: UnsafeMutablePointer<Item>
    @usableFromInline var capacity: Int
    public private(set) var count = 0

    public init() {
        capacity = 64
        items = .allocate(capacity: capacity)
    }

    deinit { items.deallocate() }

    public var isEmpty: Bool { count == 0 }
    public var earliest: Int64? { count > 0 ? items[0].deadline : nil }

    public mutating func push(deadline: Int64, entry: Entry) {
        if count == capacity {
            let bigger = UnsafeMutablePointer<Item>.allocate(capacity: capacity * 2)
            bigger.moveInitialize(from: items, count: count)
            items.deallocate()
            items = bigger
            capacity *= 2
        }
        entry.heapReferences &+= 1
        var i = count
        count += 1
        let item = Item(deadline: deadline, entry: entry)
        while i > 0 {
            let parent = (i - 1) / 2
            if items[parent].deadline <= deadline { break }
            items[i] = items[parent]
            i = parent
        }
        (items + i).initialize(to: item)
    }

    /// Removes and returns the earliest pair if its deadline is at or before `now`.
    /// The caller owns the heap reference it returns (see `release`).
    public mutating func popDue(now: Int64) -> Item? {
        guard count > 0, items[0].deadline <= now else { return nil }
        return popFirst()
    }

    public mutating func popFirst() -> Item? {
        guard count > 0 else { return nil }
        let top = items[0]
        count -= 1
        if count > 0 { siftDown(items[count], from: 0) }
        return top
    }

    private mutating func siftDown(_ item: Item, from start: Int) {
        var i = start
        while true {
            let left = 2 * i + 1
            if left >= count { break }
            var child = left
            if left + 1 < count && items[left + 1].deadline < items[left].deadline { child = left + 1 }
            if items[child].deadline >= item.deadline { break }
            items[i] = items[child]
            i = child
        }
        items[i] = item
    }

    /// Drops every pair that `isLive` rejects and rebuilds the heap in O(n). Each dropped
    /// pair's reference is handed to `drop`.
    public mutating func compact(isLive: (Item) -> Bool, drop: (Item) -> Void) {
        var kept = 0
        for i in 0..<count {
            let item = items[i]
            if isLive(item) { items[kept] = item; kept += 1 } else { drop(item) }
        }
        count = kept
        if count > 1 {
            for i in stride(from: count / 2 - 1, through: 0, by: -1) { siftDown(items[i], from: i) }
        }
    }

    /// Hands every pair to `body` and empties the heap.
    public mutating func removeAll(_ body: (Item) -> Void) {
        for i in 0..<count { body(items[i]) }
        count = 0
    }
}
