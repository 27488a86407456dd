/// Cold-path events for the sequencer thread (ServerContext.postToSequencer).
enum SequencerEvent: @unchecked Sendable {  // payloads change owner with the event
    /// A connection that sent PSYNC: from now on a replica served by the sequencer thread.
    case replicaAttached(ReplicaHandoff)
    /// A full resync's RDB payload is ready (nil: the snapshot failed).
    case syncPayload(id: UInt64, rdb: [UInt8]?)
    /// Replica side: a full sync from the master was loaded; this server's stream is now the
    /// master's (`replid`), at `offset`. Drops this server's own replicas (they must resync).
    /// `then` runs on worker 0 once the reset is done: the master's stream is applied (and
    /// recorded) only from there, so none of it is merged into the history being replaced.
    case resetStream(replid: String, offset: Int64, then: @Sendable (Worker) -> Void)
    /// WAIT from a client: answer when enough replicas acknowledged its writes, or at the deadline.
    case wait(ReplicationMaster.WaitRequest)
    /// The client of a pending WAIT closed: answer it now (the answer is dropped), so the
    /// worker stops keeping the closed client (ClosingClients.swift) and nothing waits forever.
    case cancelWait(clientID: UInt64)
    /// CLIENT UNBLOCK of a client in WAIT: answer it now with the replicas that acknowledged
    /// so far (TIMEOUT), or with the UNBLOCKED error (ERROR).
    case unblockWait(clientID: UInt64, error: Bool)
    /// INFO or ROLE: publish an offset that includes every write acknowledged so far.
    case offsetQuery(ReplicationMaster.OffsetQuery)
    /// CLIENT KILL TYPE replica (or a matching filter): drop the replicas' connections.
    case killReplicas
    /// Runs `body` on worker `worker` (a thread of a command's own, as MIGRATE's transfer,
    /// hands its outcome back: only the sequencer pushes onto a worker's ring from outside).
    case toWorker(Int, @Sendable (Worker) -> Void)
    /// BGREWRITEAOF wrote its new base to `temp` (nil: it failed).
    case aofRewriteEnded(temp: String?)
    /// CONFIG SET appendonly no (or a replica's full sync): the writes numbered below
    /// `sequenceBound` go to the file, then it is fsynced and closed; `then` runs on worker 0.
    case aofStop(sequenceBound: UInt64, then: (@Sendable (Worker) -> Void)?)
}

/// What the sequencer needs to take over a replica's connection.
struct ReplicaHandoff {
    let fd: Int32
    let ip: String
    /// REPLCONF listening-port (0 if not sent: the connection's port is shown instead).
    let listeningPort: Int
    let capabilities: Set<String>
    /// PSYNC's arguments: the history the replica has and the next byte it wants.
    let replid: String
    let offset: Int64
    /// Bytes of replies not yet written to the connection when it was handed over.
    let pendingOutput: [UInt8]
}
