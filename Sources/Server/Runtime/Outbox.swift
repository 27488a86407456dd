import Shards

/// What a worker sends to the other workers: the batch of requests being filled for each
/// (sent once its clients' commands ran and again at the end of the loop pass: a ring push
/// and at most one wake-up per target each time, however many commands they carry),
/// replies of commands that waited on this shard for a lock or a blocked key
/// (`lateReplies`, sent with them), the pool of batches that came back, and messages that
/// found a ring full (kept in order and retried every pass; the loop does not sleep while
/// any wait).
struct Outbox {
    /// The worker this outbox belongs to.
    let owner: Int
    private var filling: [Batch?]
    private var pool: [[Batch]]
    private var overflow: [[WorkerMessage]]
    private(set) var hasOverflow = false
    /// Replies for each origin worker of commands that waited on this worker's shard.
    var lateReplies: [Batch?]
    /// A request batch from each origin that this worker keeps until the end of its drain
    /// (its eager parts: EagerParts.swift), whose requests ran: late replies ride back in
    /// it when no late-reply batch is open for that origin yet.
    private var heldForLateReplies: [Batch?]

    /// Spare batches kept per target: every batch that comes back is pooled, and batches
    /// made elsewhere (late replies) come back too, so an unbounded pool only grows.
    static let maxSpareBatches = 256

    init(owner: Int, workers: Int) {
        self.owner = owner
        filling = Array(repeating: nil, count: workers)
        pool = Array(repeating: [], count: workers)
        overflow = Array(repeating: [], count: workers)
        lateReplies = Array(repeating: nil, count: workers)
        heldForLateReplies = Array(repeating: nil, count: workers)
    }

    /// Pushes `message` on the ring to `target`, behind any message still waiting for room.
    mutating func send(_ message: WorkerMessage, to target: Int, context: ServerContext) {
        if push(message, to: target, context: context) { context.wakers[target].wakeIfAsleep() }
    }

    /// Messages pushed onto rings so far (the loop watches its rings before parking when
    /// this moved since it last waited).
    private(set) var pushed = 0

    /// `send` without the wake-up: returns whether `target` may need one (its ring was
    /// drained). For a caller that must finish something first (a numbered lock request
    /// clears its floor before waking anyone: a woken thread that preempts it would find
    /// the request's number above its bound and wait for it).
    mutating func push(_ message: WorkerMessage, to target: Int, context: ServerContext) -> Bool {
        if !overflow[target].isEmpty {
            overflow[target].append(message)
            return false
        }
        switch context.ring(from: owner, to: target).push(message) {
        case .pushed(let drained):
            pushed &+= 1
            return drained
        case .full:
            overflow[target].append(message)
            hasOverflow = true
            return false
        }
    }

    private mutating func retryOverflow(context: ServerContext) {
        hasOverflow = false
        for target in 0..<overflow.count where !overflow[target].isEmpty {
            var sent = 0
            let ring = context.ring(from: owner, to: target)
            for message in overflow[target] {
                guard case .pushed(let wake) = ring.push(message) else { break }
                if wake { context.wakers[target].wakeIfAsleep() }
                sent += 1
            }
            overflow[target].removeFirst(sent)
            if !overflow[target].isEmpty { hasOverflow = true }
        }
    }

    /// The batch of requests being filled for worker `target`.
    @inline(__always)
    mutating func batch(for target: Int) -> Batch {
        if let b = filling[target] { return b }
        let b = spareBatch(for: target)
        filling[target] = b
        return b
    }

    /// Some batch of requests is being filled (the loop sends it before its drain).
    var hasBatchesFilling: Bool {
        for b in filling where b != nil { return true }
        return false
    }

    /// The batch being filled for `target`, if this pass made one.
    func batchBeingFilled(for target: Int) -> Batch? { filling[target] }

    /// An empty batch for `target` from the pool (a script's call to another shard takes one
    /// of its own); small when new, it grows to what a pass carries and keeps that.
    mutating func spareBatch(for target: Int) -> Batch {
        pool[target].popLast() ?? Batch(origin: owner, target: target, bytes: 256, requests: 4)
    }

    /// The batch that carries late replies to `origin` this pass: a kept request batch of
    /// its (`offerForLateReplies`), or a new one.
    mutating func lateReplyBatch(to origin: Int) -> Batch {
        if let b = lateReplies[origin] { return b }
        let b = heldForLateReplies[origin] ?? Batch(origin: origin, target: owner)
        lateReplies[origin] = b
        return b
    }

    /// `batch`, from `batch.origin`, ran its requests and goes back at the end of the drain:
    /// late replies may ride in it until then (replies a grant's eager parts make there come
    /// back without a batch of their own).
    mutating func offerForLateReplies(_ batch: Batch) {
        heldForLateReplies[batch.origin] = batch
    }

    /// `batch` goes back now: late replies after this go in another batch.
    mutating func withdrawFromLateReplies(_ batch: Batch) {
        let origin = batch.origin
        if heldForLateReplies[origin] === batch { heldForLateReplies[origin] = nil }
        if lateReplies[origin] === batch { lateReplies[origin] = nil }
    }

    /// A batch whose replies were delivered: kept for reuse.
    mutating func recycle(_ batch: Batch) {
        batch.reset()
        if pool[batch.target].count < Outbox.maxSpareBatches { pool[batch.target].append(batch) }
    }

    /// End of a loop pass: what waited for room, then late replies, then the filled batches.
    /// Returns the targets to wake (`wake`), which the caller does once it has cleared its
    /// lock-order floor (the batches may carry numbered lock requests).
    mutating func flush(context: ServerContext) -> [Int] {
        if hasOverflow { retryOverflow(context: context) }
        var toWake = wakeScratch
        wakeScratch = []
        toWake.clearKeepingCapacity()
        for target in 0..<lateReplies.count {
            if let b = lateReplies[target].take() {
                if push(.replies(b), to: target, context: context) { toWake.append(target) }
            }
        }
        for target in 0..<filling.count {
            if let b = filling[target].take() {
                if push(.requests(b), to: target, context: context), !toWake.contains(target) { toWake.append(target) }
            }
        }
        return toWake
    }

    /// Wakes the targets `flush` returned (and keeps the list for the next pass).
    mutating func wake(_ targets: [Int], context: ServerContext) {
        for target in targets { context.wakers[target].wakeIfAsleep() }
        wakeScratch = targets
    }

    private var wakeScratch: [Int] = []
}
