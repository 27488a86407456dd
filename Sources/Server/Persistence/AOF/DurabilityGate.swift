import Net
import Synchronization

/// `appendfsync always` as Redis guarantees it: a write is acknowledged only once the
/// fdatasync that covers it is done. Group commit: the sequencer writes and fsyncs what one
/// pass merged from every worker, then publishes `durableBelow`; workers hold the output
/// of clients that wrote (Runtime/DurableReplies.swift) until it passes the number their
/// replies were tagged with.
final class DurabilityGate: Sendable {
    /// The AOF is on with `appendfsync always`: workers hold replies to writes. Set at
    /// start-up and by CONFIG SET (`follow`); workers read it once per loop pass.
    let holdsReplies = Atomic<Bool>(false)
    /// Every write numbered below this is written to the AOF and fsynced.
    let durableBelow = Atomic<UInt64>(0)
    /// Per worker: the highest number its held clients wait for (0: none).
    let wanted: [Want]
    final class Want: Sendable { let value = Atomic<UInt64>(0) }

    init(workers: Int) {
        wanted = (0..<workers).map { _ in Want() }
    }

    /// Follows appendonly and appendfsync (start-up, CONFIG SET).
    func follow(_ config: Config) {
        holdsReplies.store(config.bool("appendonly") && config.value("appendfsync") == "always", ordering: .sequentiallyConsistent)
    }

    /// Sequencer: whether some worker waits for a number not yet durable (another pass is
    /// needed soon even if no record arrives).
    func somebodyWaits(durable: UInt64) -> Bool {
        wanted.contains { $0.value.load(ordering: .sequentiallyConsistent) > durable }
    }

    /// Sequencer: everything below `bound` is on disk; wakes the workers holding clients.
    /// The store comes before each waker's look at `asleep` (both sequentially consistent),
    /// and a worker raises `asleep` before its last look at `durableBelow` (Worker.run), so
    /// one of the two sees the other.
    func publish(durableBelow bound: UInt64, wakers: [Waker]) {
        let old = durableBelow.load(ordering: .relaxed)
        guard bound > old else { return }
        durableBelow.store(bound, ordering: .sequentiallyConsistent)
        for (w, want) in wanted.enumerated() where want.value.load(ordering: .sequentiallyConsistent) > old {
            wakers[w].wakeIfAsleep()
        }
    }
}
