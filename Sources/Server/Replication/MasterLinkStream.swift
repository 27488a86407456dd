import CShim
import Net
import RESP
import Shards
import Synchronization
#if canImport(Glibc)
import Glibc
import Values
#endif

/// The master's command stream once the link is up: run through the master client, passed
/// on to this server's own replicas, and counted (processed, applied and read offsets).
extension MasterLink {
    // MARK: Stream

    /// The link carries the master's command stream from here: it becomes the master client.
    /// `ackNow`: acknowledge at once (after a diskless payload, which the master waits for).
    func startStreaming(replid: String, offset: Int64, db: Int, ackNow: Bool) {
        let worker = self.worker
        let id = context.nextClientID.add(1, ordering: .relaxed).oldValue
        let c = Client(fd: fd, id: id, peer: "\(host):\(port)", local: Socket.localAddress(fd),
                       now: worker.nowMs, maxBulk: LiveConfig.protoMaxBulkLen.load(ordering: .relaxed))
        c.isMaster = true
        c.repliesOff = true  // nothing is written back but ACKs, which the link sends itself
        c.authenticated = true
        c.db = db
        c.input.append(input.readable)
        input.clear()
        worker.clients.add(c)
        context.connectedClients.add(1, ordering: .relaxed)
        client = c
        masterReplid = replid
        processedOffset = offset
        appliedOffset.reset(to: offset)
        readOffset = offset + Int64(c.input.count)
        retryDelayMs = MasterLink.firstRetryDelayMs
        ReplicaMode.masterClientID.store(id, ordering: .relaxed)
        // A replica always keeps the stream it applies (backlog, its own replicas), as Redis
        // creates its backlog on the first sync: the workers start recording.
        let replication = context.replication
        replication.propagating.store(true, ordering: .releasing)
        let now = Clock.unixMilliseconds()
        replication.status.withLock { s in
            s.linkUp = true
            replication.masterLinkUp.store(true, ordering: .relaxed)
            s.syncInProgress = false
            s.lastIOMs = now
            s.linkDownSinceMs = 0
            s.processedOffset = offset
            s.passedOnOffset = offset
            s.readOffset = offset + Int64(c.input.count)
        }
        transition(to: .connected)
        if ackNow {
            sendAck(offset: offset)  // a master that streamed the payload waits for it to put us online
        } else {
            lastAckMs = Clock.monotonicMilliseconds()  // the timer's ACK comes a second later
        }
        processStream(c)
    }

    /// Runs the complete commands in the master client's input (Dispatch.process sends the
    /// master client here, through Worker.processMasterStream). Each one's bytes are counted
    /// and passed on after it ran; REPLCONF GETACK is answered at once with the offset before
    /// it, as Redis does.
    func processStream(_ c: Client) {
        let worker = self.worker
        guard isCurrent, client === c, state == .connected, worker.masterStreamHold == .none else { return }
        var position = 0
        parsing: while position < c.input.count && !c.pausedByOperation && !c.isClosed && client === c {
            let frame = UnsafeRawBufferPointer(start: c.input.base + position, count: c.input.count - position)
            var consumed = 0
            switch c.parser.parse(frame, consumed: &consumed) {
            case .command:
                let args = c.parser.arguments(in: frame)
                if argIs(args[0], "replconf") {
                    if args.count >= 2 && argIs(args[1], "getack") { answerGetAck() }
                } else {
                    worker.execute(c, args)
                }
                applied(UnsafeRawBufferPointer(rebasing: frame[0..<consumed]), inTransaction: c.transaction != nil)
                position += consumed
            case .empty:
                applied(UnsafeRawBufferPointer(rebasing: frame[0..<consumed]), inTransaction: c.transaction != nil)
                position += consumed
            case .incomplete:
                break parsing
            case .protocolError(let message):
                c.input.discardFront(position)
                publishOffsets()
                drop(reason: "Protocol error from MASTER (\(message)): dropping the link")
                return
            }
        }
        if client === c { c.input.discardFront(position) }
        publishOffsets()
    }

    /// A command from the master was dispatched: count its bytes and pass them on to this
    /// server's own replicas (a transaction's, once it is over).
    private func applied(_ bytes: UnsafeRawBufferPointer, inTransaction: Bool) {
        if inTransaction {
            openTransaction.append(bytes)
            return
        }
        if openTransaction.isEmpty {
            worker.feedReplicationStream(bytes)
            processedOffset += Int64(bytes.count)
        } else {
            openTransaction.append(bytes)
            worker.feedReplicationStream(openTransaction.readable)
            processedOffset += Int64(openTransaction.count)
            openTransaction.clear()
        }
        if let c = client { appliedOffset.dispatched(upTo: processedOffset, master: c) }
    }

    func publishOffsets() {
        let (read, processed, passedOn, now) = (readOffset, appliedOffset.offset, processedOffset,
                                                Clock.unixMilliseconds())
        context.replication.status.withLock { s in
            s.readOffset = read
            s.processedOffset = processed
            s.passedOnOffset = passedOn
            s.lastIOMs = now
        }
    }

    /// The dropped master client's last command has run: the next link may start.
    func closedClientSettled() {
        closedClient = nil
        if state == .connect && Clock.monotonicMilliseconds() >= nextAttemptMs { connect() }
    }
}
