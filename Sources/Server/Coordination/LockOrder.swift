import Shards
import Synchronization

/// The one global order of lock requests that span shards, kept without a thread.
///
/// Intent locks are deadlock-free because every shard queues multi-shard requests in the
/// same order. A sequencer thread used to give that order by forwarding every request:
/// a third thread and an extra hop (and wake-up) per cross-shard operation. Now the
/// coordinator numbers the request from one atomic counter and sends it straight to each
/// shard's owner, and a shard queues numbered requests in number order, each only once
/// nothing numbered below it can still arrive: the replication clock's floors, applied to
/// locks (an `OrderClock` of its own). A coordinator publishes a floor (the counter's value)
/// before it takes a number and clears it once every message of the request is in its
/// ring; a shard reads the counter and then every floor *before* draining its rings, and
/// queues what is numbered below the smallest. A request numbered `n` below that bound was
/// either pushed before its coordinator cleared its floor, so the drain that follows finds
/// it, or it is impossible: its coordinator would have held a floor at most `n`, or taken
/// its number after the counter was read. Requests confined to one shard need no number.
final class LockOrder: Sendable {
    private let clock: OrderClock

    init(workers: Int) { clock = OrderClock(workers: workers) }

    /// Numbers a coordinator takes at once: the requests it makes in one loop pass get
    /// consecutive numbers, so another worker's requests of the same moment come before or
    /// after all of them, not in between. Interleaved, two coordinators' transactions on
    /// the same keys alternated on every shard, each waiting for the other's release round
    /// trip; in blocks, a pass's requests on shared keys follow each other as one chain.
    static let block: UInt64 = 256

    /// Coordinator side: publishes `worker`'s floor (unless it still holds a lower one) and
    /// returns the request's number, from `reserved` (the rest of the block the worker took
    /// since it published the floor) or from a new block. The caller pushes the request
    /// everywhere, then calls `cleared` (or keeps the floor while a message waits for ring
    /// room).
    func take(worker: Int, floorHeld: Bool, reserved: inout Range<UInt64>) -> UInt64 {
        if !floorHeld {
            reserved = 0..<0
            clock.floors[worker].value.store(clock.next.load(ordering: .sequentiallyConsistent), ordering: .sequentiallyConsistent)
        }
        if reserved.isEmpty {
            let first = clock.next.wrappingAdd(LockOrder.block, ordering: .sequentiallyConsistent).oldValue
            reserved = first..<first + LockOrder.block
        }
        let n = reserved.lowerBound
        reserved = n + 1..<reserved.upperBound
        return n
    }

    /// Coordinator side: every request `worker` numbered is in its rings. The numbers left
    /// in its block are dropped by its next `take`: a shard may already have queued requests
    /// numbered above them (nothing below the counter was held back any more). Its own
    /// shard's drain drops them too (`safeBound(forShardOf:)`).
    func cleared(worker: Int) {
        clock.floors[worker].value.store(.max, ordering: .sequentiallyConsistent)
    }

    /// Shard side, before draining the rings: requests numbered below the result that are
    /// meant for this shard are in its rings (or were drained before).
    func safeBound() -> UInt64 { clock.safeBound() }

    /// `safeBound` for the shard of `worker`, without the worker's own floor: a coordinator
    /// hands its own shard each request as it numbers it (`lockArrived`), so its floor only
    /// guards the requests still on their way to other shards. Held, it kept the worker from
    /// queuing its own requests and the others' numbered after it until its next pass. The
    /// worker must number its later requests above the result: from a new block (`take`
    /// with its reserved numbers dropped).
    func safeBound(forShardOf worker: Int) -> UInt64 { clock.safeBound(excluding: worker) }
}

/// Numbered lock requests a worker has received for its shard and not yet queued, kept
/// until everything numbered below them has arrived.
struct OrderedLockRequests {
    /// A struct, not a tuple: arrays of tuples holding a reference are destroyed through the
    /// runtime's generic tuple witness.
    struct Request {
        let order: UInt64
        /// Not counted: its operation holds the lock until every shard has granted it.
        unowned(unsafe) let lock: TransactionLock
        let shard: Int
        /// Its eager parts' record (EagerParts.swift; 0: none).
        let eagerParts: UInt32
    }
    private var waiting: [Request] = []
    /// Drains in a row that left requests waiting.
    private(set) var passesWaited = 0

    var isEmpty: Bool { waiting.isEmpty }

    mutating func add(_ lock: TransactionLock, shard: Int, order: UInt64, eagerParts: UInt32 = 0) {
        waiting.append(Request(order: order, lock: lock, shard: shard, eagerParts: eagerParts))
    }

    typealias Ready = [Request]

    /// Takes the requests numbered below `bound`, in number order, into `ready` (emptied
    /// first). Usually every waiting request is ready: the arrays then trade buffers, with
    /// no copy and no retain per request.
    mutating func take(below bound: UInt64, into ready: inout Ready) {
        ready.clearKeepingCapacity()
        guard !waiting.isEmpty else { return }
        if waiting.count > 1 && !isSorted { waiting.sort { $0.order < $1.order } }
        let n = waiting.firstIndex { $0.order >= bound } ?? waiting.count
        if n == waiting.count {
            swap(&ready, &waiting)
        } else {
            ready.append(contentsOf: waiting[..<n])
            waiting.removeFirst(n)
        }
        passesWaited = waiting.isEmpty ? 0 : passesWaited + 1
    }

    /// The orders waiting, for DEBUG LOCKS.
    var orders: [UInt64] { waiting.map(\.order) }

    private var isSorted: Bool {
        for i in 1..<waiting.count where waiting[i - 1].order > waiting[i].order { return false }
        return true
    }
}
