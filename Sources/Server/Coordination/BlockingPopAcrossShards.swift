import RESP
import Shards

/// A value a blocking pop over keys of several shards can be promised an element of
/// (`ListValue`, `SortedSet`): `promisedToWaiters` counts the woken requests whose pop has not
/// run yet (never saved or copied), so later waiters are only served from the rest.
protocol BlockingPopSource: AnyObject {
    var count: Int { get }
    var promisedToWaiters: Int { get set }
}

/// The blocking pops whose keys live on several shards (BLPOP, BRPOP, BLMPOP; BZPOPMIN,
/// BZPOPMAX, BZMPOP), one scheme for every family, without locks while waiting:
/// 1. a *waiting* part per shard looks at its keys in argument order and answers `R<key>` (an
///    element of the first non-empty one is promised to the request: `promiseFirst`), `W<key>`
///    (the first key holds another type), or waits on them all (`+BLOCKED`), or `*-1`;
/// 2. the key that comes first in argument order among the shards' answers decides, as Redis
///    looks at the keys in order: the other promises are given back, and the element is popped
///    on its shard by a *consuming* part that takes the promise (propagating and notifying as
///    the family's pop does); WRONGTYPE if the first key named holds another type;
/// 3. once waiting, the first shard to answer wins and the others' waits are cancelled. A
///    set emptied before the pop (a plain pop takes no notice of promises) makes the request
///    look and wait again. Inside MULTI (deadline -1) nothing waits.
/// A family supplies its parts' spans (`Parts`); everything else is here.
enum BlockingPopAcrossShards {
    /// The family's parts, their leading spans made with `op.store`.
    struct Parts {
        /// The family's blocking part (`__blpop`, `__bzpop`), for waiting and consuming.
        var command: UInt16
        /// Spans before the shard's keys of a waiting part.
        var wait: [Int]
        /// Spans before the key of the consuming part.
        var consume: [Int]
        /// The part giving a promise back, and its spans before and after the key.
        var releaseCommand: UInt16
        var release: [Int]
        var releaseAfter: [Int]
    }

    /// `R<key>` / `W<key>`, a waiting part's answer.
    static func tagged(_ tag: Character, _ key: UnsafeRawBufferPointer) -> [UInt8] {
        [tag.asciiValue!] + Array(key)
    }

    /// A waiting part's look at `key`: nil to go on with the next key, or true once it has
    /// answered (a promise made, or another type named). A source promised to an earlier
    /// woken request is skipped: one woken request per key at a time keeps the order.
    static func promiseFirst<V: BlockingPopSource>(_ e: Entry?, as: V.Type, key: UnsafeRawBufferPointer,
                                                   _ ctx: ShardContext, _ deadline: BlockingTurn,
                                                   _ out: inout ByteBuffer) -> Bool {
        guard let e else { return false }
        guard e.kind == .object, let v = e.object as? V else {
            out.writeBulk(tagged("W", key))
            return true
        }
        guard v.count > 0, v.promisedToWaiters == 0 else { return false }
        // Held for its waiters (blocking order rule 3/4): a request that may block queues
        // behind them instead of taking a promise of what is theirs.
        if deadline.mayBlock && ctx.shard.blocked.awaitsServing(db: ctx.db, key: key) { return false }
        v.promisedToWaiters += 1
        out.writeBulk(tagged("R", key))
        return true
    }

    /// The consuming part's first step: the promise made to the request is taken now, and the
    /// key judged again once the pop is done (what remains may serve other waiters).
    static func takePromise(_ v: some BlockingPopSource, _ ctx: ShardContext, key: UnsafeRawBufferPointer) {
        v.promisedToWaiters = max(0, v.promisedToWaiters - 1)
        ctx.shard.blocked.signal(db: ctx.db, key: key)
    }

    static func start(_ w: Worker, _ c: Client, keys keyBytes: [[UInt8]], deadline: Int64, _ call: inout CommandCall,
                      _ out: inout ByteBuffer, parts makeParts: (MultiShardOperation) -> Parts) {
        let resp = c.resp
        let clientID = c.id
        let shards = keyBytes.map { k in k.withUnsafeBytes { w.shardOf($0) } }
        var shardOrder: [Int] = []
        for s in shards where !shardOrder.contains(s) { shardOrder.append(s) }
        var parts: Parts!
        var stepStart = 0, consumeAt = 0
        var waitSpans: [[Int]] = []
        // The parts of the waiting step that have answered once: a part that blocked may
        // answer again (served, timed out) before the others' first answers are in.
        var answered = Set<Int>()
        // Adds one waiting part per shard.
        func addWaits(_ op: MultiShardOperation) {
            stepStart = op.parts.count
            answered.removeAll()
            for (i, s) in shardOrder.enumerated() { op.addPart(shard: s, command: parts.command, spanIndices: waitSpans[i]) }
        }
        let op = MultiShardOperation(client: c) { [unowned w] op, out in
            if op.state == 3 {
                let r = op.reply(consumeAt)
                if r.elementsEqual(BlockedClient.noAnswer) && deadline >= 0 {
                    op.state = 0  // emptied meanwhile: look again
                    addWaits(op)
                    return false
                }
                if r.elementsEqual(BlockedClient.noAnswer) { out.writeNullArray(resp) } else { out.append(r) }
                return true
            }
            if op.state == 4 { out.writeError(Errors.wrongType); return true }
            let step = stepStart..<op.parts.count
            func isTagged(_ r: UnsafeRawBufferPointer) -> Bool { r.first == UInt8(ascii: "$") }
            if op.state == 0 {
                let blocked = step.filter { StreamReads.isBlockedMarker(op.reply($0)) }
                let decided = step.contains { isTagged(op.reply($0)) }
                if !decided && !blocked.isEmpty {
                    w.waitForBlockedParts(op, count: blocked.count)
                    return false
                }
                if decided && !blocked.isEmpty {
                    op.state = 2
                    op.remaining = blocked.count
                    StreamReads.cancelOthers(op, w: w)
                    return false
                }
            }
            // Every part of the step has answered: the first key named decides.
            var answers: [(position: Int, ready: Bool, key: [UInt8])] = []
            for i in step {
                guard let body = SortedSetCommands.bulkBody(op.reply(i)), body.count >= 1 else { continue }
                let key = Array(body[1...])
                guard let position = keyBytes.firstIndex(of: key) else { continue }
                answers.append((position, body[0] == UInt8(ascii: "R"), key))
            }
            guard let first = answers.min(by: { $0.position < $1.position }) else {
                if op.unblockedWithError { out.writeError(Worker.unblockedError) } else { out.writeNullArray(resp) }
                return true
            }
            for a in answers where a.ready && a.position != first.position {
                a.key.withUnsafeBytes { k in
                    op.addPart(shard: shards[a.position], command: parts.releaseCommand,
                               spanIndices: parts.release + [op.store(k)] + parts.releaseAfter)
                }
            }
            if !first.ready {
                op.state = 4
                if op.parts.count == step.upperBound { out.writeError(Errors.wrongType); return true }
                return false
            }
            op.state = 3
            consumeAt = op.parts.count
            first.key.withUnsafeBytes { k in
                op.addPart(shard: shards[first.position], command: parts.command, spanIndices: parts.consume + [op.store(k)])
            }
            return false
        }
        op.onRecord = { [unowned w, unowned op] i in
            if op.state == 0 {
                // A second answer of a part (its wait ended already) replaces its first:
                // the step still waits for every part's first answer.
                if !answered.insert(i).inserted { op.remaining += 1 }
                return
            }
            // Waiting, and a shard answered: the others' waits are cancelled.
            if op.state == 1 && op.reply(i).first == UInt8(ascii: "$") {
                op.state = 2
                StreamReads.cancelOthers(op, w: w)
            }
        }
        op.onFinish = { [unowned w] in w.blockedClients.operationOf[clientID] = nil }
        op.pausesClient = true  // as in Redis, a blocked client runs nothing more until answered
        parts = makeParts(op)
        for s in shardOrder {
            var spans = parts.wait
            for (i, k) in keyBytes.enumerated() where shards[i] == s { k.withUnsafeBytes { spans.append(op.store($0)) } }
            waitSpans.append(spans)
        }
        addWaits(op)
        w.start(op, client: c, call: &call, out: &out)
    }
}
