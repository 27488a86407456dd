import Net
import RESP

/// What worker 0 calls into its master link: REPLICAOF (follow, stop), the master client's
/// input from Dispatch, and the link's state a dump or a full resync payload records. Its
/// loop calls the link itself: `onEvent` under `masterLinkToken`, `cron` on the timer and
/// `advanceAppliedOffset` once per iteration.
extension Worker {
    static let masterLinkToken: UInt64 = 1 << 43

    /// Starts following host:port (REPLICAOF, or `replicaof` at start-up), dropping the
    /// current link if any. Its history is kept for PSYNC; a master turning replica offers
    /// its own history (Redis's replicationCacheMasterUsingMyself).
    func followMaster(host: String, port: Int, offerOwnHistory: Bool, restored: ReplicationHistory? = nil) {
        let link = MasterLink(host: host, port: port, worker: self)
        if let restored {
            // The dump this replica saved names its master's history: try to continue it.
            Log.notice("Using the replication id and offset saved in the dump to try a partial resynchronization.")
            link.cachedReplid = restored.replid
            link.cachedOffset = restored.offset
            link.cachedDB = restored.db
        } else if let old = masterLink {
            old.drop(reason: nil)
            link.closedClient = old.closedClient
            link.cachedReplid = old.cachedReplid
            link.cachedOffset = old.cachedOffset
            link.cachedDB = old.cachedDB
        } else if offerOwnHistory {
            Log.notice("Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer.")
            let (replid, offset) = context.replication.status.withLock { ($0.replid, $0.masterReplOffset) }
            link.cachedReplid = replid
            link.cachedOffset = offset
        }
        masterLink = link
        link.start(restored: restored)
    }

    /// REPLICAOF NO ONE: closes the link; the data stays.
    func stopFollowingMaster() {
        guard let link = masterLink else { return }
        link.drop(reason: nil)
        masterLink = nil
    }

    /// Dispatch.process's way for the master client's input (and the stream held for a
    /// snapshot resuming): its commands run through the link, which counts them.
    func processMasterStream(_ c: Client) {
        masterLink?.processStream(c)
    }

    /// The replication history a dump saved now should carry (Redis's rdbPopulateSaveInfo for
    /// a replica): the master's id, the offset applied and the stream's database. Only when it
    /// is exact at this point, under the snapshot's locks: on worker 0 (which owns the link)
    /// with none of the master's commands still in flight to a shard. Otherwise nil, and a
    /// restart does a full resync.
    func replicationHistoryForDump() -> ReplicationHistory? {
        guard context.replication.isReplica.load(ordering: .relaxed), let link = masterLink else { return nil }
        if let c = link.client {
            guard !c.hasOutstandingReplies, !link.masterReplid.isEmpty else { return nil }
            return ReplicationHistory(replid: link.masterReplid, offset: link.processedOffset, db: c.db)
        }
        guard let replid = link.cachedReplid else { return nil }
        return ReplicationHistory(replid: replid, offset: link.cachedOffset, db: link.cachedDB)
    }

    /// The history a full resync's payload carries when this server is a replica (Redis's
    /// rdbPopulateSaveInfo: above all the master client's database). Its own replicas need
    /// the stream's database: the master's stream it passes on has no SELECT at their start.
    /// Taken at the snapshot's point on worker 0, which applies the master's stream (a SELECT
    /// there runs at once) and records the point in the same order as the stream's bytes.
    func replicationHistoryForSyncPayload() -> ReplicationHistory? {
        guard context.replication.isReplica.load(ordering: .relaxed), let link = masterLink, let c = link.client,
              !link.masterReplid.isEmpty else { return nil }
        return ReplicationHistory(replid: link.masterReplid, offset: link.processedOffset, db: c.db)
    }
}

extension MasterLink {
    /// The link just became worker 0's: publishes its starting offsets and connects, unless
    /// the dropped link's commands still run (the timer connects once they have) or a dump's
    /// history must first become this server's stream.
    func start(restored: ReplicationHistory?) {
        let replication = context.replication
        replication.status.withLock { s in
            let offset = self.cachedReplid == nil ? 1 : self.cachedOffset
            s.readOffset = offset
            s.processedOffset = offset
            s.passedOnOffset = self.cachedReplid == nil ? nil : self.cachedOffset
            s.linkUp = false
            replication.masterLinkUp.store(false, ordering: .relaxed)
            s.syncInProgress = false
            s.masterLinkState = self.roleState
        }
        guard let restored else {
            if closedClient == nil { connect() }
            return
        }
        // This server's stream continues that history (Redis takes its replid and offset from
        // the dump): the sequencer takes it before the link can bring any of the stream.
        nextAttemptMs = .max
        context.postToSequencer(.resetStream(replid: restored.replid, offset: restored.offset, then: { _ in
            guard self.isCurrent, self.state == .connect, self.nextAttemptMs == .max else { return }
            self.connect()
        }))
    }
}
