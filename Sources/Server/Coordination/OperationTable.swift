/// The multi-shard operations a worker coordinates, by slot: a part's reply names its
/// operation's slot and generation (`ReplySink`), so finding it is an index, and a reply
/// that outlived its operation (a cancelled wait of a blocked read) is told apart from the
/// operation that took the slot since. Slots are reused last-freed first.
struct OperationTable {
    private var slots: [MultiShardOperation?] = []
    private var free: [Int] = []
    private var lastGeneration: UInt16 = 0
    /// Finished operations: reusable from the next loop pass on (nothing of the pass that
    /// finished one still looks at it then), up to `maxSpare`.
    private var retired: [MultiShardOperation] = []
    private var spare: [MultiShardOperation] = []
    /// As many as a loop pass may finish under load, so a steady load makes none: 50
    /// connections pipelining 8 cross-shard EXECs keep ~400 in flight, 200 keep ~1600, and a
    /// pool of 256 freed the rest at every pass and made them anew (perf: malloc, free and
    /// growing their arrays). `trimSpare` gives back what a past burst left.
    static let maxSpare = 4096
    /// What stays pooled however idle the worker is.
    static let keptSpare = 256
    /// The most operations in flight since the last `trimSpare`.
    private var peakInFlight = 0

    /// The operation in `slot`, if any (nil for a slot out of range too).
    subscript(slot: Int) -> MultiShardOperation? {
        slot >= 0 && slot < slots.count ? slots[slot] : nil
    }

    /// How many operations are in flight.
    var inFlight: Int { slots.count - free.count }

    /// How many finished operations wait to be reused.
    var spareCount: Int { spare.count }

    /// The operations in flight, for DEBUG LOCKS.
    var live: [MultiShardOperation] { slots.compactMap { $0 } }

    /// The operation a part's reply is for: in its slot, of its generation.
    func operation(slot: Int, generation: UInt16) -> MultiShardOperation? {
        guard let op = self[slot], op.generation == generation else { return nil }
        return op
    }

    /// Gives `op` a slot and a generation; returns the slot.
    mutating func register(_ op: MultiShardOperation) -> Int {
        let slot: Int
        if let reused = free.popLast() {
            slot = reused
            slots[slot] = op
        } else {
            slot = slots.count
            slots.append(op)
        }
        lastGeneration &+= 1
        op.slot = slot
        op.generation = lastGeneration
        peakInFlight = max(peakInFlight, inFlight)
        return slot
    }

    mutating func release(_ slot: Int) {
        if let op = slots[slot], retired.count < OperationTable.maxSpare { retired.append(op) }
        slots[slot] = nil
        free.append(slot)
    }

    /// A finished operation made new for `client`, or a new one.
    mutating func make(client: Client, combine: @escaping MultiShardOperation.Combine) -> MultiShardOperation {
        guard let op = spare.popLast() else { return MultiShardOperation(client: client, combine: combine) }
        op.reuse(client: client, combine: combine)
        return op
    }

    /// On the worker's timer (hz): the pool keeps what the busiest moment since the last
    /// call had in flight (at least `keptSpare`), dropping the operations pooled longest.
    mutating func trimSpare() {
        let keep = max(OperationTable.keptSpare, peakInFlight)
        if spare.count > keep { spare.removeFirst(spare.count - keep) }
        peakInFlight = inFlight
    }

    /// Start of a loop pass: what finished in earlier passes becomes reusable.
    mutating func recycleRetired() {
        guard !retired.isEmpty else { return }
        for op in retired where spare.count < OperationTable.maxSpare { spare.append(op) }
        retired.clearKeepingCapacity()
    }
}
