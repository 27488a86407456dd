import CShim
import Net
import RESP
import Shards
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A relaxed atomic integer in a box, so counters can live in arrays.
final class Counter: Sendable {
    private let atomic = Atomic<Int>(0)
    enum Relaxed { case relaxed }
    func load(ordering: Relaxed) -> Int { atomic.load(ordering: .relaxed) }
    func store(_ v: Int, ordering: Relaxed) { atomic.store(v, ordering: .relaxed) }
}

/// Counters a worker publishes for INFO and others to read (relaxed atomics: each is
/// written by its worker only, read by whoever answers INFO).
final class WorkerStats: Sendable {
    let keys: [Counter]
    let expires: [Counter]
    let expiredKeys = Atomic<Int>(0)
    let keyspaceHits = Atomic<Int>(0)
    let keyspaceMisses = Atomic<Int>(0)
    let commandsProcessed = Atomic<Int>(0)
    let inputBytes = Atomic<Int>(0)
    let outputBytes = Atomic<Int>(0)
    let clients = Atomic<Int>(0)
    let tableOverhead = Atomic<Int>(0)
    let changes = Atomic<Int>(0)
    /// (client, channel or pattern) pairs on the worker: other workers send it PUBLISHes only if nonzero.
    let subscriptions = Atomic<Int>(0)

    init(databases: Int) {
        keys = (0..<databases).map { _ in Counter() }
        expires = (0..<databases).map { _ in Counter() }
    }
}

/// Process-wide state shared by all workers. Everything here is immutable after start-up,
/// atomic, or behind a mutex that the data path never takes. Settings that change while the
/// server runs are read from LiveConfig, not from here.
/// ThreadSanitizer reports the two sides of a contended Mutex here (config, sequencerInbox)
/// as racing: it cannot see Mutex's futex path (docs/ARCHITECTURE.md, "Settings read while
/// the server runs").
final class ServerContext: Sendable {
    let config: Mutex<Config>
    let workerCount: Int
    let shardCount: Int
    let connectionWorkers: Int
    let databases: Int
    /// rings[from * workerCount + to]
    let rings: [SPSCRing<WorkerMessage>]
    let wakers: [Waker]
    /// Rings between each worker and the sequencer thread, one each way.
    let toSequencer: [SPSCRing<WorkerMessage>]
    let fromSequencer: [SPSCRing<WorkerMessage>]
    let sequencerWaker = Waker()
    let stats: [WorkerStats]
    let port: Int
    let startTimeMs: Int64
    let runID: String

    let connectedClients = Atomic<Int>(0)
    let totalConnections = Atomic<Int>(0)
    let rejectedConnections = Atomic<Int>(0)
    let nextClientID = Atomic<UInt64>(1)
    /// The turn the next blocking request takes (BlockingTurn): blocked clients are served in
    /// the order their commands were read, whichever worker read them.
    let nextBlockingTurn = Atomic<UInt64>(1)
    /// blockingPartsSent[from * workerCount + to]: blocking parts worker `from` has put in its
    /// batches for worker `to`'s shard (BlockingPartsInFlight).
    let blockingPartsSent: [BlockingPartsSent]
    /// Per worker: how far it has read its sockets (Coordination/ReadProgress.swift).
    let readProgress: [ReadProgress]
    let shuttingDown = Atomic<Bool>(false)
    let lastResetStatsMs = Atomic<Int64>(0)
    let persistence = PersistenceState()
    let aof = AppendOnlyState()
    /// appendfsync always: replies to writes wait for the fsync (Persistence/AOF/DurabilityGate.swift).
    let durability: DurabilityGate
    /// The global order of lock requests that span shards (Coordination/LockOrder.swift).
    let lockOrder: LockOrder
    let replication: ReplicationState
    /// Cold-path events for the sequencer from any thread (replicas handed over, full-sync
    /// payloads, WAIT): the rings are single-producer, these are not.
    let sequencerInbox = Mutex<[SequencerEvent]>([])

    init(config: Config, port: Int) {
        workerCount = max(config.threads, config.shards)
        shardCount = config.shards
        connectionWorkers = config.threads
        databases = config.databases
        replication = ReplicationState(workers: max(config.threads, config.shards))
        lockOrder = LockOrder(workers: max(config.threads, config.shards))
        durability = DurabilityGate(workers: max(config.threads, config.shards))
        var rings: [SPSCRing<WorkerMessage>] = []
        for _ in 0..<(workerCount * workerCount) { rings.append(SPSCRing(capacity: 4096)) }
        self.rings = rings
        wakers = (0..<workerCount).map { _ in Waker() }
        toSequencer = (0..<workerCount).map { _ in SPSCRing(capacity: 4096) }
        fromSequencer = (0..<workerCount).map { _ in SPSCRing(capacity: 4096) }
        stats = (0..<workerCount).map { _ in WorkerStats(databases: config.databases) }
        blockingPartsSent = (0..<(workerCount * workerCount)).map { _ in BlockingPartsSent() }
        readProgress = (0..<workerCount).map { _ in ReadProgress() }
        self.port = port
        startTimeMs = Clock.unixMilliseconds()
        var rng = SystemRandomNumberGenerator()
        runID = (0..<40).map { _ in String("0123456789abcdef".randomElement(using: &rng)!) }.joined()
        self.config = Mutex(config)
        persistence.lastSaveTime.store(startTimeMs / 1000, ordering: .relaxed)
    }

    /// Queues a cold-path event for the sequencer and wakes it.
    func postToSequencer(_ event: SequencerEvent) {
        sequencerInbox.withLock { $0.append(event) }
        sequencerWaker.wake()
    }

    func ring(from: Int, to: Int) -> SPSCRing<WorkerMessage> { rings[from * workerCount + to] }

    /// Worker that owns shard `s` (worker i owns shard i).
    @inline(__always) func owner(ofShard s: Int) -> Int { s }
}

enum Clock {
    static func unixMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
    static func unixNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
    static func unixMicroseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }
    static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
    static func monotonicMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
