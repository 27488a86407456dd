import RESP
import Shards

/// The worker's side of replication: recording writes in its PropagationLog and handing
/// the records to the sequencer once per loop iteration.
extension Worker {
    /// Turns recording on once replication is active (checked at the top of each loop
    /// iteration, so every message that arrives after the switch is recorded).
    func activatePropagationIfNeeded() {
        if let log = propagation {
            followRole(log)
            return
        }
        guard context.replication.propagating.load(ordering: .acquiring) else { return }
        let log = PropagationLog(clock: context.replication.clock, worker: index)
        propagation = log
        shard?.propagation = log
        followRole(log)
    }

    /// A master records its writes for replicas and the AOF; a replica passes its master's
    /// stream on as `raw` records, and with an AOF records the writes it applies for the AOF
    /// only (Redis's replica feeds its AOF from call(), its replicas from the master's stream).
    private func followRole(_ log: PropagationLog) {
        let replica = context.replication.isReplica.load(ordering: .relaxed)
        log.forAOFOnly = replica
        log.recordsOwnWrites = !replica || context.aof.enabled.load(ordering: .relaxed)
        shard?.recordsWrites = log.recordsOwnWrites
    }

    /// Sends the iteration's records to the sequencer.
    func handOffReplicationRecords() {
        guard let log = propagation, !log.isEmpty else { return }
        log.handOff { bytes in sendToSequencer(.records(RecordBatch(bytes))) }
    }

    /// Replica side: bytes of the master's stream that were applied, to pass on unchanged
    /// to this server's own replicas and backlog (so offsets stay the master's).
    func feedReplicationStream(_ bytes: UnsafeRawBufferPointer) {
        activatePropagationIfNeeded()
        propagation?.raw(bytes)
    }

    /// A unique group tag for a multi-shard operation or an inline transaction.
    func newPropagationTag() -> UInt64 {
        nextPropagationTag &+= 1
        return UInt64(index + 1) << 48 | (nextPropagationTag & 0xFFFF_FFFF_FFFF)
    }
}

/// Whether a replica's master stream waits for a snapshot for its own replicas: until the
/// master's commands in flight have run (`drain`), until the snapshot point (`untilPoint`),
/// then `resume` (Worker.masterStreamHold, on worker 0).
enum MasterStreamHold { case none, drain, untilPoint, resume }

/// Full resyncs and WAIT, on the worker side.
extension Worker {
    /// The sequencer wants a snapshot for a full resync (worker 0). It waits for a running
    /// save to end; every full resync that asks meanwhile shares the next snapshot.
    func requestReplicationSnapshot(id: UInt64) {
        pendingReplicationSnapshots.append(id)
        startReplicationSnapshotIfPossible()
    }

    /// Called on the timer too, to start a snapshot a running save held back.
    func startReplicationSnapshotIfPossible() {
        guard !pendingReplicationSnapshots.isEmpty else { return }
        let persistence = context.persistence
        // A replica records its master's commands when worker 0 dispatches them, and they run
        // on their shards later: the snapshot waits until none is in flight, and none starts
        // until its point is taken (it would be in the stream before the point but run after
        // its shard's lock), or the snapshot and the stream after its point disagree.
        if let c = masterLink?.client {
            guard !persistence.saveInProgress.load(ordering: .relaxed) else { return }
            masterStreamHold = .drain
            if c.hasOutstandingReplies { return }  // run() comes back each iteration
        }
        guard persistence.saveInProgress.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else {
            if masterStreamHold == .drain { masterStreamHold = .resume }
            return
        }
        if masterLink != nil { masterStreamHold = .untilPoint }
        activatePropagationIfNeeded()
        let ids = pendingReplicationSnapshots
        pendingReplicationSnapshots = []
        let settings = saveSettings
        let context = self.context
        let started = Clock.monotonicMilliseconds()
        var ignored = ByteBuffer(capacity: 64)
        var noCommand = CommandCall()
        let history = HistoryAtSnapshot()
        Log.notice("Starting BGSAVE for SYNC with target: replicas sockets")
        beginIncrementalSnapshot(client: nil, call: &noCommand, out: &ignored, atPoint: { [unowned self] in
            for id in ids { self.propagation?.snapshotPoint(id: id) }
            history.value = self.replicationHistoryForSyncPayload()
            // run() resumes the stream, outside this operation's combine.
            if self.masterStreamHold == .untilPoint { self.masterStreamHold = .resume }
        }) { parts, _ in
            ServerMain.spawnThread {
                let rdb = Persistence.rdbInMemory(parts: parts, compression: settings.compression, checksum: settings.checksum,
                                                  replication: history.value)
                Log.notice("Snapshot for SYNC ready: \(rdb?.count ?? 0) bytes in \(Clock.monotonicMilliseconds() - started) ms")
                persistence.saveInProgress.store(false, ordering: .releasing)
                for id in ids { context.postToSequencer(.syncPayload(id: id, rdb: rdb)) }
            }
        }
    }

    /// run()'s step while a replica's master stream is held for a snapshot (worker 0).
    func serviceMasterStreamHold() {
        switch masterStreamHold {
        case .drain:
            startReplicationSnapshotIfPossible()
        case .resume:
            masterStreamHold = .none
            if let c = masterLink?.client { processMasterStream(c) }
        case .none, .untilPoint:
            break
        }
    }

    /// The sequencer's answer to a WAIT.
    func finishWait(fd: Int32, id: UInt64, ticket: UInt32, count: Int, unblockedWithError: Bool = false) {
        guard let c = clients.client(fd: fd, id: id) else { return }
        c.inWait = false
        c.waitBlocks = false
        var reply = ByteBuffer(capacity: 32)
        if unblockedWithError { reply.writeError(Worker.unblockedError) } else { reply.writeInteger(count) }
        deliverDeferredReply(to: c, ticket: ticket, reply.readable)
        c.pausedByOperation = false
        if !c.input.isEmpty { process(c) }
    }

    /// PSYNC/SYNC: the connection becomes a replica, served by the sequencer thread from now on.
    /// `out` is the command's reply buffer: c.output itself, lent for the command by withReply,
    /// unless earlier replies are outstanding (then a scratch buffer). Pending bytes are taken
    /// through `out` while c.output is lent, never through c.output: that overlapping access
    /// is an exclusivity violation (it trapped the debug build on every PSYNC).
    func handOverReplica(_ c: Client, reply out: inout ByteBuffer, replid: String, offset: Int64) {
        let pending: [UInt8]
        if c.hasOutstandingReplies {
            pending = Array(c.output.readable)
            c.output.clear()
        } else {
            pending = Array(out.readable)
            out.clear()
        }
        c.isClosed = true          // this worker forgets it, without closing the socket
        c.pausedByOperation = true
        loop.remove(c.fd)
        clients.remove(c)
        context.connectedClients.subtract(1, ordering: .relaxed)  // INFO counts replicas apart
        c.transaction = nil
        unwatchAll(c)
        let ip = String(PeerAddress.ip(of: c.peer))
        let port = c.replicaListeningPort != 0 ? c.replicaListeningPort : Int(c.peer.split(separator: ":").last ?? "") ?? 0
        context.postToSequencer(.replicaAttached(ReplicaHandoff(fd: c.fd, ip: ip, listeningPort: port,
                                                                capabilities: c.replicaCapabilities, replid: replid,
                                                                offset: offset, pendingOutput: pending)))
    }
}
