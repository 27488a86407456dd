import Net
import Shards
#if canImport(Glibc)
import Glibc
#endif

/// The sequencer thread: the master side of replication (ReplicationMaster). The workers'
/// write records are merged here into the one replication stream, which it serves to the
/// replicas, with WAIT and the backlog. (It used to forward multi-shard lock requests too;
/// they now take their order from `LockOrder` and go to the shards directly.)
final class Sequencer: @unchecked Sendable {  // touched only by the sequencer thread after start
    let context: ServerContext
    private var loop = EventLoop(capacity: 16)
    private var overflow: [[WorkerMessage]]
    /// Passes in a row that found records held back by a floor with replies waiting.
    private var yields = 0

    init(context: ServerContext) {
        self.context = context
        overflow = Array(repeating: [], count: context.workerCount)
        loop.add(context.sequencerWaker.fd, events: EventLoop.readable, token: 0)
    }

    func run() {
        let master = ReplicationMaster(context: context)
        while !context.shuttingDown.load(ordering: .relaxed) {
            let pending = overflow.contains { !$0.isEmpty }
            var timeout = pending ? 1 : Self.sooner(master.timerMs, master.aof?.timerMs ?? -1)
            // Records wait for a worker's floor while replies are held: look again at once,
            // yielding the core to that worker, but not for long (a worker in a long pass).
            yields = timeout == 0 ? yields + 1 : 0
            if timeout == 0 && yields > 100 { timeout = 1 }
            if timeout == 0 {
                sched_yield()
            } else {
                // Workers signal the waker only while this thread says it sleeps (Waker).
                context.sequencerWaker.willSleep()
                if context.toSequencer.contains(where: { $0.hasElements }) { timeout = 0 }
                // A worker that began holding replies after the timeout was chosen.
                if timeout < 0 || timeout > 1, master.durabilityWanted { timeout = 1 }
            }
            let n = loop.wait(timeoutMs: timeout)
            context.sequencerWaker.awake()
            let now = Clock.unixMilliseconds()
            for i in 0..<max(n, 0) where loop.token(i) >= ReplicationMaster.tokenBase {
                master.handleEvent(fd: Int32(truncatingIfNeeded: loop.token(i) & 0xFFFF_FFFF), flags: loop.flags(i),
                                   loop: &loop, now: now)
            }
            context.sequencerWaker.drain()
            retryOverflow()
            // Read the clock and floors before draining: every record numbered below the
            // bound is then in the rings (see OrderClock.safeBound).
            let bound = context.replication.clock.safeBound()
            for (worker, ring) in context.toSequencer.enumerated() {
                while let message = ring.pop() {
                    switch message {
                    case .records(let batch):
                        master.receive(batch, from: worker)
                    default:
                        break
                    }
                }
            }
            // An AOF turned on: taken before merging what was drained (a rewrite's point
            // among those records was recorded after the files were handed over).
            if context.aof.pendingOpen.load(ordering: .acquiring) { master.takeOpenedAOF() }
            // Records already handed over belong before this pass's events (a replica's old
            // stream before a reset, a client's writes before its WAIT)...
            let events = context.sequencerInbox.withLock { events in defer { events.removeAll() }; return events }
            // ...but not those numbered from an AOF stop's bound: made after CONFIG SET
            // appendonly no answered, they were drained with the rest and this merge wrote
            // them to the file before the stop was seen (a SET sent after the reply was in
            // the closed file). They wait for the merge after the events.
            master.aofCut = events.lazy.compactMap { event -> UInt64? in
                if case .aofStop(let bound, _) = event { return bound } else { return nil }
            }.min()
            master.merge(below: bound)
            master.aofCut = nil
            for event in events {
                switch event {
                case .replicaAttached(let handoff): master.attach(handoff, loop: &loop, now: now)
                case .syncPayload(let id, let rdb): master.payloadArrived(id: id, rdb: rdb)
                case .resetStream(let replid, let offset, let then):
                    master.resetStream(replid: replid, offset: offset)
                    master.outgoing.append((0, .control(then)))
                case .wait(let request): master.addWait(request)
                case .cancelWait(let clientID): master.cancelWait(clientID: clientID)
                case .unblockWait(let clientID, let error): master.unblockWait(clientID: clientID, error: error)
                case .offsetQuery(let query): master.addOffsetQuery(query)
                case .killReplicas: master.dropAll(reason: "killed by CLIENT KILL")
                case .toWorker(let worker, let body): master.outgoing.append((worker, .control(body)))
                case .aofRewriteEnded(let temp): master.aofRewriteEnded(temp: temp)
                case .aofStop(let bound, let then): master.stopAOF(atSequence: bound, then: then)
                }
            }
            master.merge(below: bound)
            master.flushAOF(wakers: context.wakers)
            master.tick(now: now, loop: &loop)
            for (worker, message) in master.outgoing { send(message, to: worker) }
            master.outgoing.removeAll()
        }
    }

    /// The shorter of two epoll timeouts (-1: none).
    private static func sooner(_ a: Int32, _ b: Int32) -> Int32 {
        a < 0 ? b : b < 0 ? a : min(a, b)
    }

    private func send(_ message: WorkerMessage, to worker: Int) {
        guard overflow[worker].isEmpty else { overflow[worker].append(message); return }
        switch context.fromSequencer[worker].push(message) {
        case .pushed(let wake): if wake { context.wakers[worker].wakeIfAsleep() }
        case .full: overflow[worker].append(message)
        }
    }

    private func retryOverflow() {
        for worker in overflow.indices where !overflow[worker].isEmpty {
            var sent = 0
            for message in overflow[worker] {
                guard case .pushed(let wake) = context.fromSequencer[worker].push(message) else { break }
                if wake { context.wakers[worker].wakeIfAsleep() }
                sent += 1
            }
            overflow[worker].removeFirst(sent)
        }
    }
}
