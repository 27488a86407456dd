import CShim
import Synchronization

/// How far a connection-serving worker has read its sockets, for the other workers' shards.
///
/// Redis reads every command on one thread in the order the kernel received them; a push
/// serves the clients that blocked before it. Here a BLPOP sent before a push can sit unread
/// in another worker's socket (that worker has not been scheduled yet, or is busy) while the
/// push runs and serves a client that blocked after it: upstream's "BRPOPLPUSH with multiple
/// blocked clients" hung 1 run in 2 that way. So before a shard serves ready keys it checks
/// that every worker has read and run what it had received (`workersHaveRead` below);
/// blocking requests wait in the order of the kernel's receive time (`BlockingTurn`), so the
/// one read late still goes first. docs/ARCHITECTURE.md, Blocking commands, rule 4.
///
/// Written by its worker only; read by the others.
final class ReadProgress: Sendable {
    /// The worker's epoll set, peeked at by the others (level-triggered: peeking takes nothing).
    let epollFD = Atomic<Int32>(-1)
    /// Odd while the worker reads its sockets and runs what it read.
    let reading = Atomic<UInt64>(0)
    /// Loop iterations that began their epoll_wait, and that finished their reads.
    let iterationsStarted = Atomic<UInt64>(0)
    let iterationsDone = Atomic<UInt64>(0)
    /// Connections worker 0 accepted and handed to this worker, and those it has registered
    /// and read once: a client that connects and sends at once is unread in between.
    let connectionsHandedOver = Atomic<UInt64>(0)
    let connectionsRegistered = Atomic<UInt64>(0)
    /// Workers (bit i: worker i, mod 64) holding ready keys until this one has read: woken
    /// when an iteration finishes.
    let wakeWhenDone = Atomic<UInt64>(0)
}

extension Worker {
    /// Whether other workers' shards may need this worker's progress (two or more workers
    /// serve connections).
    var publishesReadProgress: Bool { context.connectionWorkers > 1 }

    @inline(__always) func readingStarts() {
        let p = context.readProgress[index]
        p.reading.store(p.reading.load(ordering: .relaxed) + 1, ordering: .sequentiallyConsistent)
    }

    @inline(__always) func readingEnds() {
        let p = context.readProgress[index]
        p.reading.store(p.reading.load(ordering: .relaxed) + 1, ordering: .releasing)
    }

    /// Before the loop's epoll_wait.
    @inline(__always) func iterationStarts() {
        let p = context.readProgress[index]
        p.iterationsStarted.store(p.iterationsStarted.load(ordering: .relaxed) + 1, ordering: .sequentiallyConsistent)
    }

    /// After the loop has read its ready sockets: wakes the workers waiting for it.
    @inline(__always) func iterationDone() {
        let p = context.readProgress[index]
        p.iterationsDone.store(p.iterationsStarted.load(ordering: .relaxed), ordering: .sequentiallyConsistent)
        if p.wakeWhenDone.load(ordering: .sequentiallyConsistent) != 0 { wakeWorkersWaitingForReads() }
    }

    /// Worker 0 hands a connection it accepted to `target`.
    func connectionHandedOver(to target: Int) {
        let p = context.readProgress[target]
        p.connectionsHandedOver.store(p.connectionsHandedOver.load(ordering: .relaxed) + 1, ordering: .sequentiallyConsistent)
    }

    /// A connection handed over by worker 0: registered, and what it has sent already read
    /// and run (unless a busy script runs: it serves the connection through epoll).
    func registerHandedOver(fd: Int32, peer: String, readNow: Bool = true) {
        register(fd: fd, peer: peer)
        guard publishesReadProgress else { return }
        if readNow {
            readingStarts()
            readIfReadable(fd: fd)
            readingEnds()
        }
        let p = context.readProgress[index]
        p.connectionsRegistered.store(p.connectionsRegistered.load(ordering: .relaxed) + 1, ordering: .sequentiallyConsistent)
    }

    @inline(never)
    private func wakeWorkersWaitingForReads() {
        let mask = context.readProgress[index].wakeWhenDone.exchange(0, ordering: .sequentiallyConsistent)
        for w in 0..<context.workerCount where w != index && mask & (1 << UInt64(w % 64)) != 0 {
            context.wakers[w].wakeIfAsleep()
        }
    }

    /// Whether every connection-serving worker has read and dispatched what its sockets had
    /// received when this was first asked (`since`, the iterations each had started then,
    /// is recorded on the first call that answers no). Yes for a worker that is between reads
    /// and whose epoll set has no client socket ready, or that has since finished an iteration
    /// it began after the question. The blocking parts it dispatched are then counted in
    /// `blockingPartsSent` (counted before `reading` turns even).
    func workersHaveRead(since: inout [UInt64]?) -> Bool {
        let workers = context.connectionWorkers
        // This worker's own sockets count too: a push that came over a ring may have been
        // received after a BLPOP still unread here. Not for keys a command read from them has
        // just made ready (nothing is held yet and this worker is reading): epoll lists
        // sockets in the order they became ready, so what they received before it is read.
        let ownReading = since == nil && index < workers
            && context.readProgress[index].reading.load(ordering: .relaxed) & 1 == 1
        for n in 0..<workers where n != index || !ownReading {
            let p = context.readProgress[n]
            let handedOver = p.connectionsHandedOver.load(ordering: .sequentiallyConsistent)
            if handedOver == p.connectionsRegistered.load(ordering: .sequentiallyConsistent) {
                if let since, p.iterationsDone.load(ordering: .acquiring) > since[n] { continue }
                // Ready client sockets, or a listener with connections to accept (worker 0).
                let before = p.reading.load(ordering: .sequentiallyConsistent)
                if before & 1 == 0
                    && vk_epoll_has_ready_below(p.epollFD.load(ordering: .relaxed), Worker.listenerToken + 64) == 0
                    && p.reading.load(ordering: .sequentiallyConsistent) == before { continue }
            }
            if since == nil {
                since = (0..<workers).map { context.readProgress[$0].iterationsStarted.load(ordering: .sequentiallyConsistent) }
            }
            // Woken when it finishes an iteration (the loop also looks again within 1 ms).
            if n != index { _ = p.wakeWhenDone.bitwiseOr(1 << UInt64(index % 64), ordering: .sequentiallyConsistent) }
            return false
        }
        since = nil
        return true
    }
}
