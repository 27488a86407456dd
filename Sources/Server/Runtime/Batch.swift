import CShim
import RESP

/// Where a reply computed on some shard goes back to, on the worker that asked.
struct ReplySink {
    enum Kind: UInt8 {
        case client, operation
        /// The request waits on its shard behind a lock; its reply will come in a later batch.
        case dropped
        /// Not a reply: the target's shard granted the lock of the coordinator's operation in
        /// slot `index` (whose transaction is `id`) after running its eager parts, whose
        /// replies come before it (Batch.addGrant).
        case granted
    }
    var kind: Kind
    /// operation: the operation's generation (in the padding after `kind`). A part's reply
    /// that comes after its operation ended (a blocked read's other waits, cancelled) must
    /// not reach the operation that took the slot since.
    var generation: UInt16 = 0
    /// client: the connection's fd; operation: the operation's slot in the worker's table.
    var index: Int32
    /// The client's id (for a client sink it also guards against fd reuse).
    var id: UInt64
    /// client: the reply ticket; operation: the part number.
    var ticket: UInt32
}

/// One command sent to another worker's shard.
struct ShardRequest {
    var command: UInt16      // index in the command table
    var db: UInt8
    var resp: RESPVersion
    var firstSpan: Int32
    var argumentCount: Int32
    var sink: ReplySink
    /// The multi-shard operation holding this request's locks (0: none, so it is admitted
    /// only if no lock held on its shard blocks it).
    var transaction: UInt64 = 0
    /// Replication group of the operation this request is a part of (0: none).
    var tag: UInt64 = 0
}

/// Commands from one worker to one other worker's shard, and then their replies.
///
/// Ownership moves with the batch: the origin fills it, pushes it on the ring to the
/// target, which executes it, fills `replies` and pushes it back; the origin delivers
/// the replies and reuses the batch. One thread touches it at a time, so no lock.
final class Batch: @unchecked Sendable {  // owned by whichever worker last popped it from a ring
    let origin: Int
    let target: Int
    var argumentBytes: ByteBuffer
    var spans: [ArgSpan] = []
    var requests: [ShardRequest] = []
    var replies: ByteBuffer
    var replyEnds: [Int] = []
    /// Lock requests and releases for the target's shard made in the pass that filled the
    /// batch (Locking.swift), handled before its requests: a request comes before the
    /// commands its client sent after it, and each used to be a ring message of its own.
    private(set) var lockRequests: [LockMessage] = []
    private(set) var lockReleases: [LockRelease] = []
    /// The two lists are not empty. Read from the batch object, whose line the target reads
    /// anyway, not from the lists' buffers, which the other worker wrote last: two cache
    /// misses for every batch that carried none (every cross-shard part's eager batch).
    private(set) var hasLockMessages = false
    /// Eager parts of the lock requests in `lockRequests` (their `LockMessage.parts`), run by
    /// the target when its shard grants each request: in the pass's batch, with their
    /// arguments among the requests' (one buffer crossing cores per pass, not a batch object
    /// and its buffers per transaction). The target keeps the batch until the end of its
    /// drain and copies what is not granted by then (EagerParts.swift).
    private(set) var lockParts: [LockPart] = []
    private(set) var hasLockParts = false
    /// Set for a script's call to another shard (ScriptRun.callRemote): its sender waits on
    /// this flag instead of a reply message, and takes the batch back once it is set.
    var syncReply: SyncReplySlot?

    init(origin: Int, target: Int, bytes: Int = 4096, requests count: Int = 32) {
        self.origin = origin
        self.target = target
        argumentBytes = ByteBuffer(capacity: bytes)
        replies = ByteBuffer(capacity: bytes)
        spans.reserveCapacity(count * 2)
        requests.reserveCapacity(count)
        replyEnds.reserveCapacity(count)
    }

    var isEmpty: Bool { requests.isEmpty && !hasLockMessages }

    func addLockRequest(_ m: LockMessage) {
        lockRequests.append(m)
        hasLockMessages = true
    }

    /// A lock request whose eager parts for this batch's target were just added (the last
    /// lock parts naming its transaction).
    func addLockRequest(_ lock: TransactionLock, shard: Int, order: UInt64) {
        var start = lockParts.count
        if hasLockParts {
            while start > 0 && lockParts[start - 1].request.transaction == lock.id { start -= 1 }
        }
        addLockRequest(LockMessage(lock: lock, shard: shard, order: order,
                                   parts: Int32(start)..<Int32(lockParts.count)))
    }

    /// An eager part: runs on the target when its shard `shard` grants the request of
    /// transaction `transaction`.
    func addLockPart(command: UInt16, db: Int, resp: RESPVersion, arguments: Arguments, sink: ReplySink,
                     transaction: UInt64, tag: UInt64, shard: Int) {
        let first = appendArguments(arguments)
        lockParts.append(LockPart(request: ShardRequest(command: command, db: UInt8(db), resp: resp,
                                                        firstSpan: Int32(first), argumentCount: Int32(arguments.count),
                                                        sink: sink, transaction: transaction, tag: tag),
                                  shard: Int32(shard)))
        hasLockParts = true
    }

    /// Whether the last lock parts added are those of transaction `id` (a lock group's next
    /// operation may add its parts after them: Locking.swift).
    func lockPartsEnd(with id: UInt64) -> Bool { hasLockParts && lockParts[lockParts.count - 1].request.transaction == id }

    /// The lock requests of `lock` in this batch cover the lock parts added since (they
    /// followed its own parts: `lockPartsEnd(with:)`).
    func extendLockParts(of lock: TransactionLock) {
        let end = Int32(lockParts.count)
        for i in lockRequests.indices.reversed() where lockRequests[i].lock === lock {
            lockRequests[i].parts = lockRequests[i].parts.lowerBound..<end
        }
    }

    /// The arguments of lock part `i`.
    @inline(__always)
    func withArguments<R>(ofLockPart i: Int, _ body: (Arguments) -> R) -> R {
        let r = lockParts[i].request
        return spans.withUnsafeBufferPointer { spans in
            body(Arguments(base: UnsafeRawPointer(argumentBytes.base), spans: spans.baseAddress! + Int(r.firstSpan),
                           count: Int(r.argumentCount)))
        }
    }

    /// In a late-reply batch, after the replies of the eager parts it ran: this worker's
    /// `shard` granted the lock of transaction `id`, whose operation is in `slot` on the
    /// worker the batch goes back to.
    func addGrant(slot: Int, id: UInt64, shard: Int) {
        requests.append(ShardRequest(command: 0, db: 0, resp: .resp2, firstSpan: Int32(spans.count), argumentCount: 0,
                                     sink: ReplySink(kind: .granted, index: Int32(slot), id: id, ticket: UInt32(shard))))
        replyEnds.append(replies.count)
    }

    func addLockRelease(_ r: LockRelease) {
        lockReleases.append(r)
        hasLockMessages = true
    }

    /// Empties both lists once their messages were handled (their arrays kept).
    func clearLockMessages() {
        guard hasLockMessages else { return }
        lockRequests.clearKeepingCapacity()
        lockReleases.clearKeepingCapacity()
        hasLockMessages = false
    }

    /// Copies `arguments` in; returns the span of the first.
    @inline(__always)
    private func appendArguments(_ arguments: Arguments) -> Int {
        let first = spans.count
        for i in 0..<arguments.count {
            let a = arguments[i]
            spans.append(ArgSpan(offset: argumentBytes.count, count: a.count))
            argumentBytes.append(a)
        }
        return first
    }

    func add(command: UInt16, db: Int, resp: RESPVersion, arguments: Arguments, sink: ReplySink,
             transaction: UInt64 = 0, tag: UInt64 = 0) {
        let first = appendArguments(arguments)
        requests.append(ShardRequest(command: command, db: UInt8(db), resp: resp, firstSpan: Int32(first),
                                     argumentCount: Int32(arguments.count), sink: sink, transaction: transaction, tag: tag))
    }

    /// Adds a whole transaction as one request (TransactionOnOwner): argument 0 empty, 1 a
    /// header of (command index u16, argument count u32) per queued command, little-endian,
    /// then the queued commands' arguments.
    func add(command: UInt16, db: Int, resp: RESPVersion, transaction tx: TransactionQueue, headerBytesPerCommand: Int,
             sink: ReplySink) {
        let first = spans.count
        spans.append(ArgSpan(offset: argumentBytes.count, count: 0))
        let headerStart = argumentBytes.count
        for queued in tx.commands {
            let index = queued.index
            argumentBytes.append(UInt8(truncatingIfNeeded: index))
            argumentBytes.append(UInt8(truncatingIfNeeded: index >> 8))
            for b in 0..<4 { argumentBytes.append(UInt8(truncatingIfNeeded: queued.count >> (8 * b))) }
        }
        spans.append(ArgSpan(offset: headerStart, count: tx.commands.count * headerBytesPerCommand))
        let base = argumentBytes.count
        argumentBytes.append(tx.storage.readable)
        for span in tx.spans { spans.append(ArgSpan(offset: base + span.offset, count: span.count)) }
        requests.append(ShardRequest(command: command, db: UInt8(db), resp: resp, firstSpan: Int32(first),
                                     argumentCount: Int32(2 + tx.spans.count), sink: sink))
    }

    /// Adds a reply computed outside a request batch (a command that waited for a lock).
    func addReply(command: UInt16, sink: ReplySink, reply: UnsafeRawBufferPointer) {
        requests.append(ShardRequest(command: command, db: 0, resp: .resp2, firstSpan: Int32(spans.count),
                                     argumentCount: 0, sink: sink))
        replies.append(reply)
        replyEnds.append(replies.count)
    }

    func reset() {
        clearLockMessages()
        if hasLockParts {
            lockParts.clearKeepingCapacity()
            hasLockParts = false
        }
        argumentBytes.clear()
        argumentBytes.shrinkIfEmpty(to: 4096)
        spans.clearKeepingCapacity()
        requests.clearKeepingCapacity()
        replies.clear()
        replies.shrinkIfEmpty(to: 4096)
        replyEnds.clearKeepingCapacity()
    }

    func reply(_ i: Int) -> UnsafeRawBufferPointer {
        let start = i == 0 ? 0 : replyEnds[i - 1]
        return UnsafeRawBufferPointer(start: replies.base + start, count: replyEnds[i] - start)
    }
}

/// A lock request for a shard of the batch's target, numbered in the global order (0 for
/// one confined to its shard). The lock is not counted: its operation holds it until every
/// shard has granted it.
struct LockMessage {
    unowned(unsafe) let lock: TransactionLock
    let shard: Int
    let order: UInt64
    /// Its eager parts in the batch's `lockParts` (those of every shard of the target the
    /// lock names: each grant runs its own shard's).
    var parts: Range<Int32> = 0..<0
}

/// An operation's part travelling with its lock request (Batch.lockParts).
struct LockPart {
    var request: ShardRequest
    var shard: Int32
}

/// A release: by id, not by lock, since the coordinator may reuse the TransactionLock for
/// another operation before the release arrives (the shards only look up a released
/// request by id; none reads a granted request's lock again).
struct LockRelease {
    let id: UInt64
    let shard: Int
}

/// What travels on a ring between two workers.
enum WorkerMessage: @unchecked Sendable {  // payloads change owner with the message
    case requests(Batch)
    case replies(Batch)
    /// A connection accepted by the listening worker, handed over round-robin.
    case connection(fd: Int32, peer: String)
    /// Run a closure on the target worker (cold control paths: CONFIG SET, SHUTDOWN).
    case control(@Sendable (Worker) -> Void)
    /// To the coordinator: the shard granted the lock (and whether a WATCH there is dirty).
    /// (Lock requests and releases travel in request batches: Batch.lockRequests.)
    case granted(TransactionLock, shard: Int, watchDirty: Bool)
    /// Messages for the target's subscribers (PublishDelivery.swift), and that batch coming
    /// back with their receiver counts when a PUBLISH waits for them.
    case publish(PublishBatch)
    case publishCounts(PublishBatch)
    /// To the sequencer: a worker's replication records (see PropagationLog).
    case records(RecordBatch)
}

/// A worker's replication records on their way to the sequencer.
final class RecordBatch: @unchecked Sendable {  // owned by the worker that fills it, then by the sequencer
    var bytes: ByteBuffer
    init(_ bytes: consuming ByteBuffer) { self.bytes = bytes }
}

/// The flag a script's remote call waits on: set by the target once the reply is in the
/// batch (vk_flag_*: spin, then a futex, so the waiting thread does not burn the core the
/// owner may need).
final class SyncReplySlot: @unchecked Sendable {
    private let flag = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    init() { vk_flag_clear(flag) }
    deinit { flag.deallocate() }
    func clear() { vk_flag_clear(flag) }
    func set() { vk_flag_set(flag) }
    func wait() { vk_flag_wait(flag) }
}
