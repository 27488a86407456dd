import Shards
import Synchronization

/// Replication facts shared by the sequencer (master side: stream, backlog, replicas), the
/// master link (replica side, on worker 0) and whoever answers INFO, ROLE or WAIT.
/// The data path reads only the atomics; the mutex is taken by cold paths and by the
/// sequencer once per pass.
final class ReplicationState: Sendable {
    /// Workers record their writes for the stream (set once the first replica attaches, or
    /// when this server is a replica, whose records are the master's stream passed on).
    let propagating = Atomic<Bool>(false)
    /// This server follows a master: clients may not write (replica-read-only), keys expire
    /// only by the master's DELs, and workers record no writes of their own.
    let isReplica = Atomic<Bool>(false)
    /// A replica's link to its master is up (streaming); read by the MASTERDOWN check.
    let masterLinkUp = Atomic<Bool>(false)
    let clock: OrderClock

    /// Online replicas whose last ACK is within min-replicas-max-lag seconds.
    let goodReplicas = Atomic<Int>(0)
    /// Bytes the backlog's chunks hold (INFO memory).
    let backlogMemory = Atomic<Int>(0)

    let syncFull = Atomic<Int>(0)
    let syncPartialOK = Atomic<Int>(0)
    let syncPartialErr = Atomic<Int>(0)

    struct ReplicaInfo {
        var ip: String
        var port: Int
        var state: String          // wait_bgsave, send_bulk, online
        var ackOffset: Int64
        var lastAckMs: Int64
    }

    struct Status {
        var replid: String
        var replid2 = String(repeating: "0", count: 40)
        var secondReplOffset: Int64 = -1
        /// Bytes of stream this server has produced or passed on (master_repl_offset).
        var masterReplOffset: Int64 = 0
        var backlogActive = false
        var backlogFirstByteOffset: Int64 = 0
        var backlogHistlen: Int64 = 0
        var replicas: [ReplicaInfo] = []

        // Replica side (owned by the master link).
        var masterHost: String?
        var masterPort = 0
        var linkUp = false
        var lastIOMs: Int64 = 0
        var linkDownSinceMs: Int64 = 0
        var syncInProgress = false
        var syncTotalBytes: Int64 = -1
        var syncReadBytes: Int64 = 0
        /// Stream bytes received and applied from the master (slave_read_repl_offset / slave_repl_offset).
        var readOffset: Int64 = 0
        var processedOffset: Int64 = 0
        /// End of the master's stream this server has passed on to its own (dispatched, fed to
        /// the sequencer, which may not have merged it yet); nil without a master's history.
        var passedOnOffset: Int64?
        /// ROLE's link state: connect, connecting, handshake, sync, connected.
        var masterLinkState = "connect"
        /// Unix ms of the last payload bytes of a full sync (master_sync_last_io_seconds_ago).
        var syncLastIOMs: Int64 = 0
    }
    let status: Mutex<Status>
    /// The history in the dump loaded at start-up, if it named one (a replica restarting).
    let restoredHistory = Mutex<ReplicationHistory?>(nil)

    init(workers: Int) {
        clock = OrderClock(workers: workers)
        status = Mutex(Status(replid: Self.randomID()))
    }

    static func randomID() -> String {
        var rng = SystemRandomNumberGenerator()
        return String((0..<40).map { _ in "0123456789abcdef".randomElement(using: &rng)! })
    }

    /// REPLICAOF NO ONE (and a failover): a new history that keeps the old id valid up to
    /// here, so replicas of the old master can continue from this one (Redis's shiftReplicationId).
    /// "Here" is the end of the master's stream this replica passed on: the sequencer's
    /// offset reaches it once it has merged what the link fed it, which may be a moment later
    /// (a replica promoted right after its master died would otherwise keep the old id valid
    /// only up to an earlier offset, and the other replicas would need a full resync).
    func shiftReplicationID() {
        status.withLock { s in
            s.replid2 = s.replid
            s.secondReplOffset = max(s.masterReplOffset, s.passedOnOffset ?? 0) + 1
            s.replid = Self.randomID()
        }
    }
}
