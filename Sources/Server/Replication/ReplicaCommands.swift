import RESP
import Shards

/// REPLICAOF/SLAVEOF and the `__load` shard part of a replica's full sync.
enum ReplicaCommands {
    static let specs: [CommandSpec] = [
        CommandSpec("replicaof", arity: 3, flags: [.admin, .noscript, .stale, .noAsyncLoading], group: "server",
                    summary: "Follows another server as its replica, or stops following (NO ONE).", run: .client(replicaof))
            .described(since: "5.0.0", acl: [.admin, .slow, .dangerous],
                       arguments: [
                           .oneOf("args", [
                               .block("host-port", [.string("host"), .integer("port")]),
                               .block("no-one", [.token("NO"), .token("ONE")]),
                           ]),
                       ]),
        CommandSpec("slaveof", arity: 3, flags: [.admin, .noscript, .stale, .noAsyncLoading], group: "server",
                    summary: "Follows another server as its replica, or stops following (older name of REPLICAOF).",
                    run: .client(replicaof))
            .described(since: "1.0.0", acl: [.admin, .slow, .dangerous],
                       arguments: [
                           .oneOf("args", [
                               .block("host-port", [.string("host"), .integer("port")]),
                               .block("no-one", [.token("NO"), .token("ONE")]),
                           ]),
                       ]),
        CommandSpec(part: .load, arity: -2, group: "server", run: .keyed(loadPart, split: nil, crossShard: nil)),
    ]

    /// REPLICAOF host port | NO ONE (Redis's replicaofCommand).
    static func replicaof(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        let replication = w.context.replication
        if argIs(args[1], "no") && argIs(args[2], "one") {
            let wasReplica = replication.status.withLock { s -> Bool in
                defer { s.masterHost = nil; s.masterPort = 0 }
                return s.masterHost != nil
            }
            if wasReplica {
                setReplicaMode(false, from: w)
                replication.shiftReplicationID()
                let (replid, replid2, offset) = replication.status.withLock { ($0.replid, $0.replid2, $0.secondReplOffset) }
                Log.notice("Setting secondary replication ID to \(replid2), valid up to offset: \(offset). New replication ID is \(replid)")
                w.onMasterLinkWorker { $0.stopFollowingMaster() }
                Log.notice("MASTER MODE enabled (user request from '\(ClientCommands.infoLine(c, now: w.nowMs, argvMemory: 0, output: .init(out)))')")
            }
            out.writeOK()
            return
        }
        guard let port = parseStrictInt(args[2]), port >= 0, port <= 65535 else {
            out.writeError("ERR Invalid master port")
            return
        }
        let host = args.string(1)
        let (same, wasReplica) = replication.status.withLock { s -> (Bool, Bool) in
            let wasReplica = s.masterHost != nil
            if let current = s.masterHost, current.lowercased() == host.lowercased(), s.masterPort == port { return (true, true) }
            s.masterHost = host
            s.masterPort = port
            return (false, wasReplica)
        }
        if same {
            Log.notice("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.")
            out.append("+OK Already connected to specified master\r\n")
            return
        }
        setReplicaMode(true, from: w)
        w.context.config.withLock { try? $0.set("replicaof", "\(host) \(port)") }
        w.onMasterLinkWorker { $0.followMaster(host: host, port: port, offerOwnHistory: !wasReplica) }
        Log.notice("REPLICAOF \(host):\(port) enabled (user request from '\(ClientCommands.infoLine(c, now: w.nowMs, argvMemory: 0, output: .init(out)))')")
        out.writeOK()
    }

    /// Switches every shard between a master's and a replica's handling of expired keys:
    /// a replica never deletes keys itself (not on access, not actively); it hides them from
    /// reads and waits for the master's DELs. Writes are refused (replica-read-only) and
    /// not recorded as this server's own.
    static func setReplicaMode(_ on: Bool, from w: Worker) {
        w.context.replication.isReplica.store(on, ordering: .releasing)
        if !on { w.context.config.withLock { try? $0.set("replicaof", "") } }
        for target in 0..<w.context.workerCount {
            if target == w.index {
                w.shard?.expiryDeletesOnAccess = !on
            } else {
                w.send(.control({ $0.shard?.expiryDeletesOnAccess = !on }), to: target)
            }
        }
    }

    /// At start-up (`replicaof` in the config), before any worker runs.
    static func configureAtStartup(_ config: Config, workers: [Worker], context: ServerContext) {
        let words = config.value("replicaof").split(separator: " ")
        guard words.count == 2, let port = Int(words[1]), (0...65535).contains(port) else {
            if !words.isEmpty { Log.warning("Ignoring replicaof '\(config.value("replicaof"))': not a host and a port") }
            return
        }
        let host = String(words[0])
        context.replication.isReplica.store(true, ordering: .releasing)
        for w in workers { w.shard?.expiryDeletesOnAccess = false }
        context.replication.status.withLock { s in
            s.masterHost = host
            s.masterPort = port
        }
        let restored = context.replication.restoredHistory.withLock { $0 }
        // With an AOF to replay, the link starts once it is loaded (AOFReplay.then).
        if let replay = workers[0].aofReplay {
            replay.then.append { w in w.followMaster(host: host, port: port, offerOwnHistory: false, restored: restored) }
        } else {
            workers[0].followMaster(host: host, port: port, offerOwnHistory: false, restored: restored)
        }
    }

    /// `__load <records> [noflush]`: a replica's full sync (and DEBUG RELOAD) on one shard:
    /// every database is emptied (unless `noflush`) and the shard's share of the keys
    /// (SnapshotRecord-encoded) is inserted, replacing a key of the same name; a replica's
    /// keys past their deadline included (the master's DELs expire them). Replies with the
    /// number of keys that replaced one already there.
    static let loadPart: ShardHandler = { ctx, args, out in
        let shard = ctx.shard
        let flush = !(args.count > 2 && argIs(args[2], "noflush"))
        if flush { shard.flushAll() }
        // Loading adds keys without "new" events (Redis's dbAddRDBLoad).
        let notifyFlags = shard.notifyFlags
        shard.notifyFlags = 0
        defer { shard.notifyFlags = notifyFlags }
        var replaced = 0
        SnapshotRecord.forEach(in: args[1]) { db, key, value, expireAt, type in
            if !flush && shard.storedEntry(db: db, key: key) != nil { replaced += 1 }
            if type == 0 {
                shard.setString(db: db, key: key, value: value, expireAt: expireAt)
            } else {
                Persistence.storeObject(db: db, key: key, type: type, encoding: value, expireAt: expireAt, in: shard)
            }
        }
        shard.resetChanges()
        out.writeInteger(replaced)
    }
}

extension Worker {
    /// Runs `body` on worker 0, which owns the master link.
    func onMasterLinkWorker(_ body: @escaping @Sendable (Worker) -> Void) {
        if index == 0 { body(self) } else { send(.control(body), to: 0) }
    }
}

extension ServerInfo {
    /// INFO replication's replica lines (Redis 7.0's genRedisInfoString), after role:slave.
    static func replicaLines(_ s: ReplicationState.Status, config: Config) -> [String] {
        let now = Clock.unixMilliseconds()
        var lines: [(String, String)] = [
            ("master_host", s.masterHost ?? ""),
            ("master_port", String(s.masterPort)),
            ("master_link_status", s.linkUp ? "up" : "down"),
            ("master_last_io_seconds_ago", s.linkUp ? String((now - s.lastIOMs) / 1000) : "-1"),
            ("master_sync_in_progress", s.syncInProgress ? "1" : "0"),
            ("slave_read_repl_offset", String(s.readOffset)),
            ("slave_repl_offset", String(s.processedOffset)),
        ]
        if s.syncInProgress {
            let total = max(s.syncTotalBytes, 0)
            let perc = total > 0 ? Double(s.syncReadBytes) / Double(total) * 100 : 0
            lines += [
                ("master_sync_total_bytes", String(total)),
                ("master_sync_read_bytes", String(s.syncReadBytes)),
                ("master_sync_left_bytes", String(total - s.syncReadBytes)),
                ("master_sync_perc", ServerInfo.formatDouble(perc, decimals: 2)),
                ("master_sync_last_io_seconds_ago", String((now - s.syncLastIOMs) / 1000)),
            ]
        }
        if !s.linkUp {
            lines.append(("master_link_down_since_seconds", s.linkDownSinceMs != 0 ? String((now - s.linkDownSinceMs) / 1000) : "-1"))
        }
        lines += [
            ("slave_priority", String(config.integer("replica-priority"))),
            ("slave_read_only", config.bool("replica-read-only") ? "1" : "0"),
            ("replica_announced", Config.parameter(named: "replica-announced") == nil || config.bool("replica-announced") ? "1" : "0"),
        ]
        return lines.map { "\($0.0):\($0.1)" }
    }
}
