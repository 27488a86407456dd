import Net
import RESP
import Shards
#if canImport(Glibc)
import Glibc
#endif

/// The master side of replication, run by the sequencer thread: merges the workers'
/// records into the one replication stream, keeps the backlog, and serves the replicas'
/// connections (full and partial resyncs, the stream, their ACKs) and WAIT.
final class ReplicationMaster {
    let context: ServerContext
    private var state: ReplicationState { context.replication }

    // MARK: Merging

    /// Record batches not yet merged, per worker, and the read position in the first one.
    private var queued: [[RecordBatch]]
    private var cursor: [Int]
    /// Records of operations still open, by tag.
    private var groups: [UInt64: Group] = [:]
    private struct Group {
        var commands: [GroupCommand] = []
        var touched = false
    }
    private typealias GroupCommand = (db: Int, bytes: [UInt8], routing: UInt32)
    /// Database of the last command in the stream (-1: unknown, SELECT before the next).
    private var streamDB = -1
    /// Everything numbered below this has been merged.
    private(set) var mergedBelow: UInt64 = 0

    /// The backlog, once the stream exists (Redis creates it with the first replica). A `let`
    /// so the per-command path appends without reference counting; `backlog` for the rest.
    private let stream = Backlog(after: 0)
    /// The append-only file, fed from the same merge (nil while the AOF is off).
    var aof: AOFWriter?
    /// An AOF turned on at run time, fed from its rewrite's point on.
    private var aofWaitingForRewrite: AOFWriter?
    /// appendonly no: the first sequence number the AOF does not get, and what runs after.
    private var aofStopAt: UInt64?
    /// Set by the sequencer for one merge: records from here on wait (an AOF stop among the
    /// events it has not handled yet).
    var aofCut: UInt64?
    private var aofStopThen: [@Sendable (Worker) -> Void] = []

    private var streamExists = false
    var backlog: Backlog? { streamExists ? stream : nil }
    private var replid: String

    // MARK: Replicas

    final class Replica {
        let fd: Int32
        let ip: String
        let port: Int
        let capabilities: Set<String>
        enum Phase { case waitingForSnapshot(UInt64), sendingPayload, online }
        var phase: Phase
        /// Bytes to write before the stream (replies, +FULLRESYNC, the RDB payload).
        /// Pieces written before the stream (replies, +FULLRESYNC, the RDB payload: shared by
        /// every replica of the same snapshot, not copied), and how much of the first is out.
        var preamble: [[UInt8]] = []
        var preambleSent = 0
        /// Offset of the next stream byte to write (valid once the stream starts).
        var position: Int64 = 0
        var streamStarted = false
        var ackOffset: Int64 = 0
        var lastAckMs: Int64
        var input = ByteBuffer(capacity: 1024)
        var parser = RequestParser(maxBulkLength: 1024 * 1024)
        var wantsWrite = false
        /// Unix second its stream was first seen over the soft output limit (0: not over).
        var softLimitSince: Int64 = 0
        let attachedMs: Int64
        init(_ h: ReplicaHandoff, phase: Phase, now: Int64) {
            fd = h.fd
            ip = h.ip
            port = h.listeningPort
            capabilities = h.capabilities
            self.phase = phase
            lastAckMs = now
            attachedMs = now
            if !h.pendingOutput.isEmpty { preamble = [h.pendingOutput] }
        }
        var isOnline: Bool { if case .online = phase { return true }; return false }
        /// A full resync whose snapshot point is not in the stream yet (+FULLRESYNC not sent).
        var awaitsSnapshotPoint: Bool {
            if case .waitingForSnapshot = phase { return position == 0 }
            return false
        }
    }
    private(set) var replicas: [Int32: Replica] = [:]
    private var nextSnapshotID: UInt64 = 0
    /// Full resyncs waiting for their snapshot's point in the stream, by snapshot id.
    private var snapshotOffsets: [UInt64: Int64] = [:]
    private var payloads: [UInt64: [UInt8]] = [:]

    // MARK: WAIT

    struct WaitRequest {
        let worker: Int
        let clientFD: Int32
        let clientID: UInt64
        let ticket: UInt32
        let replicas: Int
        let deadlineMs: Int64   // 0: forever
        /// Records numbered below this include every write the client made before WAIT.
        let sequenceBound: UInt64
        var targetOffset: Int64 = -1
        /// Its worker was told it waits (Worker.waitBlocks).
        var toldWaiting = false
    }
    private var waits: [WaitRequest] = []
    private var getAckRequested = false
    /// The last PING (or, while no replica is attached, the last pass): the next comes a
    /// repl-ping-replica-period later, never as a replica attaches.
    private var lastPingMs: Int64
    private var lastPublished: (offset: Int64, replicas: Int) = (-1, -1)
    private var lastPublishedMs: Int64 = 0
    private var publishPending = false

    // MARK: INFO and ROLE

    /// A question for the offset (INFO, ROLE): answered once the stream holds every record
    /// numbered below `sequenceBound`, so the published offset includes every write
    /// acknowledged before the question was asked.
    struct OffsetQuery {
        let sequenceBound: UInt64
        let worker: Int
        let answer: @Sendable (Worker) -> Void
    }
    private var offsetQueries: [OffsetQuery] = []

    /// Replies that go back to workers, sent by the sequencer after each pass.
    var outgoing: [(worker: Int, message: WorkerMessage)] = []

    static let tokenBase: UInt64 = 1 << 32

    init(context: ServerContext) {
        self.context = context
        queued = Array(repeating: [], count: context.workerCount)
        cursor = Array(repeating: 0, count: context.workerCount)
        replid = context.replication.status.withLock { $0.replid }
        lastPingMs = Clock.unixMilliseconds()
    }

    // MARK: Records

    func receive(_ batch: RecordBatch, from worker: Int) {
        queued[worker].append(batch)
    }

    /// Merges every record numbered below `bound` into the stream, in number order.
    func merge(below bound: UInt64) {
        while true {
            // The worker whose next record is the oldest, and the next oldest of the others:
            // that worker's records up to the latter go in one run (with one worker, whole batches).
            var best = -1
            var bestSeq = UInt64.max, secondSeq = UInt64.max
            for w in queued.indices where !queued[w].isEmpty {
                let seq = queued[w][0].bytes.readable.loadUnaligned(fromByteOffset: cursor[w], as: UInt64.self)
                if seq < bestSeq {
                    secondSeq = bestSeq
                    bestSeq = seq
                    best = w
                } else if seq < secondSeq {
                    secondSeq = seq
                }
            }
            guard best >= 0, bestSeq < bound, bestSeq < aofCut ?? .max else { break }
            if let stopAt = aofStopAt, bestSeq >= stopAt {
                stopAOF()
                continue
            }
            let limit = min(bound, secondSeq, aofStopAt ?? .max, aofCut ?? .max)
            let batch = queued[best][0]
            let bytes = batch.bytes.readable
            var o = cursor[best]
            while o < bytes.count {
                let r = PropagationLog.record(in: bytes, at: o)
                guard r.sequence < limit else { break }
                apply(tag: r.tag, parent: r.parent, db: r.db, kind: r.kind, routing: r.routing, payload: r.payload)
                o = r.next
            }
            cursor[best] = o
            if o >= bytes.count {
                queued[best].removeFirst()
                cursor[best] = 0
            }
        }
        mergedBelow = max(mergedBelow, min(bound, aofCut ?? .max))
        if let stopAt = aofStopAt, mergedBelow >= stopAt { stopAOF() }
    }

    private func apply(tag: UInt64, parent: UInt64, db: Int, kind: PropagationLog.Kind, routing: UInt32,
                       payload: UnsafeRawBufferPointer) {
        switch kind {
        case .command:
            if tag == 0 {
                emit(db: db, payload, routing: routing)
            } else {
                groups[tag, default: Group()].commands.append((db, Array(payload), routing))
            }
        case .touched:
            groups[tag, default: Group()].touched = true
        case .complete:
            guard let group = groups.removeValue(forKey: tag) else { return }
            var commands = group.commands
            if payload.count > 0 { commands = [(db, Array(payload), routing)] }  // the operation as itself
            if parent != 0 {
                groups[parent, default: Group()].commands.append(contentsOf: commands)
                return
            }
            emitGroup(commands)
        case .raw:
            ensureBacklog()
            stream.append(payload)
            streamDB = -1
        case .snapshot:
            let id = payload.loadUnaligned(as: UInt64.self)
            if id & AOFWriter.rewritePointFlag != 0 {
                if let waiting = aofWaitingForRewrite {
                    aof = waiting
                    aofWaitingForRewrite = nil
                    waiting.startedAtRewritePoint()
                } else {
                    aof?.rewritePointReached()
                }
                return
            }
            ensureBacklog()
            snapshotOffsets[id] = stream.endOffset
            // The new replica's stream starts here, in a database it cannot know: the next
            // command gets a SELECT (Redis sets slaveseldb = -1 in
            // replicationSetupSlaveForFullResync), which every other replica receives too.
            streamDB = -1
            startFullResync(snapshot: id)
        }
    }

    private func ensureBacklog() {
        if !streamExists {
            stream.reset(after: state.status.withLock { $0.masterReplOffset })
            streamExists = true
        }
    }

    private func emit(db: Int, _ command: UnsafeRawBufferPointer, routing: UInt32) {
        if routing & PropagationLog.notForAOF == 0 { aof?.append(db: db, command) }
        // Without replicas (the AOF alone records) there is no backlog, as in Redis.
        guard streamExists, routing & PropagationLog.notForReplicas == 0 else { return }
        if db != streamDB && db >= 0 {
            let digits = String(db)
            stream.append("*2\r\n$6\r\nSELECT\r\n$\(digits.utf8.count)\r\n\(digits)\r\n")
            streamDB = db
        }
        stream.append(command)
    }

    /// An operation's commands: alone if one, else wrapped in MULTI ... EXEC so replicas
    /// apply them at once (as Redis propagates a transaction).
    /// A group's commands all come from one kind of worker log: a replica's go to the AOF
    /// only, PUBLISH to replicas only (a transaction's PUBLISHes leave its AOF form).
    private func emitGroup(_ commands: [GroupCommand]) {
        guard !commands.isEmpty else { return }
        if commands.count == 1 {
            commands[0].bytes.withUnsafeBytes { emit(db: commands[0].db, $0, routing: commands[0].routing) }
            return
        }
        if let aof {
            // Wrapped as Redis's propagatePendingCommands wraps what reaches its AOF.
            emitTransaction(commands.filter { $0.routing & PropagationLog.notForAOF == 0 }, to: aof)
        }
        if streamExists {
            // Only a replica's own writes are left out: never some of a group.
            emitTransactionToStream(commands.filter { $0.routing & PropagationLog.notForReplicas == 0 })
        }
    }

    private func emitTransaction(_ commands: [GroupCommand], to aof: AOFWriter) {
        guard !commands.isEmpty else { return }
        if commands[0].db != aof.selectedDB { aof.appendSelect(commands[0].db) }
        aof.append("*1\r\n$5\r\nMULTI\r\n")
        for c in commands { c.bytes.withUnsafeBytes { aof.append(db: c.db, $0) } }
        aof.append("*1\r\n$4\r\nEXEC\r\n")
    }

    private func emitTransactionToStream(_ commands: [GroupCommand]) {
        guard !commands.isEmpty else { return }
        if commands.count == 1 {
            commands[0].bytes.withUnsafeBytes { emit(db: commands[0].db, $0, routing: PropagationLog.notForAOF) }
            return
        }
        if commands[0].db != streamDB {
            // SELECT goes before MULTI, as Redis writes it.
            let digits = String(commands[0].db)
            stream.append("*2\r\n$6\r\nSELECT\r\n$\(digits.utf8.count)\r\n\(digits)\r\n")
            streamDB = commands[0].db
        }
        stream.append("*1\r\n$5\r\nMULTI\r\n")
        for c in commands { c.bytes.withUnsafeBytes { emit(db: c.db, $0, routing: PropagationLog.notForAOF) } }
        stream.append("*1\r\n$4\r\nEXEC\r\n")
    }

    /// A command of the master's own in the stream (PING, REPLCONF GETACK): db-less.
    private func emitControl(_ text: String) {
        ensureBacklog()
        stream.append(text)
    }

    // MARK: Replicas attaching

    func attach(_ h: ReplicaHandoff, loop: inout EventLoop, now: Int64) {
        let psync2 = h.capabilities.contains("psync2")
        let (currentID, id2, second) = state.status.withLock { ($0.replid, $0.replid2, $0.secondReplOffset) }
        replid = currentID
        // Partial resync: the replica's history is ours (or our master's before we were
        // promoted, up to where they part), and the backlog still holds what it misses.
        if let backlog, h.offset > 0,
           h.replid == currentID || (h.replid == id2 && h.offset <= second),
           backlog.covers(h.offset) {
            let replica = Replica(h, phase: .online, now: now)
            replica.preamble.append(Array((psync2 ? "+CONTINUE \(currentID)\r\n" : "+CONTINUE\r\n").utf8))
            replica.position = h.offset
            replica.streamStarted = true
            add(replica, loop: &loop)
            state.syncPartialOK.add(1, ordering: .relaxed)
            Log.notice("Partial resynchronization request from \(h.ip):\(h.listeningPort) accepted. Sending \(backlog.endOffset + 1 - h.offset) bytes of backlog starting from offset \(h.offset).")
            return
        }
        if h.replid != "?" { state.syncPartialErr.add(1, ordering: .relaxed) }
        state.syncFull.add(1, ordering: .relaxed)
        nextSnapshotID += 1
        let id = nextSnapshotID
        let replica = Replica(h, phase: .waitingForSnapshot(id), now: now)
        add(replica, loop: &loop)
        Log.notice("Full resync requested by replica \(h.ip):\(h.listeningPort)")
        // The backlog exists from the first replica on (records may already flow for the AOF).
        ensureBacklog()
        // Workers start recording from now on; the snapshot's point in their records says
        // where this replica's stream begins.
        state.propagating.store(true, ordering: .releasing)
        outgoing.append((0, .control({ w in w.requestReplicationSnapshot(id: id) })))
    }

    private func add(_ replica: Replica, loop: inout EventLoop) {
        if replicas.isEmpty { lastPingMs = replica.attachedMs }
        replicas[replica.fd] = replica
        loop.add(replica.fd, events: EventLoop.readable, token: Self.tokenBase | UInt64(UInt32(bitPattern: replica.fd)))
        replica.wantsWrite = false
    }

    /// The snapshot's point in the stream is known: tell the replica.
    private func startFullResync(snapshot id: UInt64) {
        guard let offset = snapshotOffsets[id] else { return }
        for r in replicas.values {
            guard case .waitingForSnapshot(let wanted) = r.phase, wanted == id, !r.streamStarted else { continue }
            if !r.capabilities.contains("legacy-sync") {
                r.preamble.append(Array("+FULLRESYNC \(replid) \(offset)\r\n".utf8))
            }
            r.position = offset + 1
        }
        sendPayloadIfReady(id)
    }

    func payloadArrived(id: UInt64, rdb: [UInt8]?) {
        guard let rdb else {
            for r in replicas.values {
                if case .waitingForSnapshot(let wanted) = r.phase, wanted == id { drop(r, reason: "the snapshot for its full resync failed") }
            }
            return
        }
        payloads[id] = rdb
        sendPayloadIfReady(id)
    }

    private func sendPayloadIfReady(_ id: UInt64) {
        guard snapshotOffsets[id] != nil, let rdb = payloads[id] else { return }
        for r in replicas.values {
            guard case .waitingForSnapshot(let wanted) = r.phase, wanted == id else { continue }
            r.preamble.append(Array("$\(rdb.count)\r\n".utf8))
            r.preamble.append(rdb)
            r.phase = .sendingPayload
            r.streamStarted = true
        }
        payloads[id] = nil
        snapshotOffsets[id] = nil
    }

    // MARK: I/O

    func handleEvent(fd: Int32, flags: UInt32, loop: inout EventLoop, now: Int64) {
        guard let r = replicas[fd] else { return }
        if flags & (EventLoop.readable | EventLoop.hangup) != 0 {
            switch Socket.read(fd, into: &r.input) {
            case .bytes:
                readAcks(r, now: now)
                // A replica sends short REPLCONF ACKs: one that piles up input is misbehaving.
                if r.input.count > 64 * 1024 {
                    drop(r, reason: "sent 64 KB without a complete command")
                    return
                }
            case .wouldBlock: break
            case .closed, .failed:
                drop(r, reason: "connection lost")
                return
            }
        }
        if flags & EventLoop.writable != 0 { write(r, loop: &loop) }
    }

    /// Replicas send only REPLCONF ACK <offset> [FACK <offset>]; anything else is ignored
    /// (as Redis ignores commands from a replica), a protocol error drops the replica.
    private func readAcks(_ r: Replica, now: Int64) {
        var position = 0
        while position < r.input.count {
            let frame = UnsafeRawBufferPointer(start: r.input.base + position, count: r.input.count - position)
            var consumed = 0
            switch r.parser.parse(frame, consumed: &consumed) {
            case .command:
                position += consumed
                let args = r.parser.arguments(in: frame)
                if args.count >= 3, argIs(args[0], "replconf"), argIs(args[1], "ack"),
                   let offset = Int64(args.string(2)) {
                    r.ackOffset = max(r.ackOffset, offset)
                    r.lastAckMs = now
                }
            case .empty:
                position += consumed
            case .incomplete:
                r.input.discardFront(position)
                return
            case .protocolError:
                drop(r, reason: "protocol error")
                return
            }
        }
        r.input.discardFront(position)
    }

    /// Writes what the replica is owed: its preamble, then the stream from its position.
    private func write(_ r: Replica, loop: inout EventLoop) {
        var blocked = false
        while let piece = r.preamble.first {
            if r.preambleSent >= piece.count {
                r.preamble.removeFirst()
                r.preambleSent = 0
                continue
            }
            let n = piece.withUnsafeBytes { b in
                Glibc.write(r.fd, b.baseAddress! + r.preambleSent, b.count - r.preambleSent)
            }
            if n > 0 { r.preambleSent += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { blocked = errno == EAGAIN; if blocked { break } else { continue } }
            drop(r, reason: "write error")
            return
        }
        if !blocked && r.preamble.isEmpty {
            if case .sendingPayload = r.phase {
                // The payload is out: the replica loads it, then takes the stream.
                r.phase = .online
                r.lastAckMs = Clock.unixMilliseconds()
                Log.notice("Synchronization with replica \(r.ip):\(r.port) succeeded")
            }
            if r.streamStarted, let backlog {
                while r.position <= backlog.endOffset {
                    let run = backlog.run(from: r.position)
                    let n = Glibc.write(r.fd, run.baseAddress!, run.count)
                    if n > 0 { r.position += Int64(n); continue }
                    if n < 0 && errno == EINTR { continue }
                    if n < 0 && errno == EAGAIN { blocked = true; break }
                    drop(r, reason: "write error")
                    return
                }
            }
        }
        if blocked != r.wantsWrite {
            r.wantsWrite = blocked
            loop.modify(r.fd, events: EventLoop.readable | (blocked ? EventLoop.writable : 0),
                        token: Self.tokenBase | UInt64(UInt32(bitPattern: r.fd)))
        }
    }

    /// Sends what is owed to every replica that is not waiting for its socket.
    func flush(loop: inout EventLoop) {
        for r in Array(replicas.values) where !r.wantsWrite {
            let owesStream = r.streamStarted && (backlog.map { r.position <= $0.endOffset } ?? false)
            if !r.preamble.isEmpty || owesStream { write(r, loop: &loop) }
        }
    }

    func drop(_ r: Replica, reason: String) {
        guard replicas.removeValue(forKey: r.fd) != nil else { return }
        Log.warning("Connection with replica \(r.ip):\(r.port) lost (\(reason)).")
        Socket.close(r.fd)
    }

    func dropAll(reason: String) {
        for r in Array(replicas.values) { drop(r, reason: reason) }
    }

    // MARK: Timer work

    /// The configuration the sequencer follows, re-read from CONFIG every 100 ms (not every pass).
    private struct Settings {
        var pingPeriodMs: Int64 = 10_000
        var backlogSize: Int64 = 1 << 20
        var outputLimits = OutputBufferLimit(hardBytes: 256 << 20, softBytes: 64 << 20, softSeconds: 60)
        var timeoutMs: Int64 = 60_000
        var maxLagMs: Int64 = 10_000
        var appendFsync = AOFWriter.Policy.everysec
        var aofTimestamps = false
        var readAtMs: Int64 = 0
    }
    private var settings = Settings()

    private func refreshSettings(now: Int64) {
        guard now - settings.readAtMs >= 100 else { return }
        settings = context.config.withLock { c in
            Settings(pingPeriodMs: Int64(c.integer("repl-ping-replica-period")) * 1000,
                     backlogSize: Int64(c.integer("repl-backlog-size")),
                     outputLimits: OutputBufferLimit.parse(c.value("client-output-buffer-limit"), for: .replica),
                     timeoutMs: Int64(c.integer("repl-timeout")) * 1000,
                     maxLagMs: Int64(c.integer("min-replicas-max-lag")) * 1000,
                     appendFsync: AOFWriter.Policy(c.value("appendfsync")),
                     aofTimestamps: c.bool("aof-timestamp-enabled"),
                     readAtMs: now)
        }
        aof?.policy = context.durability.holdsReplies.load(ordering: .relaxed) ? .always : settings.appendFsync
        aof?.timestamps = settings.aofTimestamps
    }

    /// Once per pass: limits, pings, WAITs, trimming, INFO.
    func tick(now: Int64, loop: inout EventLoop) {
        refreshSettings(now: now)
        enforceOutputLimits(now: now)
        dropTimedOutReplicas(now: now)
        let period = settings.pingPeriodMs
        // A replica's replicas get its master's PINGs, passed on with the stream (Redis's
        // replicationFeedSlaves emits nothing of its own while masterhost is set).
        let quiet = replicas.isEmpty || state.isReplica.load(ordering: .relaxed)
        let holding = holdsControlForSnapshotPoint(now: now)
        if now - lastPingMs >= period && (quiet || !holding) {
            lastPingMs = now
            if !quiet { emitControl("*1\r\n$4\r\nPING\r\n") }
        }
        serveWaits(now: now)
        if getAckRequested && !holding {
            getAckRequested = false
            if !replicas.isEmpty { emitControl("*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n") }
        }
        flush(loop: &loop)
        serveOffsetQueries(now: now)
        if let backlog {
            let size = settings.backlogSize
            // Replicas whose stream has a start keep it; the others start at the end or later.
            let needed = replicas.values.filter { $0.position > 0 }.map(\.position).min() ?? backlog.endOffset + 1
            backlog.trim(toSize: size, keepFrom: needed)
        }
        publish(now: now)
    }

    /// Redis answers PSYNC with +FULLRESYNC at once, so nothing of its own (PING, GETACK)
    /// lands between a replica's PSYNC and the offset it is given. Ours waits for the
    /// snapshot's point, and the master's own commands wait for it too, for up to a second:
    /// a snapshot held back longer (by a running save) lets them in, as the stream moves on
    /// in Redis while a replica waits for a BGSAVE to end.
    private func holdsControlForSnapshotPoint(now: Int64) -> Bool {
        replicas.values.contains { $0.awaitsSnapshotPoint && now - $0.attachedMs < 1000 }
    }

    /// client-output-buffer-limit replica: a replica that owes too much is dropped, by the
    /// rule normal clients follow (Redis's checkClientOutputBufferLimits: the soft limit after
    /// more than its seconds), logged as Redis logs it.
    private func enforceOutputLimits(now: Int64) {
        guard let backlog else { return }
        var limit = settings.outputLimits
        // As in Redis, a replica hard limit below the backlog size is raised to it: a partial
        // resync would otherwise succeed only to be dropped.
        if limit.hardBytes > 0 && limit.hardBytes < UInt64(settings.backlogSize) {
            limit.hardBytes = UInt64(settings.backlogSize)
        }
        for r in Array(replicas.values) {
            // The stream it has yet to receive, counted from its start point (also while the
            // RDB payload is still on its way); the payload itself is not charged, as in Redis.
            let owed = r.position > 0 ? backlog.endOffset + 1 - r.position : 0
            if limit.reached(usage: UInt64(max(owed, 0)), nowSeconds: now / 1000, softSince: &r.softLimitSince) {
                Log.warning("Client replica \(r.ip):\(r.port) scheduled to be closed ASAP for overcoming of output buffer limits.")
                drop(r, reason: "output buffer limit: \(owed) bytes owed")
            }
        }
    }

    /// repl-timeout: an online replica that sent no ACK for that long is gone (Redis's
    /// "Disconnecting timedout replica").
    private func dropTimedOutReplicas(now: Int64) {
        let timeout = settings.timeoutMs
        for r in Array(replicas.values) where r.isOnline && now - r.lastAckMs > timeout {
            drop(r, reason: "timeout: no ACK for \(timeout / 1000) seconds")
        }
    }

    // MARK: WAIT

    /// A WAIT whose client closed is answered at once (Redis unblocks a disconnected client).
    func cancelWait(clientID: UInt64) {
        waits.removeAll { w in
            guard w.clientID == clientID else { return false }
            answer(w, count: 0)
            return true
        }
    }

    /// CLIENT UNBLOCK: a WAIT answered early, as Redis's timeout reply (the replicas that
    /// acknowledged its offset so far) or the UNBLOCKED error.
    func unblockWait(clientID: UInt64, error: Bool) {
        waits.removeAll { w in
            guard w.clientID == clientID else { return false }
            let acked = w.targetOffset < 0 ? 0 : replicas.values.filter { $0.isOnline && $0.ackOffset >= w.targetOffset }.count
            answer(w, count: acked, unblockedWithError: error)
            return true
        }
    }

    /// Sends a WAIT's answer to its client's worker.
    private func answer(_ w: WaitRequest, count: Int, unblockedWithError: Bool = false) {
        let ticket = w.ticket, fd = w.clientFD, id = w.clientID
        outgoing.append((w.worker, .control({ worker in
            worker.finishWait(fd: fd, id: id, ticket: ticket, count: count, unblockedWithError: unblockedWithError)
        })))
    }

    func addWait(_ w: WaitRequest) {
        waits.append(w)
    }

    func addOffsetQuery(_ q: OffsetQuery) {
        offsetQueries.append(q)
    }

    /// Publishes the fields INFO and ROLE read, then lets each question whose records are all
    /// merged be answered (the answers leave after this pass, behind the publication).
    private func serveOffsetQueries(now: Int64) {
        guard offsetQueries.contains(where: { mergedBelow >= $0.sequenceBound }) else { return }
        publish(now: now, force: true)
        var still: [OffsetQuery] = []
        for q in offsetQueries {
            if mergedBelow >= q.sequenceBound { outgoing.append((q.worker, .control(q.answer))) } else { still.append(q) }
        }
        offsetQueries = still
    }

    private func serveWaits(now: Int64) {
        guard !waits.isEmpty else { return }
        var still: [WaitRequest] = []
        for var w in waits {
            if w.targetOffset < 0 {
                guard mergedBelow >= w.sequenceBound else { still.append(w); continue }
                w.targetOffset = backlog?.endOffset ?? state.status.withLock { $0.masterReplOffset }
            }
            let acked = replicas.values.filter { $0.isOnline && $0.ackOffset >= w.targetOffset }.count
            if acked >= w.replicas || (w.deadlineMs != 0 && now >= w.deadlineMs) {
                answer(w, count: acked)
            } else {
                getAckRequested = true
                if !w.toldWaiting {
                    // Redis would have blocked the client: its worker closes it if its peer
                    // hung up (HangUps.swift). Once per WAIT.
                    w.toldWaiting = true
                    let (fd, id) = (w.clientFD, w.clientID)
                    outgoing.append((w.worker, .control({ worker in worker.waitBlocks(fd: fd, id: id) })))
                }
                still.append(w)
            }
        }
        waits = still
    }

    /// How long the sequencer may sleep. Records left unmerged wait only for a worker to
    /// clear its floor (it does right after handing its records over, without waking the
    /// sequencer again), so they get another pass within a millisecond, and so do questions
    /// for the offset; WAIT deadlines need a fine clock, replicas a coarse one.
    var timerMs: Int32 {
        if queued.contains(where: { !$0.isEmpty }) {
            // Replies held for appendfsync always wait for this merge: not a millisecond
            // (the caller yields the core to the worker that is clearing its floor).
            return context.durability.holdsReplies.load(ordering: .relaxed) ? 0 : 1
        }
        if !offsetQueries.isEmpty || durabilityWanted { return 1 }
        return !waits.isEmpty || publishPending ? 5 : !replicas.isEmpty ? 100 : -1
    }

    // MARK: Replica side

    /// This server loaded its master's snapshot: its stream is now the master's.
    func resetStream(replid newID: String, offset: Int64) {
        dropAll(reason: "the master changed")
        groups.removeAll()
        streamDB = -1
        replid = newID
        stream.reset(after: offset)
        streamExists = true
        state.status.withLock { s in
            s.replid = newID
            s.replid2 = String(repeating: "0", count: 40)
            s.secondReplOffset = -1
            s.masterReplOffset = offset
        }
    }

    // MARK: INFO

    private func publish(now: Int64, force: Bool = false) {
        let offset = backlog?.endOffset ?? -1
        // min-replicas-to-write reads this: every 10 ms is fresh enough, except when replicas
        // come or go; INFO and ROLE ask for a fresh one (`force`, see serveOffsetQueries).
        let changed = offset != lastPublished.offset || !replicas.isEmpty
        guard force || replicas.count != lastPublished.replicas || (changed && now - lastPublishedMs >= 10) else {
            publishPending = changed   // the timer brings the sequencer back for it
            return
        }
        publishPending = false
        lastPublished = (offset, replicas.count)
        lastPublishedMs = now
        let infos = replicas.values.sorted { $0.fd < $1.fd }.map { r -> ReplicationState.ReplicaInfo in
            let phase: String
            switch r.phase {
            case .waitingForSnapshot: phase = "wait_bgsave"
            case .sendingPayload: phase = "send_bulk"
            case .online: phase = "online"
            }
            return .init(ip: r.ip, port: r.port, state: phase, ackOffset: r.ackOffset, lastAckMs: r.lastAckMs)
        }
        let maxLag = settings.maxLagMs
        state.backlogMemory.store(backlog?.memory ?? 0, ordering: .relaxed)
        state.goodReplicas.store(replicas.values.filter { $0.isOnline && now - $0.lastAckMs <= maxLag }.count,
                                 ordering: .relaxed)
        state.status.withLock { s in
            if let backlog {
                s.masterReplOffset = backlog.endOffset
                s.backlogActive = true
                s.backlogFirstByteOffset = backlog.startOffset
                s.backlogHistlen = backlog.historyLength
            }
            s.replicas = infos
        }
    }
}

// MARK: The append-only file

/// The AOF's writer is fed by `emit`; these are its comings and goings, in stream order.
extension ReplicationMaster {
    func takeOpenedAOF() {
        guard let opened = context.aof.opened.withLock({ o in defer { o = nil }; return o }) else { return }
        context.aof.pendingOpen.store(false, ordering: .relaxed)
        let writer = AOFWriter(files: opened.files, state: context.aof)
        context.config.withLock { c in
            writer.policy = AOFWriter.Policy(c.value("appendfsync"))
            writer.timestamps = c.bool("aof-timestamp-enabled")
        }
        if opened.waitsForRewrite { aofWaitingForRewrite = writer } else { aof = writer }
    }

    /// Once per pass, after the merge: writes what was merged to the AOF, fsyncs it as
    /// appendfsync says, and while replies are held publishes what is durable (DurabilityGate).
    func flushAOF(wakers: [Waker]) {
        let holding = context.durability.holdsReplies.load(ordering: .relaxed)
        if let aof {
            // CONFIG SET appendfsync always holds replies at once: fsync from this pass on,
            // not from the next settings read.
            if holding { aof.policy = .always }
            aof.flush(now: Clock.monotonicMilliseconds())
            if holding && !aof.isDurable { return }
        }
        // Without a writer (appendonly turned on, waiting for its rewrite's point) held
        // replies have nothing to wait for.
        if holding { context.durability.publish(durableBelow: mergedBelow, wakers: wakers) }
    }

    /// A worker holds replies for a number not yet durable: the sequencer must come back.
    var durabilityWanted: Bool {
        context.durability.holdsReplies.load(ordering: .relaxed)
            && context.durability.somebodyWaits(durable: context.durability.durableBelow.load(ordering: .relaxed))
    }

    func aofRewriteEnded(temp: String?) {
        if let writer = aof ?? aofWaitingForRewrite {
            writer.rewriteEnded(temp: temp)
        } else {
            // appendonly no meanwhile: the rewrite's base is not wanted.
            if let temp { unlink(temp) }
            context.aof.rewriteInProgress.store(false, ordering: .releasing)
        }
    }

    /// appendonly no: writes numbered from `bound` on (made after CONFIG SET answered)
    /// stay out of the file, every earlier one goes in.
    func stopAOF(atSequence bound: UInt64, then: (@Sendable (Worker) -> Void)?) {
        aofStopAt = bound
        if let then { aofStopThen.append(then) }
        if mergedBelow >= bound { stopAOF() }
    }

    private func stopAOF() {
        aofStopAt = nil
        for then in aofStopThen { outgoing.append((0, .control(then))) }
        aofStopThen = []
        aof?.stop()
        aofWaitingForRewrite?.stop()
        aof = nil
        aofWaitingForRewrite = nil
    }
}
