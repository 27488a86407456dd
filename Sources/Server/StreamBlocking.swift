import RESP
import Shards

/// Clients blocked on streams, on the shard side: per key, the waiters in the order they
/// blocked; one deadline heap per shard (no timer per client); the keys an XADD made ready.
/// The worker serves ready keys once per loop iteration, after the commands it ran.
final class ShardStreamWaiters: @unchecked Sendable {  // touched only by the shard owner thread
    struct WaitKey: Hashable { let db: Int; let key: [UInt8] }

    final class Waiter {
        let clientID: UInt64
        let sink: ReplySink
        let origin: Int
        let db: Int
        let resp: RESPVersion
        let keys: [[UInt8]]
        let request: StreamBlocking.Request
        let deadline: Int64
        var done = false
        init(clientID: UInt64, sink: ReplySink, origin: Int, db: Int, resp: RESPVersion, keys: [[UInt8]],
             request: StreamBlocking.Request, deadline: Int64) {
            self.clientID = clientID; self.sink = sink; self.origin = origin; self.db = db; self.resp = resp
            self.keys = keys; self.request = request; self.deadline = deadline
        }
    }

    var byKey: [WaitKey: [Waiter]] = [:]
    var byClient: [UInt64: [Waiter]] = [:]
    var ready: [WaitKey] = []
    var readySet = Set<WaitKey>()
    /// Min-heap of (deadline, waiter) for waiters with a timeout.
    var deadlines: [(Int64, Waiter)] = []

    func pushDeadline(_ d: Int64, _ w: Waiter) {
        deadlines.append((d, w))
        var i = deadlines.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if deadlines[parent].0 <= deadlines[i].0 { break }
            deadlines.swapAt(parent, i)
            i = parent
        }
    }

    func popDeadline() -> (Int64, Waiter)? {
        guard !deadlines.isEmpty else { return nil }
        let top = deadlines[0]
        let last = deadlines.removeLast()
        if !deadlines.isEmpty {
            deadlines[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < deadlines.count && deadlines[l].0 < deadlines[m].0 { m = l }
                if r < deadlines.count && deadlines[r].0 < deadlines[m].0 { m = r }
                if m == i { break }
                deadlines.swapAt(m, i)
                i = m
            }
        }
        return top
    }

    /// Earliest live deadline (done waiters at the top are dropped on the way).
    func earliest() -> Int64? {
        while let top = deadlines.first, top.1.done { _ = popDeadline() }
        return deadlines.first?.0
    }

    /// Waiters of XREADGROUP: while there are some, their keys are checked for deletion.
    var groupWaiters = 0

    /// Marks ready the keys whose stream a group waiter blocked on is gone (deleted,
    /// renamed, overwritten, expired): serving answers them UNBLOCKED.
    func signalReplacedStreams(_ shard: Shard) {
        for (k, list) in byKey where !readySet.contains(k) {
            guard let waiter = list.first(where: { !$0.done && $0.request.stream != nil }) else { continue }
            let current = k.key.withUnsafeBytes { shard.lookup(db: k.db, key: $0)?.object }
            if current !== waiter.request.stream {
                readySet.insert(k)
                ready.append(k)
            }
        }
    }

    func remove(_ w: Waiter) {
        if !w.done && w.request.stream != nil { groupWaiters -= 1 }
        w.done = true
        for k in w.keys {
            let wk = WaitKey(db: w.db, key: k)
            if var list = byKey[wk] {
                list.removeAll { $0 === w }
                byKey[wk] = list.isEmpty ? nil : list
            }
        }
        if var list = byClient[w.clientID] {
            list.removeAll { $0 === w }
            byClient[w.clientID] = list.isEmpty ? nil : list
        }
    }
}

/// The client side: which operation slot each blocked client of this worker waits in.
final class StreamClientState: @unchecked Sendable {  // touched only by its worker thread
    var blocked: [UInt64: Int] = [:]
    /// Replies of waiters cancelled on this worker for operations of this worker. They are
    /// delivered from the loop, never inline: a cancel runs while an operation records a
    /// reply or combines, and delivering then would finish that operation underneath it.
    var cancelledReplies: [(sink: ReplySink, bytes: [UInt8])] = []
}

enum StreamBlocking {
    enum Request {
        case xread(after: StreamID, count: Int)
        /// XREADGROUP with `>`: `stream` is the one it blocked on (deleted or replaced, the
        /// client gets UNBLOCKED, as from Redis 7.0's signalDeletedKeyAsReady).
        case xreadgroup(group: [UInt8], consumer: [UInt8], count: Int, noack: Bool, stream: Stream)

        var stream: Stream? {
            if case .xreadgroup(_, _, _, _, let s) = self { return s }
            return nil
        }
    }

    /// One state per shard and per worker, made once (the arrays never change; each
    /// element is touched only by its owning thread).
    static let shardStates = (0..<1024).map { _ in ShardStreamWaiters() }
    static let clientStates = (0..<1024).map { _ in StreamClientState() }

    /// Registers a waiter for the request's keys on this shard.
    static func register(_ ctx: ShardContext, sink: ReplySink, keys: [[UInt8]], request: Request, deadline: Int64) {
        let st = shardStates[ctx.shard.index]
        let w = ShardStreamWaiters.Waiter(clientID: ctx.clientID, sink: sink, origin: ctx.origin, db: ctx.db,
                                          resp: ctx.resp, keys: keys, request: request, deadline: deadline)
        for k in keys { st.byKey[.init(db: ctx.db, key: k), default: []].append(w) }
        if request.stream != nil { st.groupWaiters += 1 }
        st.byClient[ctx.clientID, default: []].append(w)
        if deadline > 0 { st.pushDeadline(deadline, w) }
    }

    /// Called by writes that may serve a blocked reader (XADD): the key becomes ready.
    @inline(__always)
    static func signal(_ ctx: ShardContext, key: UnsafeRawBufferPointer) {
        let st = shardStates[ctx.shard.index]
        guard !st.byKey.isEmpty else { return }
        let k = ShardStreamWaiters.WaitKey(db: ctx.db, key: Array(key))
        if st.byKey[k] != nil && st.readySet.insert(k).inserted { st.ready.append(k) }
    }

    /// Cancels a client's waiters for operation `slot` (another stream served it, or it closed).
    static func cancel(_ w: Worker, clientID: UInt64, slot: Int) {
        let st = shardStates[w.index]
        guard let list = st.byClient[clientID] else { return }
        for waiter in list where waiter.sink.index == Int32(slot) && !waiter.done {
            st.remove(waiter)
            if waiter.origin == w.index {
                w.streamClientState.cancelledReplies.append((waiter.sink, nullReply(waiter)))
            } else {
                w.replyToWaiter(waiter, nullReply(waiter))
            }
        }
    }

    static func nullReply(_ waiter: ShardStreamWaiters.Waiter) -> [UInt8] { Array("*-1\r\n".utf8) }
}

extension Worker {
    var streamClientState: StreamClientState { StreamBlocking.clientStates[index] }

    func nextBlockedStreamDeadline() -> Int64? {
        guard shard != nil else { return nil }
        return StreamBlocking.shardStates[index].earliest()
    }

    /// Serves the waiters of keys made ready in this iteration (in blocking order), then
    /// times out the waiters whose deadline passed.
    func serveBlockedStreams() {
        guard let shard else { return }
        defer { deliverCancelledStreamReplies() }
        deliverCancelledStreamReplies()
        let st = StreamBlocking.shardStates[index]
        if st.byKey.isEmpty && st.deadlines.isEmpty { return }
        if st.groupWaiters > 0 { st.signalReplacedStreams(shard) }
        while !st.ready.isEmpty {
            let keys = st.ready
            st.ready.removeAll()
            st.readySet.removeAll()
            for k in keys {
                for waiter in st.byKey[k] ?? [] where !waiter.done {
                    var out = ByteBuffer(capacity: 256)
                    if serve(waiter, shard: shard, &out) {
                        st.remove(waiter)
                        replyToWaiter(waiter, Array(out.readable))
                    }
                }
            }
        }
        while let top = st.deadlines.first, top.1.done || top.0 <= nowMs {
            _ = st.popDeadline()
            if top.1.done { continue }
            st.remove(top.1)
            replyToWaiter(top.1, StreamBlocking.nullReply(top.1))
        }
    }

    /// Delivering one may cancel more (a served read cancels its other waits): until none is left.
    private func deliverCancelledStreamReplies() {
        let state = streamClientState
        while !state.cancelledReplies.isEmpty {
            let pending = state.cancelledReplies
            state.cancelledReplies.removeAll()
            for r in pending {
                r.bytes.withUnsafeBytes { deliverReply(r.sink, command: StreamReads.xreadPartIndex, $0) }
            }
        }
    }

    private func serve(_ waiter: ShardStreamWaiters.Waiter, shard: Shard, _ out: inout ByteBuffer) -> Bool {
        switch waiter.request {
        case .xread(let after, let count):
            let key = waiter.keys[0]
            return key.withUnsafeBytes { k in
                guard let e = shard.lookup(db: waiter.db, key: k), let s = e.object as? Stream else { return false }
                return StreamReads.serveXRead(s, key: k, after: after, count: count, &out)
            }
        case .xreadgroup(let group, let consumer, let count, let noack, let blockedOn):
            let ctx = ShardContext(shard: shard, db: waiter.db, resp: waiter.resp, clientID: waiter.clientID)
            return waiter.keys[0].withUnsafeBytes { k in
                guard let e = shard.lookup(db: waiter.db, key: k), let s = e.object as? Stream, s === blockedOn else {
                    out.writeError("UNBLOCKED the stream key no longer exists")
                    return true
                }
                return group.withUnsafeBytes { groupName in
                    guard let g = s.group(named: groupName) else {
                        out.writeError("NOGROUP the consumer group this client was blocked on no longer exists")
                        return true
                    }
                    return consumer.withUnsafeBytes { name in
                        StreamGroupCommands.serveNew(ctx, s, g, consumerName: name, key: k, groupName: groupName,
                                                     count: count, noack: noack, &out)
                    }
                }
            }
        }
    }

    /// Sends a waiter's reply to its operation part, here or on its origin worker.
    func replyToWaiter(_ waiter: ShardStreamWaiters.Waiter, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { b in
            if waiter.origin == index {
                deliverReply(waiter.sink, command: StreamReads.xreadPartIndex, b)
            } else {
                let batch = lateReplies[waiter.origin] ?? Batch(origin: waiter.origin, target: index)
                lateReplies[waiter.origin] = batch
                batch.addReply(command: StreamReads.xreadPartIndex, sink: waiter.sink, reply: b)
            }
        }
    }
}
