import CShim
import Net
import RESP
import Shards
import Synchronization
#if canImport(Glibc)
import Glibc
import Values
#endif

/// What shard handlers need to know about the master link without the server context
/// (they see only their shard; CommandTable.run reads it on a replica's shards).
enum ReplicaMode {
    /// Client id of the master link's client (0: none): its commands see keys past their
    /// deadline as present, as Redis's master client does.
    static let masterClientID = Atomic<UInt64>(0)
}

/// The replica side of replication: the connection to the master, owned by worker 0 and
/// driven by its epoll loop (events under `Worker.masterLinkToken`) and its timer. Once the
/// master's data is loaded, the connection becomes a Client flagged as the master whose
/// commands run through the normal dispatch with their replies dropped.
final class MasterLink: @unchecked Sendable {  // touched only by worker 0's thread
    enum State: Equatable { case connect, connecting, handshake, transfer, loading, connected }
    enum Expect { case pong, auth, replconf, psync }

    let host: String
    let port: Int
    var state = State.connect
    var fd: Int32 = -1
    /// Bytes from the master before the stream starts (handshake replies, the payload).
    var input = ByteBuffer(capacity: 16 * 1024)
    var output = ByteBuffer(capacity: 256)
    var wantsWrite = false
    var expecting: [Expect] = []
    /// Monotonic milliseconds: next connection attempt, last byte from the master, last ACK.
    var nextAttemptMs: Int64 = 0
    var retryDelayMs: Int64 = MasterLink.firstRetryDelayMs
    var lastIOMs: Int64 = 0
    var lastAckMs: Int64 = 0
    /// Bumped whenever the link drops: a load finishing later for an old attempt is ignored.
    var generation = 0

    /// The history to ask PSYNC for: the master's replid, the offset of the last byte
    /// applied, and the database the stream was in (nil: `PSYNC ? -1`).
    var cachedReplid: String?
    var cachedOffset: Int64 = 0
    var cachedDB = 0

    // Full resync in progress.
    var syncReplid = ""
    var syncOffset: Int64 = 0
    var payload: [UInt8] = []
    var payloadLength = -1
    var eofMark: [UInt8]?
    var haveBulkHeader = false

    // Streaming.
    var client: Client?
    /// The master client of a link that dropped while commands it sent still ran on other
    /// shards (ClosingClients.swift). The next link waits for them: its stream continues
    /// from the offset counted when they were dispatched, and a command of it must not
    /// overtake one of theirs.
    var closedClient: Client?
    var masterReplid = ""
    /// Offset of the last byte dispatched (the stream's position: PSYNC, the dump's history)
    /// and of the last byte read; what has run is `appliedOffset` (Redis's reploff, what
    /// ACKs, INFO and ROLE report).
    var processedOffset: Int64 = 0
    var readOffset: Int64 = 0
    var appliedOffset = AppliedOffset()
    /// Bytes of a MULTI ... EXEC from the master still open: counted and passed on whole
    /// once the transaction ends (a link lost inside it resumes before the MULTI).
    var openTransaction = ByteBuffer(capacity: 0)

    static let firstRetryDelayMs: Int64 = 100
    static let maxRetryDelayMs: Int64 = 1000
    /// Longest line accepted before the stream starts (a master speaking something else).
    static let maxLineLength = 64 * 1024

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    var roleState: String {
        switch state {
        case .connect: return "connect"
        case .connecting: return "connecting"
        case .handshake: return "handshake"
        case .transfer, .loading: return "sync"
        case .connected: return "connected"
        }
    }

    /// The next line of `input` (without CR LF), or nil if none is complete.
    func takeLine() -> [UInt8]? {
        let bytes = input.readable
        guard let nl = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        var end = nl
        if end > 0 && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let line = Array(bytes[0..<end])
        input.discardFront(nl + 1)
        return line
    }

    func queue(_ words: [String]) {
        output.writeArrayHeader(words.count)
        for w in words { output.writeBulk(string: w) }
    }

    /// Forgets the attempt in progress (the fd is closed by the caller).
    func reset() {
        fd = -1
        input.clear()
        output.clear()
        wantsWrite = false
        expecting = []
        payload = []
        payloadLength = -1
        eofMark = nil
        haveBulkHeader = false
        openTransaction.clear()
        appliedOffset.reset(to: 0)
        client = nil
        generation += 1
    }
}

/// Text of a line from the master, for the log.
func masterText(_ line: [UInt8]) -> String { String(decoding: line, as: UTF8.self) }

/// Whether a line from the master starts with `prefix`.
func masterLine(_ line: [UInt8], startsWith prefix: String) -> Bool {
    line.count >= prefix.utf8.count && line.starts(with: prefix.utf8)
}

extension Worker {
    static let masterLinkToken: UInt64 = 1 << 43

    // MARK: Following and leaving a master (worker 0)

    /// Starts following host:port (REPLICAOF, or `replicaof` at start-up), dropping the
    /// current link if any. Its history is kept for PSYNC; a master turning replica offers
    /// its own history (Redis's replicationCacheMasterUsingMyself).
    func followMaster(host: String, port: Int, offerOwnHistory: Bool, restored: ReplicationHistory? = nil) {
        let link = MasterLink(host: host, port: port)
        if let restored {
            // The dump this replica saved names its master's history: try to continue it.
            Log.notice("Using the replication id and offset saved in the dump to try a partial resynchronization.")
            link.cachedReplid = restored.replid
            link.cachedOffset = restored.offset
            link.cachedDB = restored.db
        } else if let old = masterLink {
            dropMasterLink(old, reason: nil)
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
        context.replication.status.withLock { s in
            let offset = link.cachedReplid == nil ? 1 : link.cachedOffset
            s.readOffset = offset
            s.processedOffset = offset
            s.passedOnOffset = link.cachedReplid == nil ? nil : link.cachedOffset
            s.linkUp = false
            self.context.replication.masterLinkUp.store(false, ordering: .relaxed)
            s.syncInProgress = false
            s.masterLinkState = link.roleState
        }
        guard let restored else {
            // Else the timer connects once the dropped link's commands have run.
            if link.closedClient == nil { connectToMaster(link) }
            return
        }
        // This server's stream continues that history (Redis takes its replid and offset from
        // the dump): the sequencer takes it before the link can bring any of the stream.
        link.nextAttemptMs = .max
        context.postToSequencer(.resetStream(replid: restored.replid, offset: restored.offset, then: { worker in
            guard worker.masterLink === link, link.state == .connect, link.nextAttemptMs == .max else { return }
            worker.connectToMaster(link)
        }))
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

    /// REPLICAOF NO ONE: closes the link; the data stays.
    func stopFollowingMaster() {
        guard let link = masterLink else { return }
        dropMasterLink(link, reason: nil)
        masterLink = nil
    }

    // MARK: Connection

    func connectToMaster(_ link: MasterLink) {
        let fd = link.host.withCString { vk_connect_tcp($0, Int32(clamping: link.port)) }
        link.lastIOMs = Clock.monotonicMilliseconds()
        guard fd >= 0 else {
            Log.warning("Unable to connect to MASTER: \(String(cString: strerror(-fd)))")
            scheduleRetry(link)
            return
        }
        Log.notice("Connecting to MASTER \(link.host):\(link.port)")
        Log.notice("MASTER <-> REPLICA sync started")
        link.fd = fd
        link.state = .connecting
        loop.add(fd, events: EventLoop.readable | EventLoop.writable, token: Worker.masterLinkToken)
        publishLinkState(link)
    }

    func scheduleRetry(_ link: MasterLink) {
        link.state = .connect
        link.nextAttemptMs = Clock.monotonicMilliseconds() + link.retryDelayMs
        link.retryDelayMs = min(link.retryDelayMs * 2, MasterLink.maxRetryDelayMs)
        publishLinkState(link)
    }

    /// Closes the link (logging `reason`) and, unless it is being replaced, retries later.
    /// A link that was streaming keeps its master's history for a partial resync: the offset
    /// of what was dispatched, which all runs even if some of it is still on its way to a
    /// shard (the next link waits for that, see `closedClient`).
    func dropMasterLink(_ link: MasterLink, reason: String?) {
        if let reason { Log.warning(reason) }
        let wasConnected = link.state == .connected
        if let c = link.client {
            if wasConnected {
                link.cachedReplid = link.masterReplid
                link.cachedOffset = link.processedOffset
                link.cachedDB = c.db
                Log.notice("Caching the disconnected master state.")
            }
            // ReplicaMode.masterClientID stays: the commands still running are the master's
            // (their writes see keys past their deadline, as the master's do). The next
            // link's client replaces it.
            if !c.isClosed { closeClient(c) }  // closes the fd
            if c.hasOutstandingReplies { link.closedClient = c }
        } else if link.fd >= 0 {
            loop.remove(link.fd)
            Socket.close(link.fd)
        }
        link.reset()
        let now = Clock.unixMilliseconds()
        context.replication.status.withLock { s in
            s.linkUp = false
            self.context.replication.masterLinkUp.store(false, ordering: .relaxed)
            s.syncInProgress = false
            if wasConnected { s.linkDownSinceMs = now }
            if link.cachedReplid != nil {
                s.processedOffset = link.cachedOffset
                s.readOffset = link.cachedOffset
                s.passedOnOffset = link.cachedOffset
            }
        }
        scheduleRetry(link)
    }

    /// Writes what the link has queued; waits for EPOLLOUT if the socket is full.
    func flushMasterLink(_ link: MasterLink) {
        guard link.fd >= 0, !link.output.isEmpty else { return }
        switch Socket.write(link.fd, from: &link.output) {
        case .closed, .failed:
            dropMasterLink(link, reason: "Error writing to MASTER: connection lost.")
            return
        default: break
        }
        let wants = !link.output.isEmpty
        if wants != link.wantsWrite {
            link.wantsWrite = wants
            loop.modify(link.fd, events: EventLoop.readable | (wants ? EventLoop.writable : 0), token: Worker.masterLinkToken)
        }
    }

    func send(to link: MasterLink, _ words: [String]) {
        link.queue(words)
        flushMasterLink(link)
    }

    func sendAck(_ link: MasterLink, offset: Int64) {
        link.lastAckMs = Clock.monotonicMilliseconds()
        send(to: link, ["REPLCONF", "ACK", String(offset)])
    }

    // MARK: Events

    func masterLinkEvent(flags: UInt32) {
        guard let link = masterLink, link.fd >= 0 else { return }
        if link.state == .connecting {
            let error = vk_socket_error(link.fd)
            if error != 0 {
                dropMasterLink(link, reason: "Error condition on socket for SYNC: \(String(cString: strerror(error)))")
                return
            }
            guard flags & EventLoop.writable != 0 else { return }
            Log.notice("Non blocking connect for SYNC fired the event.")
            link.state = .handshake
            link.expecting = [.pong]
            loop.modify(link.fd, events: EventLoop.readable, token: Worker.masterLinkToken)
            send(to: link, ["PING"])
            publishLinkState(link)
            return
        }
        if flags & EventLoop.writable != 0 { flushMasterLink(link) }
        guard link.fd >= 0, flags & (EventLoop.readable | EventLoop.hangup) != 0 else { return }
        let result: IOResult
        if let c = link.client {
            result = Socket.read(link.fd, into: &c.input)
        } else {
            result = Socket.read(link.fd, into: &link.input)
        }
        switch result {
        case .bytes(let n):
            stats.inputBytes.add(n, ordering: .relaxed)
            link.lastIOMs = Clock.monotonicMilliseconds()
            masterLinkReceived(link, bytes: n)
        case .wouldBlock:
            break
        case .closed, .failed:
            dropMasterLink(link, reason: link.state == .connected ? "Connection with master lost."
                                                                   : "Error reading from MASTER: connection lost.")
        }
    }

    func masterLinkReceived(_ link: MasterLink, bytes n: Int) {
        switch link.state {
        case .handshake: masterHandshake(link)
        case .transfer: masterTransfer(link)
        case .connected:
            guard let c = link.client else { return }
            link.readOffset += Int64(n)
            c.lastInteraction = nowMs
            processMasterStream(c)
        case .loading, .connect, .connecting:
            break  // the stream waits in the client's input until the load is done
        }
        if link.state != .connected && link.state != .loading && link.input.count > MasterLink.maxLineLength
            && !(link.state == .transfer && link.haveBulkHeader) {
            dropMasterLink(link, reason: "Bad protocol from MASTER: a line of more than \(MasterLink.maxLineLength) bytes, are you sure the host and port are right?")
        }
    }

    // MARK: Timer (worker 0, every tick)

    func masterLinkCron() {
        guard let link = masterLink else { return }
        let mono = Clock.monotonicMilliseconds()
        if let c = link.client, c.isClosed {
            dropMasterLink(link, reason: "Connection with master lost.")  // CLIENT KILL on this replica
            return
        }
        let timeoutMs = Int64(context.config.withLock { $0.integer("repl-timeout") }) * 1000
        switch link.state {
        case .connect:
            if mono >= link.nextAttemptMs && link.closedClient == nil { connectToMaster(link) }
        case .connecting, .handshake:
            if mono - link.lastIOMs > timeoutMs { dropMasterLink(link, reason: "Timeout connecting to the MASTER...") }
        case .transfer:
            if mono - link.lastIOMs > timeoutMs {
                dropMasterLink(link, reason: "Timeout receiving bulk data from MASTER... If the problem persists try to set the 'repl-timeout' parameter in redis.conf to a larger value.")
            }
        case .loading:
            break
        case .connected:
            if mono - link.lastIOMs > timeoutMs {
                dropMasterLink(link, reason: "MASTER timeout: no data nor PING received...")
            } else if mono - link.lastAckMs >= 1000 {
                sendAck(link, offset: link.appliedOffset.offset)
            }
        }
    }
}

/// A replication history as a dump keeps it (aux fields repl-id, repl-offset, repl-stream-db).
struct ReplicationHistory: Sendable {
    let replid: String
    let offset: Int64
    let db: Int

    var auxFields: [(String, String)] {
        [("repl-stream-db", String(db)), ("repl-id", replid), ("repl-offset", String(offset))]
    }

    /// The history in a loaded dump's aux fields, if it names one (Redis checks the same).
    init?(aux: [String: String], databases: Int) {
        guard let id = aux["repl-id"], id.utf8.count == 40, let offset = aux["repl-offset"].flatMap({ Int64($0) }),
              let db = aux["repl-stream-db"].flatMap({ Int($0) }), db >= 0, db < databases,
              Self.plausible(offset) else { return nil }
        self.init(replid: id, offset: offset, db: db)
    }

    /// A stream offset a peer or a dump may name: not negative, and far from overflowing
    /// when bytes are counted on from it.
    static func plausible(_ offset: Int64) -> Bool { offset >= 0 && offset < 1 << 62 }

    init(replid: String, offset: Int64, db: Int) {
        self.replid = replid
        self.offset = offset
        self.db = db
    }
}
