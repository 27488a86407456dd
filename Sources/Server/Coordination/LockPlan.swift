import RESP
import Shards

/// What an operation will lock, as it is planned: lock keys by shard, and whole shards.
/// Two flat arrays that keep their capacity from one operation to the next (OperationTable
/// reuses operations), so planning a transaction allocates nothing in the steady state; a
/// map of per-shard arrays made four allocations per transaction.
struct LockPlan {
    struct Shard {
        var index: Int
        var wholeShard = false
    }
    /// The shards named, each once, in the order first named.
    private(set) var shards: [Shard] = []
    /// Lock keys, possibly repeated, with the position in `shards` of the shard of each.
    private(set) var keys: [(key: UInt64, position: Int)] = []

    var count: Int { shards.count }
    var isEmpty: Bool { shards.isEmpty }
    var first: Int? { shards.first?.index }

    func contains(shard: Int) -> Bool { shards.contains { $0.index == shard } }

    /// Names `shard` (with no key yet: a WATCH to check there); returns its position.
    @discardableResult
    mutating func include(shard: Int) -> Int {
        if let i = shards.firstIndex(where: { $0.index == shard }) { return i }
        shards.append(Shard(index: shard))
        return shards.count - 1
    }

    mutating func add(key: UInt64, shard: Int) {
        keys.append((key, include(shard: shard)))
    }

    mutating func lockWholeShard(_ shard: Int) {
        shards[include(shard: shard)].wholeShard = true
    }

    mutating func removeAll() {
        shards.clearKeepingCapacity()
        keys.clearKeepingCapacity()
    }
}
