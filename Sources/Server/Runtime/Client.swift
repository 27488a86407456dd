import RESP

/// A client connection and its protocol state. Owned by one worker thread.
///
/// Replies leave in request order even when some commands run on other shards: a
/// command whose reply is not ready takes a ticket; replies that are ready while an
/// earlier ticket is outstanding wait in `deferred` until the earlier ones arrive.
final class Client {
    let fd: Int32
    let id: UInt64
    let peer: String
    let local: String
    /// Connected from 127.0.0.1 or ::1 (Redis's islocalClient): exempt from protected mode,
    /// allowed DEBUG with enable-debug-command local.
    let isLocal: Bool
    let createdAt: Int64  // unix ms

    var input = ByteBuffer(capacity: 16 * 1024)
    var output = ByteBuffer(capacity: 16 * 1024)
    var parser: RequestParser

    var db = 0
    var resp = RESPVersion.resp2
    var name: String?
    /// REPLCONF listening-port and capa, for a connection about to become a replica.
    var replicaListeningPort = 0
    var replicaCapabilities: Set<String> = []
    var libraryName: String?
    var libraryVersion: String?
    var lastInteraction: Int64
    /// Table index of the last command run (CLIENT LIST's cmd=); nil before the first.
    var lastCommandIndex: UInt16?
    var lastCommand: String {
        lastCommandIndex.map { CommandTable.shared.specs[Int($0)].name } ?? "NULL"
    }
    var closeAfterReply = false
    /// Its pub/sub subscriptions (nil: none), and Redis's CLIENT_PUBSUB flag: in RESP2 only
    /// the subscribe family, PING, QUIT and RESET may run (Dispatch).
    var subscriptions: ClientSubscriptions?
    var inPubSubMode = false
    /// A PUBLISH waiting for this client's earlier commands to complete (PublishDelivery),
    /// and how many of its PUBLISHes wait for other workers' receiver counts.
    var publishAwaitingTurn: AwaitingPublish?
    var publishesAwaitingCounts = 0
    /// Over its output buffer limit (Redis's CLIENT_CLOSE_ASAP): its output is dropped, it
    /// reads and runs nothing more, and the loop closes it when it flushes clients.
    var closeASAP = false
    /// The client-output-buffer-limit class it is held to (.pubsub while subscribed).
    var outputClass = OutputBufferClass.normal
    /// Unix second its output was first seen over the soft limit (0: not over).
    var softLimitSince: Int64 = 0
    /// A multi-step cross-shard operation of this client is in flight: its next commands
    /// wait in `input` so that they see the operation's effects.
    var pausedByOperation = false
    /// Read this loop pass, its commands not run yet (Worker.processReadClients).
    var readNotRun = false
    /// The peer ended the connection while something of it was still to run or answer
    /// (Runtime/HangUps.swift): it closes once that is done.
    var hangUp = HangUp.none
    enum HangUp: UInt8 {
        case none
        /// Its input ended (a read returned 0): nothing more is read; replies still go.
        case inputEnded
        /// Gone (reset, or a read or write failed): replies are dropped too.
        case gone
    }
    /// Blocked in WAIT: the sequencer answers it (cancelled if the client closes first).
    var inWait = false
    /// Its WAIT could not be answered at once: Redis would have blocked it (HangUps.swift).
    var waitBlocks = false
    var isClosed = false
    var wantsWrite = false       // EPOLLOUT registered
    var inFlushList = false
    var commandsProcessed = 0
    /// Commands queued by MULTI, until EXEC or DISCARD.
    var transaction: TransactionQueue?
    /// The queue of the client's last transaction, emptied with its capacity kept: a client
    /// that runs MULTI ... EXEC over and over allocates its queue once.
    var spareTransaction: TransactionQueue?
    /// A multi-shard operation of this client that asks for its locks once every earlier
    /// reply is in (its slot in the worker's operation table).
    var operationAwaitingTurn: Int?
    /// Chained operations in flight (MultiShardOperation: chains).
    var chainedInFlight = 0
    /// Those of them in steps (COPY, RENAME across shards), and whether the client's next
    /// command waits in `input` for them (it is not another such move: Worker.waitsForSteps).
    var chainedStepsInFlight = 0
    var pausedForSteps = false
    /// Its latest chained lock request's id per shard (TransactionLock.follow).
    var latestChainedLocks: [UInt64] = []
    /// The lock request its latest chained operation made in this loop pass (cleared when
    /// the pass's batches go), which its next ones may join (Locking.swift, lock groups), and
    /// how many operations opened or joined one so far (a command that did neither closes
    /// the group).
    var openLock: TransactionLock?
    var lockJoins = 0
    /// When the worker first held this client's output back for them (-1: not held).
    var heldBackSinceMs: Int64 = -1
    /// Shards holding this client's WATCHed keys.
    var watchedShards: Set<Int> = []
    var authenticated = !LiveConfig.passwordRequired.load(ordering: .relaxed)
    var noEvict = false          // CLIENT NO-EVICT (flag 'e')
    /// The replica's link to its master (flag 'M'): its commands are never refused nor answered.
    var isMaster = false
    /// Replays the AOF at start-up: no admission check refuses it (Redis's AOF client).
    var loadsAOF = false
    /// appendfsync always (Worker's DurableReplies.swift): it ran a command that may write
    /// since its output was last marked; the marks holding its output; in the worker's list.
    var wroteSinceFsyncMark = false
    var fsyncMarks = FsyncMarks()
    var inFsyncParked = false

    // CLIENT REPLY: `muted` holds for the command being run; replies written or
    // ticketed meanwhile are dropped.
    var repliesOff = false
    var skipNextReply = false
    var muted = false

    /// Decides, as a command starts, whether its reply is dropped (REPLY OFF, or SKIP
    /// given by the previous command).
    @inline(__always) func beginCommandReplies() {
        muted = repliesOff || skipNextReply
        skipNextReply = false
    }

    // Ordered reply tickets.
    private struct Slot { var ready: Bool; var muted = false; var quick = false; var range: Range<Int> }
    private var slots: [Slot] = []
    private var firstTicket: UInt32 = 0   // ticket of slots[head]
    private var head = 0
    private var deferred = ByteBuffer(capacity: 64)
    /// Bytes at the front of `deferred` already moved to `output` (freed when it empties).
    private var deferredMoved = 0

    init(fd: Int32, id: UInt64, peer: String, local: String, now: Int64, maxBulk: Int) {
        self.fd = fd
        self.id = id
        self.peer = peer
        self.local = local
        isLocal = PeerAddress.isLocal(peer)
        createdAt = now
        lastInteraction = now
        parser = RequestParser(maxBulkLength: maxBulk)
    }

    /// Replies waiting to be written: the output, and those queued behind outstanding ones.
    var pendingOutputBytes: Int { output.count + deferred.count - deferredMoved }

    /// True while some earlier reply is still outstanding: new replies must queue.
    var hasOutstandingReplies: Bool { head < slots.count }
    /// Tickets taken and not yet filled, and how many of them are quick (`takeTicket`).
    private(set) var unfilledTickets = 0
    private(set) var unfilledQuickTickets = 0

    /// Every reply still expected comes back soon: a command on another worker's shard
    /// that cannot block, or a chained operation (Worker.holdsOutputBack).
    var awaitsOnlyQuickReplies: Bool {
        unfilledTickets > 0 && unfilledTickets == unfilledQuickTickets + chainedInFlight
    }

    /// True when `ticket` is the oldest reply still expected.
    func isNextReply(_ ticket: UInt32) -> Bool { head < slots.count && firstTicket == ticket }

    /// The ticket `takeTicket` hands out next.
    var nextTicket: UInt32 { firstTicket &+ UInt32(slots.count - head) }

    /// True once every reply before `ticket` has been delivered (a replica's applied offset).
    func repliesDelivered(before ticket: UInt32) -> Bool {
        !hasOutstandingReplies || Int32(bitPattern: firstTicket &- ticket) >= 0
    }

    /// Reserves the next reply position for a reply that will arrive later; `quick`: a
    /// command sent to another worker's shard that cannot block there (its reply comes
    /// back within a pass or two unless a lock holds it).
    func takeTicket(quick: Bool = false) -> UInt32 {
        unfilledTickets += 1
        if quick { unfilledQuickTickets += 1 }
        slots.append(Slot(ready: false, muted: muted, quick: quick, range: 0..<0))
        return firstTicket &+ UInt32(slots.count - head - 1)
    }

    /// Queues a reply that is ready now but must follow outstanding ones.
    func queueReadyReply(_ bytes: UnsafeRawBufferPointer) {
        let start = deferred.count
        deferred.append(bytes)
        slots.append(Slot(ready: true, range: start..<deferred.count))
    }

    /// Delivers the reply for `ticket` and moves every reply now in order to `output`.
    func fill(ticket: UInt32, with bytes: UnsafeRawBufferPointer) {
        let index = head + Int(ticket &- firstTicket)
        guard index >= head && index < slots.count else { return }
        if !slots[index].ready {
            unfilledTickets -= 1
            if slots[index].quick { unfilledQuickTickets -= 1 }
        }
        if index == head {
            if !slots[index].muted { output.append(bytes) }
            advance()
        } else {
            let start = deferred.count
            if !slots[index].muted { deferred.append(bytes) }
            slots[index] = Slot(ready: true, range: start..<deferred.count)
            return
        }
        while head < slots.count && slots[head].ready {
            let r = slots[head].range
            output.append(UnsafeRawBufferPointer(start: deferred.base + r.lowerBound, count: r.count))
            deferredMoved += r.count
            advance()
        }
        if head == slots.count {
            slots.removeAll(keepingCapacity: true)
            head = 0
            deferred.clear()
            deferredMoved = 0
        }
    }

    private func advance() {
        head += 1
        firstTicket &+= 1
    }
}
