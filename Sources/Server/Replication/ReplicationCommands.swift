import RESP
import Shards

/// REPLCONF, PSYNC, SYNC (a connection becoming a replica), WAIT and ROLE.
enum ReplicationCommands {
    static let specs: [CommandSpec] = [
        CommandSpec("replconf", arity: -1, flags: [.admin, .noscript, .loading, .stale, .allowBusy], group: "server",
                    summary: "Replica-to-master settings and acknowledgements (used by replication).", run: .client(replconf))
            .described(since: "3.0.0", acl: [.admin, .slow, .dangerous]),
        CommandSpec("psync", arity: -3, flags: [.admin, .noscript, .noAsyncLoading, .noMulti], group: "server",
                    summary: "Starts replication from a master (used by replicas).", run: .client(psync))
            .described(since: "2.8.0", acl: [.admin, .slow, .dangerous],
                       arguments: [.string("replicationid"), .integer("offset")]),
        CommandSpec("sync", arity: 1, flags: [.admin, .noscript, .noAsyncLoading, .noMulti], group: "server",
                    summary: "Starts replication from a master (used by replicas).", run: .client(sync))
            .described(since: "1.0.0", acl: [.admin, .slow, .dangerous]),
        CommandSpec("wait", arity: 3, flags: [.noscript], group: "generic",
                    summary: "Waits until enough replicas acknowledged this connection's writes, or a timeout.",
                    run: .client(wait))
            .described(since: "3.0.0", acl: [.slow, .connection],
                       tips: ["request_policy:all_shards", "response_policy:agg_min"],
                       arguments: [.integer("numreplicas"), .integer("timeout")]),
        CommandSpec("role", arity: 1, flags: [.noscript, .loading, .stale, .fast], group: "server",
                    summary: "Whether this server is a master or a replica, with its replication state.", run: .client(role))
            .described(since: "2.8.12", acl: [.admin, .fast, .dangerous]),
    ]

    /// Redis's replconfCommand, master side: options a replica sends before PSYNC.
    static func replconf(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard args.count % 2 == 1 else { out.writeError(Errors.syntax); return }
        var i = 1
        while i < args.count {
            let option = lowercased(args[i])
            switch option {
            case "listening-port":
                guard let port = args.integer(i + 1) else { out.writeError(Errors.notInteger); return }
                c.replicaListeningPort = port
            case "capa":
                c.replicaCapabilities.insert(lowercased(args[i + 1]))
            case "ip-address", "rdb-only", "rdb-filter-only":
                break
            case "ack", "fack", "getack":
                // Acks reach the sequencer once the connection is a replica; before that
                // (or from a normal client) Redis answers nothing.
                return
            default:
                out.writeError(string: "ERR Unrecognized REPLCONF option: \(args.string(i))")
                return
            }
            i += 2
        }
        out.writeOK()
    }

    static func psync(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard !w.context.replication.isReplica.load(ordering: .relaxed) || replicaCanServe(w) else {
            out.writeError("NOMASTERLINK Can't SYNC while not connected with my master")
            return
        }
        let offset = Int64(args.string(2)) ?? -1
        w.handOverReplica(c, reply: &out, replid: args.string(1), offset: offset)
    }

    /// The pre-PSYNC protocol: a full resync without the +FULLRESYNC line.
    static func sync(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard !w.context.replication.isReplica.load(ordering: .relaxed) || replicaCanServe(w) else {
            out.writeError("NOMASTERLINK Can't SYNC while not connected with my master")
            return
        }
        c.replicaCapabilities.insert("legacy-sync")
        w.handOverReplica(c, reply: &out, replid: "?", offset: -1)
    }

    /// A replica serves its own replicas only while its link to its master is up.
    private static func replicaCanServe(_ w: Worker) -> Bool {
        w.context.replication.status.withLock { $0.linkUp }
    }

    /// WAIT numreplicas timeout: how many replicas acknowledged this client's writes.
    static func wait(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        let replication = w.context.replication
        if replication.isReplica.load(ordering: .relaxed) {
            out.writeError("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.")
            return
        }
        guard let wanted = args.integer(1) else { out.writeError(Errors.notInteger); return }
        guard let timeout = args.integer(2) else { out.writeError("ERR timeout is not an integer or out of range"); return }
        guard timeout >= 0 else { out.writeError("ERR timeout is negative"); return }
        if call.nesting != nil || c.transaction != nil {
            // Inside EXEC Redis cannot block: it answers with the acks it has.
            out.writeInteger(acknowledgedNow(replication))
            return
        }
        // The client's writes must reach the sequencer before it can tell which offset covers them.
        w.handOffReplicationRecords()
        let ticket = c.takeTicket()
        c.pausedByOperation = true
        c.inWait = true
        let bound = replication.clock.next.load(ordering: .sequentiallyConsistent)
        w.context.postToSequencer(.wait(ReplicationMaster.WaitRequest(
            worker: w.index, clientFD: c.fd, clientID: c.id, ticket: ticket, replicas: wanted,
            deadlineMs: StreamReads.deadline(after: Int64(timeout), now: Clock.unixMilliseconds()), sequenceBound: bound)))
    }

    private static func acknowledgedNow(_ replication: ReplicationState) -> Int {
        replication.status.withLock { s in s.replicas.filter { $0.state == "online" && $0.ackOffset >= s.masterReplOffset }.count }
    }

    /// ROLE as Redis: the master's offset (including every acknowledged write) and its
    /// replicas, or the replica's view of its master.
    static func role(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        w.withCurrentReplicationOffset(c, call: call, out: &out) { w, _, _, out in writeRole(w, &out) }
    }

    private static func writeRole(_ w: Worker, _ out: inout ByteBuffer) {
        let s = w.context.replication.status.withLock { $0 }
        if w.context.replication.isReplica.load(ordering: .relaxed), let host = s.masterHost {
            out.writeArrayHeader(5)
            out.writeBulk(string: "slave")
            out.writeBulk(string: host)
            out.writeInteger(s.masterPort)
            out.writeBulk(string: s.masterLinkState)
            out.writeInteger(s.linkUp ? Int(s.processedOffset) : -1)  // Redis: -1 without a master client
            return
        }
        out.writeArrayHeader(3)
        out.writeBulk(string: "master")
        out.writeInteger(Int(s.masterReplOffset))
        let online = s.replicas.filter { $0.state == "online" }
        out.writeArrayHeader(online.count)
        for r in online {
            out.writeArrayHeader(3)
            out.writeBulk(string: r.ip)
            out.writeBulk(string: String(r.port))
            out.writeBulk(string: String(r.ackOffset))
        }
    }
}
