/// A few values keyed by shard index, in the order first set: what an operation needs on
/// each shard it touches. A linear scan of a handful of pairs beats hashing an Int (and
/// allocating a hash table) per transaction.
struct ShardMap<Value> {
    private(set) var keys: [Int] = []
    private var values: [Value] = []

    var count: Int { keys.count }
    var isEmpty: Bool { keys.isEmpty }

    subscript(shard: Int) -> Value? {
        get { keys.firstIndex(of: shard).map { values[$0] } }
        set {
            if let i = keys.firstIndex(of: shard) {
                if let newValue { values[i] = newValue } else { keys.remove(at: i); values.remove(at: i) }
            } else if let newValue {
                keys.append(shard)
                values.append(newValue)
            }
        }
    }

    subscript(shard: Int, default value: @autoclosure () -> Value) -> Value {
        get { self[shard] ?? value() }
        _modify {
            let i: Int
            if let found = keys.firstIndex(of: shard) {
                i = found
            } else {
                keys.append(shard)
                values.append(value())
                i = values.count - 1
            }
            yield &values[i]
        }
    }

    /// Calls `body` on every value, in place.
    mutating func updateEach(_ body: (inout Value) -> Void) {
        for i in values.indices { body(&values[i]) }
    }
}
