import Net
import Shards

/// The sequencer thread: gives work that spans shards one global order.
///
/// A worker that must lock keys on several shards sends its `TransactionLock` here; the
/// sequencer forwards it to every shard involved, in arrival order. Since the sequencer is
/// the only producer of its ring to each worker, every shard queues multi-shard requests
/// in the same order, which is what makes intent locks deadlock-free (see IntentLocks).
/// Work confined to one shard skips the sequencer and goes to that shard directly.
/// (The replication stream will be assembled here too.)
final class Sequencer: @unchecked Sendable {  // touched only by the sequencer thread after start
    let context: ServerContext
    private var loop = EventLoop(capacity: 16)
    private var overflow: [[WorkerMessage]]
    private(set) var sequenced: UInt64 = 0

    init(context: ServerContext) {
        self.context = context
        overflow = Array(repeating: [], count: context.workerCount)
        loop.add(context.sequencerWaker.fd, events: EventLoop.readable, token: 0)
    }

    func run() {
        while !context.shuttingDown.load(ordering: .relaxed) {
            let pending = overflow.contains { !$0.isEmpty }
            _ = loop.wait(timeoutMs: pending ? 1 : -1)
            context.sequencerWaker.drain()
            retryOverflow()
            for ring in context.toSequencer {
                while let message = ring.pop() {
                    guard case .schedule(let lock) = message else { continue }
                    sequenced += 1
                    for shard in lock.shards.keys.sorted() {
                        send(.lock(lock, shard: shard), to: context.owner(ofShard: shard))
                    }
                }
            }
        }
    }

    private func send(_ message: WorkerMessage, to worker: Int) {
        guard overflow[worker].isEmpty else { overflow[worker].append(message); return }
        switch context.fromSequencer[worker].push(message) {
        case .pushed(let wake): if wake { context.wakers[worker].wake() }
        case .full: overflow[worker].append(message)
        }
    }

    private func retryOverflow() {
        for worker in overflow.indices where !overflow[worker].isEmpty {
            var sent = 0
            for message in overflow[worker] {
                guard case .pushed(let wake) = context.fromSequencer[worker].push(message) else { break }
                if wake { context.wakers[worker].wake() }
                sent += 1
            }
            overflow[worker].removeFirst(sent)
        }
    }
}
