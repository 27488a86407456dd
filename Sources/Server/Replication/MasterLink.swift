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

/// The replica side of replication: the connection to the master and its state machine,
/// owned by worker 0 and driven by its epoll loop (`onEvent`, under `Worker.masterLinkToken`)
/// and its timer (`cron`). Once the master's data is loaded, the connection becomes a Client
/// flagged as the master whose commands run through the normal dispatch with their replies
/// dropped. The phases' steps are in MasterLinkHandshake, MasterLinkPayload and
/// MasterLinkStream; the worker's entry points in MasterLinkEntryPoints.
final class MasterLink: @unchecked Sendable {  // touched only by worker 0's thread
    /// The link's states and the moves between them (all through `transition(to:)`):
    ///
    ///     connect ──> connecting ──> handshake ──> transfer ──> loading ──> connected
    ///                                  └──────── +CONTINUE ─────────────────────┘
    ///
    /// and from any state back to `connect` (a failed connect, a drop, a timeout), where the
    /// timer connects again after a backoff.
    enum State: Equatable {
        case connect, connecting, handshake, transfer, loading, connected

        func allows(_ next: State) -> Bool {
            switch (self, next) {
            case (_, .connect),
                 (.connect, .connecting), (.connecting, .handshake), (.handshake, .transfer),
                 (.handshake, .connected), (.transfer, .loading), (.loading, .connected):
                return true
            default:
                return false
            }
        }
    }
    enum Expect { case pong, auth, replconf, psync }

    /// Worker 0, which owns the link: its loop, clients, dispatch and server context.
    unowned let worker: Worker
    let host: String
    let port: Int
    private(set) var state = State.connect
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

    init(host: String, port: Int, worker: Worker) {
        self.host = host
        self.port = port
        self.worker = worker
    }

    var context: ServerContext { worker.context }

    /// Whether this is still worker 0's link (a callback may come after it was replaced).
    var isCurrent: Bool { worker.masterLink === self }

    var roleState: String {
        switch state {
        case .connect: return "connect"
        case .connecting: return "connecting"
        case .handshake: return "handshake"
        case .transfer, .loading: return "sync"
        case .connected: return "connected"
        }
    }

    /// Every state change: checks the move and publishes the state INFO and ROLE show.
    func transition(to next: State) {
        assert(state.allows(next), "master link: no move from \(state) to \(next)")
        state = next
        let shown = roleState
        context.replication.status.withLock { $0.masterLinkState = shown }
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
    private func reset() {
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

    // MARK: Connection

    func connect() {
        let fd = host.withCString { vk_connect_tcp($0, Int32(clamping: port)) }
        lastIOMs = Clock.monotonicMilliseconds()
        guard fd >= 0 else {
            Log.warning("Unable to connect to MASTER: \(String(cString: strerror(-fd)))")
            scheduleRetry()
            return
        }
        Log.notice("Connecting to MASTER \(host):\(port)")
        Log.notice("MASTER <-> REPLICA sync started")
        self.fd = fd
        worker.loop.add(fd, events: EventLoop.readable | EventLoop.writable, token: Worker.masterLinkToken)
        transition(to: .connecting)
    }

    private func scheduleRetry() {
        nextAttemptMs = Clock.monotonicMilliseconds() + retryDelayMs
        retryDelayMs = min(retryDelayMs * 2, MasterLink.maxRetryDelayMs)
        transition(to: .connect)
    }

    /// Closes the link (logging `reason`) and, unless it is being replaced, retries later.
    /// A link that was streaming keeps its master's history for a partial resync: the offset
    /// of what was dispatched, which all runs even if some of it is still on its way to a
    /// shard (the next link waits for that, see `closedClient`).
    func drop(reason: String?) {
        if let reason { Log.warning(reason) }
        let wasConnected = state == .connected
        if let c = client {
            if wasConnected {
                cachedReplid = masterReplid
                cachedOffset = processedOffset
                cachedDB = c.db
                Log.notice("Caching the disconnected master state.")
            }
            // ReplicaMode.masterClientID stays: the commands still running are the master's
            // (their writes see keys past their deadline, as the master's do). The next
            // link's client replaces it.
            if !c.isClosed { worker.closeClient(c) }  // closes the fd
            if c.hasOutstandingReplies { closedClient = c }
        } else if fd >= 0 {
            worker.loop.remove(fd)
            Socket.close(fd)
        }
        reset()
        let now = Clock.unixMilliseconds()
        let replication = context.replication
        replication.status.withLock { s in
            s.linkUp = false
            replication.masterLinkUp.store(false, ordering: .relaxed)
            s.syncInProgress = false
            if wasConnected { s.linkDownSinceMs = now }
            if self.cachedReplid != nil {
                s.processedOffset = self.cachedOffset
                s.readOffset = self.cachedOffset
                s.passedOnOffset = self.cachedOffset
            }
        }
        scheduleRetry()
    }

    /// Writes what the link has queued; waits for EPOLLOUT if the socket is full.
    func flush() {
        guard fd >= 0, !output.isEmpty else { return }
        switch Socket.write(fd, from: &output) {
        case .closed, .failed:
            drop(reason: "Error writing to MASTER: connection lost.")
            return
        default: break
        }
        let wants = !output.isEmpty
        if wants != wantsWrite {
            wantsWrite = wants
            worker.loop.modify(fd, events: EventLoop.readable | (wants ? EventLoop.writable : 0), token: Worker.masterLinkToken)
        }
    }

    func send(_ words: [String]) {
        queue(words)
        flush()
    }

    func sendAck(offset: Int64) {
        lastAckMs = Clock.monotonicMilliseconds()
        send(["REPLCONF", "ACK", String(offset)])
    }

    // MARK: Events

    /// The link's socket is ready (`flags`: epoll's).
    func onEvent(flags: UInt32) {
        guard fd >= 0 else { return }
        if state == .connecting {
            let error = vk_socket_error(fd)
            if error != 0 {
                drop(reason: "Error condition on socket for SYNC: \(String(cString: strerror(error)))")
                return
            }
            guard flags & EventLoop.writable != 0 else { return }
            Log.notice("Non blocking connect for SYNC fired the event.")
            expecting = [.pong]
            worker.loop.modify(fd, events: EventLoop.readable, token: Worker.masterLinkToken)
            transition(to: .handshake)
            send(["PING"])
            return
        }
        if flags & EventLoop.writable != 0 { flush() }
        guard fd >= 0, flags & (EventLoop.readable | EventLoop.hangup) != 0 else { return }
        let result: IOResult
        if let c = client {
            result = Socket.read(fd, into: &c.input)
        } else {
            result = Socket.read(fd, into: &input)
        }
        switch result {
        case .bytes(let n):
            worker.stats.inputBytes.add(n, ordering: .relaxed)
            lastIOMs = Clock.monotonicMilliseconds()
            received(bytes: n)
        case .wouldBlock:
            break
        case .closed, .failed:
            drop(reason: state == .connected ? "Connection with master lost." : "Error reading from MASTER: connection lost.")
        }
    }

    private func received(bytes n: Int) {
        switch state {
        case .handshake: handshake()
        case .transfer: transfer()
        case .connected:
            guard let c = client else { return }
            readOffset += Int64(n)
            c.lastInteraction = worker.nowMs
            processStream(c)
        case .loading, .connect, .connecting:
            break  // the stream waits in the client's input until the load is done
        }
        if state != .connected && state != .loading && input.count > MasterLink.maxLineLength
            && !(state == .transfer && haveBulkHeader) {
            drop(reason: "Bad protocol from MASTER: a line of more than \(MasterLink.maxLineLength) bytes, are you sure the host and port are right?")
        }
    }

    // MARK: Timer (worker 0, every tick)

    func cron() {
        let mono = Clock.monotonicMilliseconds()
        if let c = client, c.isClosed {
            drop(reason: "Connection with master lost.")  // CLIENT KILL on this replica
            return
        }
        let timeoutMs = Int64(context.config.withLock { $0.integer("repl-timeout") }) * 1000
        switch state {
        case .connect:
            if mono >= nextAttemptMs && closedClient == nil { connect() }
        case .connecting, .handshake:
            if mono - lastIOMs > timeoutMs { drop(reason: "Timeout connecting to the MASTER...") }
        case .transfer:
            if mono - lastIOMs > timeoutMs {
                drop(reason: "Timeout receiving bulk data from MASTER... If the problem persists try to set the 'repl-timeout' parameter in redis.conf to a larger value.")
            }
        case .loading:
            break
        case .connected:
            if mono - lastIOMs > timeoutMs {
                drop(reason: "MASTER timeout: no data nor PING received...")
            } else if mono - lastAckMs >= 1000 {
                sendAck(offset: appliedOffset.offset)
            }
        }
    }
}

/// Text of a line from the master, for the log.
func masterText(_ line: [UInt8]) -> String { String(decoding: line, as: UTF8.self) }

/// Whether a line from the master starts with `prefix`.
func masterLine(_ line: [UInt8], startsWith prefix: String) -> Bool {
    line.count >= prefix.utf8.count && line.starts(with: prefix.utf8)
}
