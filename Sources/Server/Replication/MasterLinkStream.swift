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
extension Worker {
    // MARK: Stream

    /// The link carries the master's command stream from here: it becomes the master client.
    /// `ackNow`: acknowledge at once (after a diskless payload, which the master waits for).
    func startStreaming(_ link: MasterLink, replid: String, offset: Int64, db: Int, ackNow: Bool) {
        let id = context.nextClientID.add(1, ordering: .relaxed).oldValue
        let c = Client(fd: link.fd, id: id, peer: "\(link.host):\(link.port)", local: Socket.localAddress(link.fd),
                       now: nowMs, maxBulk: LiveConfig.protoMaxBulkLen.load(ordering: .relaxed))
        c.isMaster = true
        c.repliesOff = true  // nothing is written back but ACKs, which the link sends itself
        c.authenticated = true
        c.db = db
        c.input.append(link.input.readable)
        link.input.clear()
        clients.add(c)
        context.connectedClients.add(1, ordering: .relaxed)
        link.client = c
        link.masterReplid = replid
        link.processedOffset = offset
        link.appliedOffset.reset(to: offset)
        link.readOffset = offset + Int64(c.input.count)
        link.state = .connected
        link.retryDelayMs = MasterLink.firstRetryDelayMs
        ReplicaMode.masterClientID.store(id, ordering: .relaxed)
        // A replica always keeps the stream it applies (backlog, its own replicas), as Redis
        // creates its backlog on the first sync: the workers start recording.
        context.replication.propagating.store(true, ordering: .releasing)
        let now = Clock.unixMilliseconds()
        context.replication.status.withLock { s in
            s.linkUp = true
            self.context.replication.masterLinkUp.store(true, ordering: .relaxed)
            s.syncInProgress = false
            s.lastIOMs = now
            s.linkDownSinceMs = 0
            s.processedOffset = offset
            s.passedOnOffset = offset
            s.readOffset = offset + Int64(c.input.count)
        }
        publishLinkState(link)
        if ackNow {
            sendAck(link, offset: offset)  // a master that streamed the payload waits for it to put us online
        } else {
            link.lastAckMs = Clock.monotonicMilliseconds()  // the timer's ACK comes a second later
        }
        processMasterStream(c)
    }

    /// Runs the complete commands in the master client's input (Dispatch.process sends the
    /// master client here). Each one's bytes are counted and passed on after it ran; REPLCONF
    /// GETACK is answered at once with the offset before it, as Redis does.
    func processMasterStream(_ c: Client) {
        guard let link = masterLink, link.client === c, link.state == .connected, masterStreamHold == .none else { return }
        var position = 0
        parsing: while position < c.input.count && !c.pausedByOperation && !c.isClosed && link.client === c {
            let frame = UnsafeRawBufferPointer(start: c.input.base + position, count: c.input.count - position)
            var consumed = 0
            switch c.parser.parse(frame, consumed: &consumed) {
            case .command:
                let args = c.parser.arguments(in: frame)
                if argIs(args[0], "replconf") {
                    if args.count >= 2 && argIs(args[1], "getack") { answerGetAck(link) }
                } else {
                    execute(c, args)
                }
                applied(link, UnsafeRawBufferPointer(rebasing: frame[0..<consumed]), inTransaction: c.transaction != nil)
                position += consumed
            case .empty:
                applied(link, UnsafeRawBufferPointer(rebasing: frame[0..<consumed]), inTransaction: c.transaction != nil)
                position += consumed
            case .incomplete:
                break parsing
            case .protocolError(let message):
                c.input.discardFront(position)
                publishOffsets(link)
                dropMasterLink(link, reason: "Protocol error from MASTER (\(message)): dropping the link")
                return
            }
        }
        if link.client === c { c.input.discardFront(position) }
        publishOffsets(link)
    }

    /// A command from the master was dispatched: count its bytes and pass them on to this
    /// server's own replicas (a transaction's, once it is over).
    func applied(_ link: MasterLink, _ bytes: UnsafeRawBufferPointer, inTransaction: Bool) {
        if inTransaction {
            link.openTransaction.append(bytes)
            return
        }
        if link.openTransaction.isEmpty {
            feedReplicationStream(bytes)
            link.processedOffset += Int64(bytes.count)
        } else {
            link.openTransaction.append(bytes)
            feedReplicationStream(link.openTransaction.readable)
            link.processedOffset += Int64(link.openTransaction.count)
            link.openTransaction.clear()
        }
        if let c = link.client { link.appliedOffset.dispatched(upTo: link.processedOffset, master: c) }
    }

    func publishOffsets(_ link: MasterLink) {
        let (read, processed, passedOn, now) = (link.readOffset, link.appliedOffset.offset, link.processedOffset,
                                                Clock.unixMilliseconds())
        context.replication.status.withLock { s in
            s.readOffset = read
            s.processedOffset = processed
            s.passedOnOffset = passedOn
            s.lastIOMs = now
        }
    }

    func publishLinkState(_ link: MasterLink) {
        let state = link.roleState
        context.replication.status.withLock { $0.masterLinkState = state }
    }

    /// The dropped master client's last command has run: the next link may start.
    func masterClientSettled(_ link: MasterLink) {
        link.closedClient = nil
        if link.state == .connect && Clock.monotonicMilliseconds() >= link.nextAttemptMs { connectToMaster(link) }
    }
}
