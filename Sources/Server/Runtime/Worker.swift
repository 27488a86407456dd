import CShim
import Net
import RESP
import Shards
#if canImport(Glibc)
import Glibc
#endif

/// One server thread: an epoll loop that serves its share of the connections and, if it
/// owns one, executes its shard's commands, both inline for its own clients and for
/// batches arriving from other workers over SPSC rings (Dragonfly's thread-per-core shape).
final class Worker: @unchecked Sendable {  // every field is touched only by this worker's thread
    let index: Int
    let context: ServerContext
    let shard: Shard?
    /// `shard` for dispatch's hot path, used without the retain and release that holding a
    /// strong reference across the handler's call costs; the shard lives as long as the worker.
    let ownShardRef: Unmanaged<Shard>?
    let table = CommandTable.shared
    /// The rerunnable script part (`__eval_rerunnable`), whose replies may be a rerun marker.
    let rerunnableScript = CommandTable.shared.index(of: .evalRerunnable)
    /// The part that forgets a client's watches on a shard (`__unwatch_all`, Locking.swift).
    let unwatchAllPart = CommandTable.shared.index(of: .unwatchAll)
    var loop = EventLoop(capacity: 1024)
    let waker: Waker
    let stats: WorkerStats
    /// INFO commandstats/errorstats counters; touched only by this worker's thread.
    let commandStats = CommandStats(commands: CommandTable.shared.specs.count)
    /// This worker's clients blocked in a command (XREAD/XREADGROUP BLOCK), by operation.
    let blockedClients = BlockedClientsOfWorker()

    /// This worker's connections, and closed clients still owed replies (ClientTable.swift).
    var clients = ClientTable()
    var flushList: [Client] = []
    /// Clients whose output `flushClients` holds back this pass (`holdsOutputBack`).
    private var heldBack: [Client] = []
    private var nextConnectionTarget = 0

    /// Batches and messages on their way to the other workers (Outbox.swift).
    var outbox: Outbox
    /// `outbox.pushed` when the loop last went to wait.
    private var pushedBeforeWait = 0
    /// The last wait returned events of client connections.
    private var clientEventsThisPass = false
    /// The multi-shard operations this worker coordinates (OperationTable.swift).
    var operations = OperationTable()
    /// Commands waiting on this worker's shard until locks they conflict with are released.
    var waiting = WaitingCommands()
    /// The list resumeWaiting takes them into (kept for its capacity).
    var waitingScratch: [WaitingCommand] = []
    /// Ready keys are held unserved until blocking requests received before them are here
    /// (serveReadyKeys): commands on those keys wait (mustWait). A stored flag of the
    /// worker's own, read before every command.
    var readyKeysHeld = false
    /// resumeWaiting is running, and was asked again meanwhile (Locking.swift).
    var resumingWaiting = false
    var resumeWaitingAgain = false
    var nextTransactionID: UInt64 = 0
    /// Lock requests of finished operations, reused once no shard holds them.
    var lockPool = TransactionLockPool()
    /// The background save this worker gathers shard copies for, if any.
    var snapshotCollection: SnapshotCollection?
    /// Reused list of the lock requests a queue or release on this worker's shard grants.
    var grantScratch: [IntentLocks.Grant] = []
    /// Grants of this worker's shard not acted on yet, in the order its lock table made them,
    /// from `grantsHead` on, while `actingOnGrants` (Locking.swift, actOnGrants).
    var pendingGrants: [PendingGrant] = []
    var grantsHead = 0
    var actingOnGrants = false
    /// Numbered lock requests for this worker's shard waiting for the ones numbered below.
    var orderedLocks = OrderedLockRequests()
    /// Eager parts of lock requests on this worker's shard, waiting for its grants.
    var eagerParts = EagerPartsStore()
    /// Clients that opened a lock group this pass: closed when the pass's batches go (their
    /// requests leave then, and their locks are free for the pool to reuse once released).
    var clientsWithOpenLocks: [Client] = []
    /// Members of a lock group ready to run on once it is granted (Locking.swift).
    var groupReadyScratch: [(slot: Int, generation: UInt16)] = []
    /// MULTI's index: it does not close a client's lock group (Locking.swift).
    let multiCommand = CommandTable.shared.index(of: "multi")!
    /// The commands whose operations across shards chain in steps (waitsForSteps).
    let movesInSteps: [UInt16] = ["copy", "rename", "renamenx"].map { CommandTable.shared.index(of: $0)! }
    /// Where an eager part writes its reply (runEagerParts).
    var eagerPartScratch = ByteBuffer(capacity: 1024)
    /// Reused list of the numbered requests queueOrderedLocks queues in one go.
    var readyLocksScratch: OrderedLockRequests.Ready = []
    /// The lock list a command call fills (commandCall) and an operation empties (start).
    var lockListScratch: [(shard: Int, key: UInt64)] = []
    /// The key shards of the command being dispatched across shards (KeyShardMemo).
    var keyShards = KeyShardMemo()
    /// Chained lock requests (TransactionLock.chain) on this shard not granted yet, per
    /// client: that client's later commands here wait behind them.
    let chainedRequestsPending = SlotMap()
    /// A numbered lock request of this worker still waits for ring room: its floor stays.
    var lockFloorHeld = false
    /// Lock numbers taken for this worker while its floor is held (LockOrder.take); dropped
    /// at each drain, which may queue requests numbered above them (`drainRings`).
    var lockNumbers: Range<UInt64> = 0..<0
    /// Replication records of this worker (and its shard), once replication is active.
    var propagation: PropagationLog?
    /// This worker's Lua interpreter, created by its first script (Scripting/ScriptEngine.swift).
    var scripting: ScriptEngine?
    /// What a busy script's episodes leave to the loop (BusyScript.swift), once one happened.
    var busyScript: BusyScriptState?
    var nextPropagationTag: UInt64 = 0
    /// Worker 0 only: the connection to the master while this server is a replica.
    var masterLink: MasterLink?
    /// Full resyncs waiting for a snapshot (worker 0), by snapshot id.
    var pendingReplicationSnapshots: [UInt64] = []
    /// A replica's master stream waiting for such a snapshot (WorkerReplication.swift).
    var masterStreamHold = MasterStreamHold.none
    /// appendfsync always: replies to writes wait for their fsync (DurableReplies.swift);
    /// the clients whose output waits, and the oldest number one of them waits for.
    var holdsWriteReplies = false
    var fsyncParked: [Client] = []
    var fsyncParkedOldestTag = UInt64.max
    /// Start-up with an AOF (worker 0): its commands being replayed before clients are served.
    var aofReplay: AOFReplay?
    /// BGREWRITEAOFs this worker started (their snapshot points' ids).
    var nextAOFRewrite: UInt64 = 0

    /// The chained operation this worker started last (MultiShardOperation: chains), and
    /// those whose turn to complete came while another was completing.
    var lastChained: MultiShardOperation?
    var chainTurns: [MultiShardOperation] = []
    var completingChainTurns = false
    /// EXEC's plan of the transaction being started (kept for its capacity).
    var execPlanScratch: [TransactionCommands.ExecItem] = []
    /// EXEC's combine for a transaction whose item i is part i (TransactionCommands.partsCombine).
    lazy var execPartsCombine: MultiShardOperation.Combine = TransactionCommands.partsCombine(self)
    /// Reply scratch for replies that must queue behind outstanding ones.
    var replyScratch = ByteBuffer(capacity: 16 * 1024)
    /// Where a finished operation's combined reply is built.
    var partScratch = ByteBuffer(capacity: 1024)
    /// Where a part that runs on this worker's shard writes its reply: not `partScratch`, which
    /// may hold the reply of the EXEC whose combine is starting that part's operation.
    var inlinePartScratch = ByteBuffer(capacity: 1024)
    var waitScratch = ByteBuffer(capacity: 1024)
    /// This worker's subscribers (Subscriptions.swift) and its messages for the other
    /// workers' subscribers (PublishDelivery.swift).
    var subscriptions = SubscriptionTable()
    var publishes: PublishOutbox
    /// Where a message for a subscriber that waits for earlier replies is built.
    var pushScratch = ByteBuffer(capacity: 256)

    /// Admission rules the server's state can trip now (Admission.swift).
    var armedAdmission: UInt8 = 0
    var nowMs: Int64 = 0
    private var nextTickMs: Int64 = 0
    private var expiryBacklog = false
    var sleepUntilMs: Int64 = 0
    /// While commands just read are dispatched: the kernel's receive time of the bytes
    /// (unix ns; 0 otherwise or unknown), the turn of a blocking request among them.
    var readTimestamp: UInt64 = 0
    /// Connections read this pass, to run in receive order (multi-worker only).
    var readClients: [(receivedAt: UInt64, client: Client)] = []
    /// Hung-up clients to run on, or to close, this pass (HangUps.swift).
    var hungUpToRun: [Client] = []

    static let listenerToken: UInt64 = 1 << 40
    static let wakerToken: UInt64 = 1 << 41
    static let signalToken: UInt64 = 1 << 42
    var listenFDs: [Int32] = []
    private var signalFD: Int32 = -1

    init(index: Int, context: ServerContext) {
        self.index = index
        self.context = context
        shard = index < context.shardCount ? Shard(index: index, databases: context.databases) : nil
        ownShardRef = shard.map { Unmanaged.passUnretained($0) }
        waker = context.wakers[index]
        stats = context.stats[index]
        outbox = Outbox(owner: index, workers: context.workerCount)
        publishes = PublishOutbox(workers: context.workerCount)
        loop.add(waker.fd, events: EventLoop.readable, token: Worker.wakerToken)
        context.readProgress[index].epollFD.store(loop.fd, ordering: .relaxed)
        refreshArmedAdmission()
    }

    var servesConnections: Bool { index < context.connectionWorkers }

    func attachListener(_ fd: Int32) {
        loop.add(fd, events: EventLoop.readable, token: Worker.listenerToken | UInt64(listenFDs.count))
        listenFDs.append(fd)
    }

    /// SIGTERM/SIGINT arrive as reads on a signalfd in this worker's loop.
    func attachSignals(_ fd: Int32) {
        signalFD = fd
        if fd >= 0 { loop.add(fd, events: EventLoop.readable, token: Worker.signalToken) }
    }

    private func handleSignals() {
        while case let signal = vk_signalfd_read(signalFD), signal != 0 {
            let name = signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "SIGHUP"
            if signal == SIGHUP { continue }
            Log.warning("Received \(name) scheduling shutdown...")
            var ignored = ByteBuffer(capacity: 16)
            var noCommand = CommandCall()
            shutdown(client: nil, save: nil, call: &noCommand, out: &ignored)
        }
    }

    // MARK: Loop

    func run() {
        nowMs = Clock.unixMilliseconds()
        shard?.now = nowMs
        let publishesProgress = publishesReadProgress
        while !context.shuttingDown.load(ordering: .relaxed) {
            if publishesProgress { iterationStarts() }
            let n = loop.wait(timeoutMs: sleepUnlessMessagesWait(nextTimeout()))
            waker.awake()
            operations.recycleRetired()
            refreshClock()
            refreshArmedAdmission()
            holdsWriteReplies = context.durability.holdsReplies.load(ordering: .relaxed)
            shard?.notifyFlags = KeyspaceEvent.configured.load(ordering: .relaxed)
            activatePropagationIfNeeded()
            if publishesProgress { readingStarts() }
            clientEventsThisPass = false
            for i in 0..<max(n, 0) {
                let token = loop.token(i)
                let flags = loop.flags(i)
                switch token {
                case Worker.wakerToken: waker.drain()
                case Worker.signalToken: handleSignals()
                case Worker.masterLinkToken: masterLink?.onEvent(flags: flags)
                case Worker.listenerToken..<(Worker.listenerToken + 64):
                    acceptConnections(from: listenFDs[Int(token - Worker.listenerToken)])
                default:
                    clientEventsThisPass = true
                    handleClientEvent(fd: Int32(truncatingIfNeeded: token), flags: flags)
                }
            }
            if publishesProgress {
                processReadClients()
                readingEnds()
                iterationDone()
            }
            // What the clients' commands have for other shards goes now, not after the
            // drain: their owners run it while this worker drains (perf/txbench, pair per
            // connection, eight alternated rounds: every round faster, median +9%).
            if clientEventsThisPass && outbox.hasBatchesFilling { sendBatches() }
            drainRings()
            if masterStreamHold != .none { serviceMasterStreamHold() }
            if aofReplay != nil { advanceAOFReplay() }
            advanceSnapshot()
            runTimers()
            serveBlockedClients()
            if !hungUpToRun.isEmpty { runHungUpClients() }
            sendBatches()
            handOffReplicationRecords()
            masterLink?.advanceAppliedOffset()
            flushClients()
            // A client closed by its write failing forgets its watches in a batch: it goes
            // now, not after the next wait.
            if outbox.hasBatchesFilling { sendBatches() }
        }
    }

    /// Before a blocking wait: tells producers this worker sleeps (they signal its waker only
    /// then), and looks at its rings once more; a message pushed meanwhile means no sleep.
    private func sleepUnlessMessagesWait(_ timeout: Int32) -> Int32 {
        guard timeout != 0 else { return 0 }
        // Sent something to another worker while an operation of this one is in flight: its
        // answer is likely a few microseconds away, sooner than a parked loop wakes. Not
        // after a pass that served its clients: more of their input is coming, which wakes
        // the loop anyway, and the watch's yields only cost (perf/txbench, pair per
        // connection, six alternated rounds: median 372k tx/s so, 357k watching after
        // every such pass).
        let sent = outbox.pushed != pushedBeforeWait
        pushedBeforeWait = outbox.pushed
        if sent && !clientEventsThisPass && operations.inFlight > 0 && messagesArrive(within: Worker.spinNanoseconds) {
            return 0
        }
        waker.willSleep()
        if hasMessages { return 0 }
        return durableRepliesReady ? 0 : timeout
    }

    private var hasMessages: Bool {
        for source in 0..<context.workerCount where source != index {
            if context.ring(from: source, to: index).hasElements { return true }
        }
        return context.fromSequencer[index].hasElements
    }

    /// How long the loop watches its rings before parking after it sent to another worker.
    /// A parked worker is woken through its eventfd, ~40 µs on this 2-core VM: COPY across
    /// shards on one key pair, a chain of such hops, ran at 8k/s against 22k/s with the watch.
    static let spinNanoseconds: UInt64 = 30_000

    /// Watches the rings for up to `nanoseconds`; true once a message is there. It yields
    /// the core between looks: on a machine its clients share (the benchmarks here), a
    /// runnable client runs meanwhile, so the watch costs the load no CPU (a watch without
    /// yielding cost perf/txbench 8-13% of its transactions/s).
    private func messagesArrive(within nanoseconds: UInt64) -> Bool {
        let deadline = Clock.monotonicNanoseconds() &+ nanoseconds
        repeat {
            for _ in 0..<16 {
                if hasMessages { return true }
                vk_cpu_relax()
            }
            sched_yield()
        } while Clock.monotonicNanoseconds() < deadline
        return false
    }

    private func nextTimeout() -> Int32 {
        if expiryBacklog || outbox.hasOverflow || shard?.snapshotActive == true || aofReplay?.canAdvance == true { return 0 }
        // A numbered lock request waits for a coordinator still numbering one below it: look
        // again at once, then every millisecond (it may have lost its core meanwhile).
        if !orderedLocks.isEmpty { return orderedLocks.passesWaited > 1 ? 1 : 0 }
        // Output held back (flushClients) goes out within a millisecond or two even if
        // nothing else wakes the loop.
        if !flushList.isEmpty { return 1 }
        // Answers queued for blocked requests (a cross-shard BLMOVE's move) go out next pass.
        if !blockedClients.answers.isEmpty { return 0 }
        // Ready keys wait for another worker's reads: it wakes this one when it has read, or
        // this one looks again in a millisecond.
        if blockedClients.readsAwaited != nil { return 1 }
        var wait = nextTickMs - Clock.monotonicMilliseconds()
        if let deadline = nextBlockedDeadline() { wait = min(wait, deadline - Clock.unixMilliseconds()) }
        return Int32(clamping: max(wait, 0))
    }

    func refreshClock() {
        nowMs = Clock.unixMilliseconds()
        shard?.now = nowMs
    }

    private func runTimers() {
        let mono = Clock.monotonicMilliseconds()
        let due = mono >= nextTickMs
        if due {
            nextTickMs = mono + Int64(1000 / max(1, LiveConfig.hz.load(ordering: .relaxed)))
            publishStats()
            if index == 0 {
                checkSaveRules()
                startReplicationSnapshotIfPossible()
                masterLink?.cron()
            }
            closeIdleClients()
            closeClientsOverOutputLimits()
            operations.trimSpare()
        }
        // A replica's keys expire only by its master's DELs.
        if let shard, due || expiryBacklog, !context.replication.isReplica.load(ordering: .relaxed) {
            // Bounded work per pass; with a backlog the loop comes back without sleeping.
            expiryBacklog = shard.activeExpire(budget: 2000)
        }
    }

    func publishStats() {
        stats.clients.store(clients.count, ordering: .relaxed)
        guard let shard else { return }
        for db in 0..<context.databases {
            stats.keys[db].store(shard.keyCount(db: db), ordering: .relaxed)
            stats.expires[db].store(shard.expiringCount(db: db), ordering: .relaxed)
        }
        stats.expiredKeys.store(shard.expiredKeys, ordering: .relaxed)
        stats.keyspaceHits.store(shard.keyspaceHits, ordering: .relaxed)
        stats.keyspaceMisses.store(shard.keyspaceMisses, ordering: .relaxed)
        stats.tableOverhead.store(shard.tableOverheadBytes, ordering: .relaxed)
        stats.changes.store(shard.changes, ordering: .relaxed)
    }

    // MARK: Connections

    func acceptConnections(from listenFD: Int32) {
        while let (fd, peer) = Socket.accept(listenFD) {
            let limit = LiveConfig.maxClients.load(ordering: .relaxed)
            if context.connectedClients.load(ordering: .relaxed) >= limit {
                refuse(fd, "-ERR max number of clients reached\r\n")
                continue
            }
            if ProtectedMode.refuses(peer: peer) {
                refuse(fd, ProtectedMode.denial)
                continue
            }
            context.connectedClients.add(1, ordering: .relaxed)
            context.totalConnections.add(1, ordering: .relaxed)
            let target = nextConnectionTarget
            nextConnectionTarget = (nextConnectionTarget + 1) % context.connectionWorkers
            if target == index {
                register(fd: fd, peer: peer)
            } else {
                if publishesReadProgress { connectionHandedOver(to: target) }
                send(.connection(fd: fd, peer: peer), to: target)
            }
        }
    }

    /// Answers a connection that is not admitted and closes it; counted before the close, so
    /// a client that sees the close also sees the count in INFO.
    private func refuse(_ fd: Int32, _ text: StaticString) {
        context.rejectedConnections.add(1, ordering: .relaxed)
        _ = Glibc.write(fd, text.utf8Start, text.utf8CodeUnitCount)
        Socket.close(fd)
    }

    func register(fd: Int32, peer: String) {
        let id = context.nextClientID.add(1, ordering: .relaxed).oldValue
        let client = Client(fd: fd, id: id, peer: peer, local: Socket.localAddress(fd), now: nowMs,
                            maxBulk: LiveConfig.protoMaxBulkLen.load(ordering: .relaxed))
        clients.add(client)
        if publishesReadProgress { Socket.enableReceiveTimestamps(fd) }
        loop.add(fd, events: EventLoop.readable, token: UInt64(fd))
    }

    func closeClient(_ c: Client) {
        guard !c.isClosed else { return }
        c.isClosed = true
        loop.remove(c.fd)
        Socket.close(c.fd)
        clients.remove(c)
        context.connectedClients.subtract(1, ordering: .relaxed)
        for hook in Worker.disconnectHooks { hook(self, c) }
    }

    /// What each subsystem does when a client closes, in this order. A subsystem that keeps
    /// state per client (pub/sub subscriptions, client tracking next) adds its line here.
    static let disconnectHooks: [@Sendable (Worker, Client) -> Void] = [
        { _, c in c.transaction = nil },           // queued MULTI commands die with the client
        { w, c in w.unwatchAll(c) },                // its WATCHes are forgotten on every shard
        { w, c in w.cancelBlockedRequest(of: c) },  // a blocked read stops waiting
        { w, c in if c.inWait { w.context.postToSequencer(.cancelWait(clientID: c.id)) } },  // and a WAIT
        { w, c in w.unsubscribeAll(c) },            // its pub/sub subscriptions end
        { w, c in w.keepWhileRepliesOwed(c) },      // what it sent before closing still runs
    ]

    /// One ready connection: written if writable, read if readable. With one connection
    /// worker what it read runs at once; with several it is queued in `readClients` and the
    /// loop runs them in the order the kernel received them (`processReadClients`).
    private func handleClientEvent(fd: Int32, flags: UInt32) {
        guard let c = clients[fd: Int(fd)] else { return }
        if flags & EventLoop.writable != 0 { writeOut(c) }
        if c.isClosed { return }
        if flags & (EventLoop.readable | EventLoop.hangup) != 0 {
            // Nothing more to read from a peer that ended its input (HangUps.swift); it may
            // be gone since, which EPOLLHUP/EPOLLERR say whatever the interest.
            if c.hangUp != .none {
                if flags & EventLoop.hangup != 0 { peerGone(c) }
                return
            }
            // Stop reading from a client that is being closed or whose replies are piling
            // up; one whose peer is gone meanwhile leaves the loop (level-triggered, its
            // EPOLLHUP would come on every pass).
            if c.closeAfterReply || c.closeASAP {
                if flags & EventLoop.hangup != 0 { peerHungUp(c, gone: true) }
                return
            }
            if publishesReadProgress { return readForLater(c) }
            switch Socket.read(c.fd, into: &c.input) {
            case .bytes(let n):
                guard tookInput(c, bytes: n) else { return }
                process(c)
                c.input.shrinkIfEmpty(to: 16 * 1024)
            case .wouldBlock:
                break
            case .closed:
                peerHungUp(c, gone: false)
            case .failed:
                peerHungUp(c, gone: true)
            }
        }
    }

    /// `n` bytes read from `c` (both read paths): counted; false if that closed it, its
    /// input not run yet (a client that pipelines faster than it reads, or waits paused or
    /// blocked) over `client-query-buffer-limit`, as Redis's readQueryFromClient closes it,
    /// with the same log line. The master link's stream is not limited.
    private func tookInput(_ c: Client, bytes n: Int) -> Bool {
        stats.inputBytes.add(n, ordering: .relaxed)
        c.lastInteraction = nowMs
        guard c.input.count > LiveConfig.queryBufferLimit.load(ordering: .relaxed) && !c.isMaster else { return true }
        let head = c.input.readable.prefix(64)
        Log.warning("Closing client that reached max query buffer length: \(ClientCommands.infoLine(c, now: nowMs, argvMemory: 0)) "
                    + "(qbuf initial bytes: \(Repr.quoted(head)))")
        closeClient(c)
        return false
    }

    /// Reads `c` and queues it to run with the pass's other reads, stamped with the kernel's
    /// receive time of the bytes.
    private func readForLater(_ c: Client) {
        var receivedAt: UInt64 = 0
        switch Socket.read(c.fd, into: &c.input, receivedAt: &receivedAt) {
        case .bytes(let n):
            guard tookInput(c, bytes: n) else { return }
            if !c.readNotRun {
                c.readNotRun = true
                readClients.append((receivedAt != 0 ? receivedAt : Clock.unixNanoseconds(), c))
            }
        case .wouldBlock:
            break
        case .closed:
            peerHungUp(c, gone: false)
        case .failed:
            peerHungUp(c, gone: true)
        }
    }

    /// Runs the commands read this pass, oldest bytes first: Redis's one epoll loop runs them
    /// roughly in arrival order, but a level-triggered epoll set can list a socket that was
    /// ready at the last wait ahead of one that became ready since, so a client's LPUSH
    /// could run before another's BLPOP sent first (ReadProgress.swift).
    private func processReadClients() {
        if readClients.count > 1 { readClients.sort { $0.receivedAt < $1.receivedAt } }
        for (receivedAt, c) in readClients where !c.isClosed {
            c.readNotRun = false
            readTimestamp = receivedAt
            process(c)
            c.input.shrinkIfEmpty(to: 16 * 1024)
        }
        readTimestamp = 0
        readClients.clearKeepingCapacity()
    }

    /// Reads and runs a connection handed over by worker 0, which may have sent before
    /// epoll reports it.
    func readIfReadable(fd: Int32) {
        handleClientEvent(fd: fd, flags: EventLoop.readable)
        processReadClients()
    }

    /// Every reply added to a client's output comes through here: the client is written at the
    /// end of the loop iteration, and once its output outgrows the 16 KB Redis keeps in a
    /// client's static buffer, its output buffer limit is checked (one compare otherwise).
    @inline(__always) func markForFlush(_ c: Client) {
        if c.pendingOutputBytes > ReplyMemory.bufferBytes { enforceOutputLimit(c) }
        if !c.inFlushList {
            c.inFlushList = true
            flushList.append(c)
        }
    }

    private func flushClients() {
        if holdsWriteReplies || !fsyncParked.isEmpty { holdRepliesForFsync() }
        for c in flushList {
            if !c.isClosed && holdsOutputBack(c) {
                heldBack.append(c)  // stays marked: looked at again next pass
                continue
            }
            c.inFlushList = false
            c.heldBackSinceMs = -1
            if !c.isClosed { writeOut(c) }
        }
        flushList.clearKeepingCapacity()
        swap(&flushList, &heldBack)
    }

    /// A pipelining client whose outstanding replies all come back within a pass or two
    /// (commands on another worker's shard that cannot block, chained operations) gets its
    /// output in one write once they are in, not the part before them now and the rest
    /// next pass: a cross-shard pipeline cost ~1.8 sends per batch, redis-server one. Held
    /// back at most a millisecond or two (a lock may hold such a reply), and never past a
    /// 16 KB output.
    private func holdsOutputBack(_ c: Client) -> Bool {
        guard c.awaitsOnlyQuickReplies, !c.closeASAP, !c.closeAfterReply,
              !c.output.isEmpty, c.output.count < ReplyMemory.bufferBytes else { return false }
        if c.heldBackSinceMs < 0 { c.heldBackSinceMs = nowMs }
        return nowMs - c.heldBackSinceMs < 2
    }

    func writeOut(_ c: Client) {
        if c.hangUp != .none {
            if c.hangUp == .gone { dropOutput(c) }
            finishHangUpIfDone(c)
        }
        if c.closeASAP {
            closeClient(c)
            return
        }
        if !c.output.isEmpty {
            let before = c.output.count
            // appendfsync always: only what its fsync covers goes (DurableReplies.swift).
            let limit = holdsWriteReplies ? sendableBytes(c) : .max
            let result = Socket.write(c.fd, from: &c.output, limit: limit)
            if holdsWriteReplies { c.fsyncMarks.sent(before - c.output.count) }
            stats.outputBytes.add(before - c.output.count, ordering: .relaxed)
            switch result {
            case .closed, .failed:
                // Closes it unless commands or replies of it are still on their way.
                if c.hangUp == .none { peerHungUp(c, gone: true) } else { peerGone(c) }
                return
            case .wouldBlock:
                // A hung-up peer that owes nothing more and does not read: dropped with its
                // reply, as redis-server's next read would free it (HangUps.swift).
                if c.hangUp != .none && c.closeAfterReply && mayCloseOnceFlushed(c) {
                    closeClient(c)
                    return
                }
                if !c.wantsWrite {
                    c.wantsWrite = true
                    loop.modify(c.fd, events: readInterest(c) | EventLoop.writable, token: UInt64(c.fd))
                }
                return
            case .bytes:
                break
            }
        }
        if c.wantsWrite {
            c.wantsWrite = false
            loop.modify(c.fd, events: readInterest(c), token: UInt64(c.fd))
        }
        c.output.shrinkIfEmpty(to: 16 * 1024)
        if c.closeAfterReply && c.output.isEmpty {
            if mayCloseOnceFlushed(c) {
                closeClient(c)
            } else if !c.wantsWrite && c.hangUp != .gone {
                // Waiting for remote replies: stop watching input, which would otherwise
                // keep a level-triggered loop spinning on data it will never read.
                loop.modify(c.fd, events: 0, token: UInt64(c.fd))
            }
        }
    }

    /// Read interest, but for a peer that ended its input or a client being closed, which
    /// read nothing more: a level-triggered loop would report their input or end over and
    /// over.
    private func readInterest(_ c: Client) -> UInt32 {
        c.hangUp == .none && !c.closeAfterReply && !c.closeASAP ? EventLoop.readable : 0
    }

    // MARK: Rings

    func send(_ message: WorkerMessage, to target: Int) {
        outbox.send(message, to: target, context: context)
    }

    private func drainRings() {
        // Read before draining: lock requests numbered below it are in the rings (LockOrder).
        // This worker's own floor is left out (its requests for its shard are here already);
        // what it numbers later in this pass comes from a new block, above the bound.
        let lockBound = context.lockOrder.safeBound(forShardOf: index)
        lockNumbers = 0..<0
        defer {
            queueOrderedLocks(below: lockBound)
            letGoOfHeldBatches()
        }
        if let busy = busyScript, busy.hasLeftovers { resumeAfterBusyScript(busy) }
        for source in 0..<context.workerCount where source != index {
            let ring = context.ring(from: source, to: index)
            while let message = ring.pop() {
                handle(message)
                // A script the message led to turned busy and stashed what it popped from
                // the rings meanwhile: that goes first, in its order (and its lock requests
                // are below the bound read above, so they must be in before it is used).
                if let busy = busyScript, busy.hasLeftovers { resumeAfterBusyScript(busy) }
            }
        }
        let fromSequencer = context.fromSequencer[index]
        while let message = fromSequencer.pop() { handle(message) }
    }

    func handle(_ message: WorkerMessage) {
        switch message {
        case .requests(let batch): execute(batch)
        case .replies(let batch): deliver(batch)
        case .connection(let fd, let peer): registerHandedOver(fd: fd, peer: peer)
        case .control(let body): body(self)
        case .records: break  // only the sequencer receives these
        case .granted(let lock, let shard, let dirty): lockGranted(lock, shard: shard, watchDirty: dirty)
        case .publish(let batch): deliverPublishBatch(batch)
        case .publishCounts(let batch): receivePublishCounts(batch)
        }
    }

    /// Sends to the sequencer thread (replication records).
    func sendToSequencer(_ message: WorkerMessage) {
        while true {
            switch context.toSequencer[index].push(message) {
            case .pushed(let wake):
                if wake { context.sequencerWaker.wakeIfAsleep() }
                return
            case .full:
                // The sequencer only forwards; a full ring drains in microseconds.
                context.sequencerWaker.wake()
                sched_yield()
            }
        }
    }

    /// The batch of requests being filled for worker `target`.
    @inline(__always) func batch(forWorker target: Int) -> Batch { outbox.batch(for: target) }

    func sendBatches() {
        letGoOfHeldBatches()
        if !clientsWithOpenLocks.isEmpty {
            for c in clientsWithOpenLocks { c.openLock = nil }
            clientsWithOpenLocks.clearKeepingCapacity()
        }
        flushKeyspaceNotifications()
        sendPublishBatches()
        let toWake = outbox.flush(context: context)
        // The batches carry this pass's numbered lock requests: with them in their rings the
        // floor goes, and only then are their owners woken (a woken owner would otherwise
        // find their numbers above its bound and wait for them).
        if lockFloorHeld && !outbox.hasOverflow {
            lockFloorHeld = false
            context.lockOrder.cleared(worker: index)
        }
        outbox.wake(toWake, context: context)
    }

    /// Runs a batch from another worker on this worker's shard and sends the replies back.
    /// A request blocked by a lock waits on the shard; its reply travels in a later batch.
    func execute(_ batch: Batch) {
        guard let shard else { return }
        if batch.hasLockMessages { takeLockMessages(batch) }
        batch.replies.clear()
        batch.replyEnds.clearKeepingCapacity()
        let scriptCall = batch.syncReply != nil
        batch.spans.withUnsafeBufferPointer { spans in
            let base = UnsafeRawPointer(batch.argumentBytes.base)
            for i in batch.requests.indices {
                let r = batch.requests[i]
                let args = Arguments(base: base, spans: spans.baseAddress! + Int(r.firstSpan), count: Int(r.argumentCount))
                if r.transaction == 0 && commandsMayWait(shard)
                    && mustWait(shard, command: r.command, db: Int(r.db), args: args, origin: batch.origin, client: r.sink.id) {
                    wait(command: r.command, db: Int(r.db), resp: r.resp, args: args, sink: r.sink, origin: batch.origin,
                         tag: r.tag)
                    batch.requests[i].sink.kind = .dropped
                    batch.replyEnds.append(batch.replies.count)
                    continue
                }
                if let handler = table.shardHandlerIfKeyed(r.command) {
                    // A script's remote call (syncReply) never blocks: no sink to wait on.
                    let ctx = ShardContext(shard: shard, db: Int(r.db), resp: r.resp, clientID: r.sink.id,
                                           sink: scriptCall ? nil : r.sink, origin: batch.origin,
                                           worker: self, transaction: r.transaction, tag: r.tag)
                    if scriptCall && r.tag == ScriptRun.unrecordedTag {
                        handler(ctx, args, &batch.replies)  // redis.set_repl without REPL_REPLICA
                    } else {
                        CommandTable.run(r.command, handler, ctx, args, &batch.replies, tag: r.tag)
                    }
                }
                batch.replyEnds.append(batch.replies.count)
                serveReadyKeysAfterCommand()
            }
        }
        // Notifications these commands made leave before their replies: on the ring to the
        // origin they come first, so a subscriber there has them before the writer's reply.
        if !shard.notifications.isEmpty {
            flushKeyspaceNotifications()
            sendPublishBatches()
        }
        if let slot = batch.syncReply {
            // A script's call from another worker, which waits for it (ScriptRun.callRemote).
            slot.set()
            return
        }
        if batch.hasLockParts {
            // Its eager parts may still be granted in this drain: it goes back at its end.
            eagerParts.hold(batch)
            outbox.offerForLateReplies(batch)
            return
        }
        send(.replies(batch), to: batch.origin)
    }

    /// Hands replies that came back from another worker's shard to their clients or
    /// operations, and grants that shard made after running eager parts (after their replies).
    private func deliver(_ batch: Batch) {
        for i in batch.requests.indices {
            let sink = batch.requests[i].sink
            if sink.kind == .granted {
                lockGranted(slot: Int(sink.index), transaction: sink.id, watchDirty: false)
            } else {
                deliverReply(sink, command: batch.requests[i].command, batch.reply(i))
            }
        }
        outbox.recycle(batch)
    }

    /// Hands one shard reply to the client ticket or operation part it belongs to.
    func deliverReply(_ sink: ReplySink, command: UInt16, _ bytes: UnsafeRawBufferPointer) {
        switch sink.kind {
        case .client:
            if let c = clients.client(fd: sink.index, id: sink.id) {
                // A script run abandoned on its shard runs again across shards in its place
                // (for a client closed since too: Redis runs what it has read).
                if command == rerunnableScript, ScriptCommands.rerunIfAbandoned(self, c, ticket: sink.ticket, bytes) {
                    return
                }
                deliverDeferredReply(to: c, ticket: sink.ticket, bytes, command: Int(command))
            }
        case .operation:
            guard let op = operations.operation(slot: Int(sink.index), generation: sink.generation) else { return }
            op.record(part: Int(sink.ticket), reply: bytes)
            // Recording may re-enter (a blocked XREAD served here cancels its other waits,
            // whose replies are delivered inline) and finish the operation inside: its slot
            // may be free or reused by now.
            guard operations[Int(sink.index)] === op else { return }
            // Parts sent with a lock request may answer before every shard has granted.
            if op.remaining == 0 && op.grantsPending == 0 { continueOperation(slot: Int(sink.index), op) }
        case .dropped, .granted:
            return
        }
    }
}
