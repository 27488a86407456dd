import CShim
import RESP
import Shards
import Synchronization
#if canImport(Glibc)
import Glibc
import Values
#endif

/// Persistence state shared by the workers (INFO persistence, LASTSAVE, save rules).
final class PersistenceState: Sendable {
    /// The AOF replays at start-up: clients are served, commands without the `loading`
    /// flag answered -LOADING (Redis's server.loading; INFO's `loading`).
    let loading = Atomic<Bool>(false)
    let lastSaveTime = Atomic<Int64>(0)          // unix seconds of the last successful save
    let saveInProgress = Atomic<Bool>(false)
    let lastBackgroundSaveOK = Atomic<Bool>(true)
    let lastBackgroundSaveSeconds = Atomic<Int>(-1)
    let backgroundSaveStarted = Atomic<Int64>(0) // unix seconds, while one runs
    let lastBackgroundSaveTry = Atomic<Int64>(0) // unix seconds: a failed save is retried after a delay
    let backgroundSaveScheduled = Atomic<Bool>(false)  // BGSAVE inside EXEC: run by the timer
    let changesAtLastSave = Atomic<Int>(0)
    let saves = Atomic<Int>(0)                   // saves started (Redis's stat_rdb_saves), failed ones too
    let keysLoaded = Atomic<Int>(0)
    let keysExpiredAtLoad = Atomic<Int>(0)
}

/// RDB snapshots of the sharded keyspace, and loading at start-up.
///
/// A snapshot is taken by a fan-out under whole-shard locks on every shard (through the
/// sequencer), so it is one consistent point in time across shards: no multi-shard
/// operation is half applied in it. Each shard copies its live string entries into a
/// compact buffer (`__snapshot`); the copies are written as an RDB file by the caller
/// (SAVE, SHUTDOWN) or by a background thread (BGSAVE, save rules), to a temporary file
/// that is fsynced and renamed over the dump.
enum Persistence {
    /// The `__snapshot` shard part: copies every live string entry of every database.
    static let snapshotPart: ShardHandler = { ctx, _, out in
        let shard = ctx.shard
        var changes = shard.changes
        withUnsafeBytes(of: &changes) { out.append($0) }
        copyEntries(of: shard, into: &out)
    }

    private static func copyEntries(of shard: Shard, into out: inout ByteBuffer) {
        for db in 0..<shard.databaseCount where shard.keyCount(db: db) > 0 {
            shard.forEach(db: db) { e in
                if e.kind == .string {
                    SnapshotRecord.encode(e, db: db) { out.append($0) }
                } else {
                    SnapshotRecord.encodeObject(e, db: db) { out.append($0) }
                }
            }
        }
    }

    /// A copy of a shard's entries (start-up, before the workers run: nobody else touches it).
    static func copy(_ shard: Shard) -> [UInt8] {
        var out = ByteBuffer(capacity: 1024)
        copyEntries(of: shard, into: &out)
        return Array(out.readable)
    }

    /// The `__snapshot_begin` shard part (BGSAVE): starts the shard's copy-on-write snapshot,
    /// to be sent to worker `args[1]` when done; replies with the shard's change count.
    static let beginSnapshotPart: ShardHandler = { ctx, args, out in
        let shard = ctx.shard
        var changes = shard.changes
        withUnsafeBytes(of: &changes) { out.append($0) }
        shard.beginSnapshot(requester: args.integer(1) ?? 0)
    }

    /// Aux fields Redis writes at the top of a dump.
    /// Aux fields Redis writes at the top of a dump (with a replica's history, in its place).
    /// `aofBase`: the dump is an AOF's base (Redis's rdbSaveInfoAuxFields writes aof-base 1).
    static func aux(replication: ReplicationHistory? = nil, aofBase: Bool = false) -> [(String, String)] {
        [("redis-ver", ServerInfo.redisVersion), ("redis-bits", "64"),
         ("ctime", String(Clock.unixMilliseconds() / 1000)), ("used-mem", String(ServerInfo.usedMemory()))]
            + (replication?.auxFields ?? []) + [("aof-base", aofBase ? "1" : "0")]
    }

    /// Writes the shards' snapshot copies as an RDB file at `path`; returns the error text on failure.
    /// `prefix`: bytes to skip at the start of each part (SAVE's parts start with the shard's
    /// change count; background copies do not).
    static func write(parts: [[UInt8]], prefix: Int, path: String, compression: Bool, checksum: Bool,
                      replication: ReplicationHistory? = nil, aofBase: Bool = false) -> String? {
        do {
            let writer = try RDBWriter(path: path)
            writer.compression = compression
            writer.checksum = checksum
            try writeRecords(parts: parts, prefix: prefix, to: writer, replication: replication, aofBase: aofBase)
            try writer.commit()
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// The RDB of the shards' copies in memory (a replica's full resync payload), with the
    /// replication history a replica serving it passes on (`replication`).
    static func rdbInMemory(parts: [[UInt8]], compression: Bool, checksum: Bool,
                            replication: ReplicationHistory? = nil) -> [UInt8]? {
        let writer = RDBWriter(memoryWithVersion: 10)
        writer.compression = compression
        writer.checksum = checksum
        do {
            try writeRecords(parts: parts, prefix: 0, to: writer, replication: replication)
            try writer.commit()
        } catch {
            Log.warning("Failed writing the RDB for a replica: \(error)")
            return nil
        }
        return writer.memoryOutput
    }

    private static func writeRecords(parts: [[UInt8]], prefix: Int, to writer: RDBWriter,
                                     replication: ReplicationHistory? = nil, aofBase: Bool = false) throws {
        do {
            try writer.writeHeader(aux: aux(replication: replication, aofBase: aofBase))
            // The libraries as they are when the file is written (Redis writes them after
            // the AUX fields, before the databases).
            try writer.writeFunctions(FunctionRegistry.shared.catalog.ordered.map(\.code))
            // RDB wants SELECTDB before each database's keys: count them, then write one
            // database at a time (usually there is one, so the parts are read twice).
            var counts: [Int: (keys: Int, expires: Int)] = [:]
            for part in parts {
                part.withUnsafeBytes { b in
                    SnapshotRecord.forEach(in: b, from: prefix) { db, _, _, at, _ in
                        counts[db, default: (0, 0)].keys += 1
                        if at != 0 { counts[db, default: (0, 0)].expires += 1 }
                    }
                }
            }
            for db in counts.keys.sorted() {
                try writer.selectDB(db, keys: counts[db]!.keys, expires: counts[db]!.expires)
                for part in parts {
                    try part.withUnsafeBytes { b in
                        try SnapshotRecord.forEach(in: b, from: prefix) { recordDB, key, value, at, type in
                            guard recordDB == db else { return }
                            if type == RDB.typeString {
                                try writer.writeString(key: key, value: value, expireAtMs: at)
                            } else {
                                try writer.writeObject(key: key, type: type, encoding: value, expireAtMs: at)
                            }
                        }
                    }
                }
            }
        }
    }

    static func dumpPath(_ config: Config) -> String {
        let name = config.value("dbfilename")
        return name.hasPrefix("/") ? name : config.value("dir") + "/" + name
    }

    /// Loads the dump into the shards before any worker runs (start-up, main thread).
    /// Returns an error line, or nil (also when there is no dump).
    /// `aofBase`: the path of an AOF's RDB base to load instead (a missing one is an error).
    /// `rdbEnd` receives the offset just past the RDB (commands may follow it in an AOF).
    static func load(_ config: Config, workers: [Worker], context: ServerContext, aofBase: String? = nil,
                     rdbEnd: ((Int) -> Void)? = nil) -> String? {
        let path = aofBase ?? config.value("dbfilename")  // the process has chdir'ed to `dir`
        let now = Clock.unixMilliseconds()
        var loaded = 0, expired = 0
        let started = Clock.monotonicMilliseconds()
        // A replica keeps keys whose deadline passed while it was down and waits for its
        // master's DEL, as Redis's rdbLoad does (only a master drops them): dropped, the
        // master's later commands on such a key found something else here.
        let keepExpired = !config.value("replicaof").isEmpty
        for w in workers { w.shard?.now = now }
        do {
            // Like Redis, rdbchecksum no also skips the check on load.
            var libraries: [[UInt8]] = []
            let aux = try RDBReader.load(path: path, verifyChecksum: config.bool("rdbchecksum"),
                                         functions: { libraries.append($0) }, end: rdbEnd) { record in
                guard record.db < context.databases else {
                    throw RDBError(offset: 0, message: "the dump uses database \(record.db) but databases is \(context.databases)")
                }
                if case .unsupported = record.value { return }  // types not supported yet
                if record.expireAtMs != 0 && record.expireAtMs <= now && !keepExpired {
                    expired += 1
                    return
                }
                let shardIndex = record.key.withUnsafeBytes { KeyHash.shard(of: $0, count: context.shardCount) }
                guard let shard = workers[context.owner(ofShard: shardIndex)].shard else { return }
                store(record, in: shard)
                loaded += 1
            }
            try FunctionRegistry.shared.replaceAll(withDumped: libraries)
            // An AOF's base says nothing of replication (Redis's loadDataFromDisk ignores it).
            if aofBase == nil {
                context.replication.restoredHistory.withLock { $0 = ReplicationHistory(aux: aux, databases: context.databases) }
            }
        } catch let error as RDBError where error.systemError == ENOENT && aofBase == nil {
            return nil
        } catch {
            return "Error loading the dump '\(config.value("dir"))/\(path)': \(error)"
        }
        for w in workers { w.shard?.resetChanges() }
        context.persistence.keysLoaded.store(loaded, ordering: .relaxed)
        context.persistence.keysExpiredAtLoad.store(expired, ordering: .relaxed)
        let seconds = Double(Clock.monotonicMilliseconds() - started) / 1000
        if aofBase != nil {
            Log.notice("Done loading RDB, keys loaded: \(loaded), keys expired: \(expired).")
        } else {
            Log.notice("DB loaded from disk: \(ServerInfo.formatDouble(seconds, decimals: 3)) seconds (\(loaded) keys, \(expired) expired)")
        }
        return nil
    }
}

extension Persistence {
    /// Puts a loaded key into its shard (start-up, before the workers run).
    static func store(_ record: RDBRecord, in shard: Shard) {
        record.key.withUnsafeBytes { k in
            switch record.value {
            case .string(let value):
                value.withUnsafeBytes { v in _ = shard.setString(db: record.db, key: k, value: v, expireAt: record.expireAtMs) }
            case .object(let value):
                storeObject(value, db: record.db, key: k, expireAt: record.expireAtMs, in: shard)
            case .unsupported:
                break
            }
        }
    }

    static func storeObject(_ object: any ValueType, db: Int, key: UnsafeRawBufferPointer, expireAt: Int64, in shard: Shard) {
        _ = shard.delete(db: db, key: key)  // a duplicate key: the later one wins, as for strings
        shard.insertNew(Entry.makeObject(key: key, hash: KeyTable.hash(key), object: object), db: db, expireAt: expireAt)
    }

    /// An object record of a replica's full-sync load (`encoding`: its snapshot encoding, made
    /// from a value the reader has validated already).
    static func storeObject(db: Int, key: UnsafeRawBufferPointer, type: UInt8, encoding: UnsafeRawBufferPointer,
                            expireAt: Int64, in shard: Shard) {
        guard let value = try? ValueTypes.decodeSnapshot(rdbType: type, encoding) else {
            Log.warning("A key of the master's data did not decode on its shard: skipped")
            return
        }
        storeObject(value, db: db, key: key, expireAt: expireAt, in: shard)
    }
}

/// A replica's replication history taken at a background save's point in time: written by
/// the worker that starts the save (under the snapshot's locks), read by the writer thread it
/// spawns afterwards.
final class HistoryAtSnapshot: @unchecked Sendable {
    var value: ReplicationHistory?
}

/// Shard copies of a background save, gathered on the worker that started it.
final class SnapshotCollection {
    var parts: [[[UInt8]]]
    var remaining: Int
    var changes = 0
    /// Every shard has begun (their change counts are in): copies may arrive before that.
    var begun = false
    let finish: @Sendable ([[UInt8]], Int) -> Void
    init(shards: Int, finish: @escaping @Sendable ([[UInt8]], Int) -> Void) {
        parts = Array(repeating: [], count: shards)
        remaining = shards
        self.finish = finish
    }
}

/// SAVE, BGSAVE, LASTSAVE, and the save rules' background saves.
extension Worker {
    /// Snapshots every shard and hands the copies to `finish` on this worker. `call` is the
    /// asking command's (an empty one when the server asks, without a client).
    func snapshot(client: Client?, call: inout CommandCall, out: inout ByteBuffer,
                  finish: @escaping ([[UInt8]], Int, inout ByteBuffer) -> Void) {
        let part = table.index(of: .snapshot)
        let combine: MultiShardOperation.Combine = { op, out in
            var parts: [[UInt8]] = []
            var changes = 0
            for i in 0..<op.parts.count {
                let r = op.reply(i)
                if r.count >= 8 { changes += r.loadUnaligned(as: Int.self) }
                parts.append(Array(r))
            }
            finish(parts, changes, &out)
            return true
        }
        let op = client.map { MultiShardOperation(client: $0, combine: combine) }
            ?? MultiShardOperation(internalWithDB: 0, combine: combine)
        let name = op.store(string: InternalCommand.snapshot.name)
        for s in 0..<context.shardCount {
            op.addPart(shard: s, command: part, spanIndices: [name])
            op.lockWholeShard(s)
        }
        if let client {
            start(op, client: client, call: &call, out: &out)
        } else {
            startInternal(op)
        }
    }

    var saveSettings: (path: String, compression: Bool, checksum: Bool) {
        let config = context.config.withLock { $0 }
        return (Persistence.dumpPath(config), config.bool("rdbcompression"), config.bool("rdbchecksum"))
    }

    /// SAVE: writes the dump on this thread, then replies.
    func saveNow(client: Client?, call: inout CommandCall, out: inout ByteBuffer,
                 then: @escaping (Bool, inout ByteBuffer) -> Void) {
        let state = context.persistence
        let settings = saveSettings
        state.saves.add(1, ordering: .relaxed)
        snapshot(client: client, call: &call, out: &out) { parts, changes, out in
            // Still under the snapshot's locks: the replication history matches the copies.
            if let error = Persistence.write(parts: parts, prefix: 8, path: settings.path, compression: settings.compression,
                                             checksum: settings.checksum, replication: self.replicationHistoryForDump()) {
                Log.warning("Failed saving the DB: \(error)")
                then(false, &out)
                return
            }
            state.lastSaveTime.store(Clock.unixMilliseconds() / 1000, ordering: .relaxed)
            state.changesAtLastSave.store(changes, ordering: .relaxed)
            state.lastBackgroundSaveOK.store(true, ordering: .relaxed)  // rdbSave resets the status too
            Log.notice("DB saved on disk")
            then(true, &out)
        }
    }

    /// BGSAVE: the snapshot is taken under the locks, the file is written by a thread of its own.
    /// Returns false if a save is already running.
    @discardableResult
    func backgroundSave(client: Client?, call: inout CommandCall, out: inout ByteBuffer) -> Bool {
        let state = context.persistence
        guard state.saveInProgress.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return false }
        let now = Clock.unixMilliseconds() / 1000
        state.backgroundSaveStarted.store(now, ordering: .relaxed)
        state.lastBackgroundSaveTry.store(now, ordering: .relaxed)
        state.saves.add(1, ordering: .relaxed)
        let settings = saveSettings
        Log.notice("Background saving started")
        let started = Clock.monotonicMilliseconds()
        let history = HistoryAtSnapshot()
        beginIncrementalSnapshot(client: client, call: &call, out: &out, atPoint: { [unowned self] in
            history.value = self.replicationHistoryForDump()
        }) { parts, changes in
            ServerMain.spawnThread {
                let error = Persistence.write(parts: parts, prefix: 0, path: settings.path, compression: settings.compression,
                                              checksum: settings.checksum, replication: history.value)
                if let error {
                    Log.warning("Background saving error: \(error)")
                    state.lastBackgroundSaveOK.store(false, ordering: .relaxed)
                } else {
                    Log.notice("Background saving terminated with success")
                    state.lastBackgroundSaveOK.store(true, ordering: .relaxed)
                    state.lastSaveTime.store(Clock.unixMilliseconds() / 1000, ordering: .relaxed)
                    state.changesAtLastSave.store(changes, ordering: .relaxed)
                }
                state.lastBackgroundSaveSeconds.store(Int((Clock.monotonicMilliseconds() - started) / 1000), ordering: .relaxed)
                state.saveInProgress.store(false, ordering: .releasing)
            }
        }
        return true
    }

    /// Starts a copy-on-write snapshot on every shard at one point in time (a fan-out under
    /// whole-shard locks, held only while each shard flips its snapshot parity); the shards
    /// then copy their data a bounded slice per loop iteration while serving, and send the
    /// copies here. `finish` gets them, in shard order, when the last one has arrived.
    /// `atPoint` runs at the snapshot's point in time, with every shard still locked.
    func beginIncrementalSnapshot(client: Client?, call: inout CommandCall, out: inout ByteBuffer, atPoint: (() -> Void)? = nil,
                                  finish: @escaping @Sendable ([[UInt8]], Int) -> Void) {
        let part = table.index(of: .snapshotBegin)
        let collection = SnapshotCollection(shards: context.shardCount, finish: finish)
        snapshotCollection = collection
        let combine: MultiShardOperation.Combine = { op, out in
            for i in 0..<op.parts.count where op.reply(i).count >= 8 {
                collection.changes += op.reply(i).loadUnaligned(as: Int.self)
            }
            out.append("+Background saving started\r\n")
            atPoint?()
            collection.begun = true
            self.finishSnapshotIfComplete()
            return true
        }
        let op = client.map { MultiShardOperation(client: $0, combine: combine) }
            ?? MultiShardOperation(internalWithDB: 0, combine: combine)
        let name = op.store(string: InternalCommand.snapshotBegin.name)
        let requester = op.store(string: String(index))
        for s in 0..<context.shardCount {
            op.addPart(shard: s, command: part, spanIndices: [name, requester])
            op.lockWholeShard(s)
        }
        if let client { start(op, client: client, call: &call, out: &out) } else { startInternal(op) }
    }

    /// A shard's finished snapshot copy arrived (on the worker that asked for it).
    func snapshotArrived(shard: Int, _ chunks: [[UInt8]]) {
        guard let collection = snapshotCollection else { return }
        collection.parts[shard] = chunks
        collection.remaining -= 1
        finishSnapshotIfComplete()
    }

    private func finishSnapshotIfComplete() {
        guard let collection = snapshotCollection, collection.begun, collection.remaining == 0 else { return }
        snapshotCollection = nil
        collection.finish(collection.parts.flatMap { $0 }, collection.changes)
    }

    /// Runs this worker's share of a snapshot in progress; called every loop iteration.
    func advanceSnapshot() {
        guard let shard, shard.snapshotActive, let copy = shard.advanceSnapshot(budget: 4096) else { return }
        let requester = shard.snapshotRequester
        let shardIndex = shard.index
        if requester == index {
            snapshotArrived(shard: shardIndex, copy)
        } else {
            send(.control({ w in w.snapshotArrived(shard: shardIndex, copy) }), to: requester)
        }
    }

    /// Redis's CONFIG_BGSAVE_RETRY_DELAY: after a failed background save, automatic ones wait this long.
    static let backgroundSaveRetryDelay: Int64 = 5

    /// Save rules ("save 3600 1 300 100") and a scheduled BGSAVE: checked on worker 0's timer,
    /// as Redis's serverCron does.
    func checkSaveRules() {
        let state = context.persistence
        startScheduledAOFRewrite()
        guard !state.saveInProgress.load(ordering: .relaxed) else { return }
        let now = Clock.unixMilliseconds() / 1000
        // A failed save is not retried at every tick: Redis waits a few seconds.
        guard state.lastBackgroundSaveOK.load(ordering: .relaxed)
            || now - state.lastBackgroundSaveTry.load(ordering: .relaxed) > Self.backgroundSaveRetryDelay
        else { return }
        var ignored = ByteBuffer(capacity: 16)
        var noCommand = CommandCall()
        if state.backgroundSaveScheduled.load(ordering: .relaxed) {
            if backgroundSave(client: nil, call: &noCommand, out: &ignored) { state.backgroundSaveScheduled.store(false, ordering: .relaxed) }
            return
        }
        let rules = context.config.withLock { $0.value("save") }.split(separator: " ").compactMap { Int($0) }
        guard rules.count >= 2 else { return }
        let changes = context.stats.reduce(0) { $0 + $1.changes.load(ordering: .relaxed) }
            - state.changesAtLastSave.load(ordering: .relaxed)
        let elapsed = now - state.lastSaveTime.load(ordering: .relaxed)
        // Strictly more seconds than the rule says, as in Redis ("save 1 1" waits two seconds).
        for i in stride(from: 0, to: rules.count - 1, by: 2) where changes >= rules[i + 1] && elapsed > Int64(rules[i]) {
            Log.notice("\(rules[i + 1]) changes in \(rules[i]) seconds. Saving...")
            backgroundSave(client: nil, call: &noCommand, out: &ignored)
            return
        }
    }

    /// Runs `body` on worker 0 for a client of this worker (a replica's saves: its dump
    /// carries the master's history only when taken there, beside the link) and delivers
    /// what `body` hands to `answer` as the client's reply. Without a client, nobody is
    /// answered.
    func onWorkerZero(for client: Client?,
                      _ body: @escaping @Sendable (Worker, _ answer: @escaping @Sendable ([UInt8]) -> Void) -> Void) {
        let ticket = client?.takeTicket()
        let (fd, id, origin) = (client?.fd ?? -1, client?.id ?? 0, index)
        send(.control({ zero in
            body(zero) { bytes in
                guard let ticket else { return }
                zero.send(.control({ back in back.deliverRemoteReply(fd: fd, id: id, ticket: ticket, bytes) }), to: origin)
            }
        }), to: 0)
    }

    /// The reply of a command this worker's client asked worker 0 to run (onWorkerZero).
    func deliverRemoteReply(fd: Int32, id: UInt64, ticket: UInt32, _ bytes: [UInt8]) {
        guard let c = clients.client(fd: fd, id: id) else { return }
        bytes.withUnsafeBytes { deliverDeferredReply(to: c, ticket: ticket, $0) }
    }

    /// SIGTERM/SIGINT and SHUTDOWN: save if asked to or if save rules exist, then exit.
    func shutdown(client: Client?, save: Bool?, call: inout CommandCall, out: inout ByteBuffer) {
        let rules = context.config.withLock { $0.value("save") }
        // Never a dump of a half-replayed AOF (Redis: SHUTDOWN_NOSAVE while loading).
        let wantSave = !context.persistence.loading.load(ordering: .acquiring) && (save ?? !rules.isEmpty)
        if wantSave && index != 0 && context.replication.isReplica.load(ordering: .relaxed) {
            // A replica's final dump carries its master's history only when saved on worker 0,
            // which owns the link; the save's error, if any, is answered from there.
            onWorkerZero(for: client) { zero, answer in
                var reply = ByteBuffer(capacity: 64)
                var noCommand = CommandCall()
                zero.shutdown(client: nil, save: save, call: &noCommand, out: &reply)
                answer(Array(reply.readable))
            }
            return
        }
        Log.notice("User requested shutdown...")
        guard wantSave else {
            exitAfterAppendOnlyFile()
            return
        }
        Log.notice("Saving the final RDB snapshot before exiting.")
        saveNow(client: client, call: &call, out: &out) { ok, out in
            if ok {
                self.exitAfterAppendOnlyFile()
                return
            }
            Log.warning("Error trying to save the DB, can't exit.")
            out.writeError("ERR Errors trying to SHUTDOWN. Check logs.")
        }
    }
}

extension Worker {
    /// Exits once every write acknowledged so far is in the AOF and fsynced (Redis's
    /// prepareForShutdown: "Calling fsync() on the AOF file."); at once without an AOF.
    /// The sequencer answers the question once it has merged and written those writes.
    func exitAfterAppendOnlyFile() {
        guard context.aof.enabled.load(ordering: .relaxed), context.replication.propagating.load(ordering: .acquiring) else {
            Log.notice("Redis is now ready to exit, bye bye...")
            exit(0)
        }
        handOffReplicationRecords()
        let bound = context.replication.clock.next.load(ordering: .sequentiallyConsistent)
        context.postToSequencer(.offsetQuery(ReplicationMaster.OffsetQuery(sequenceBound: bound, worker: index, answer: { w in
            Log.notice("Calling fsync() on the AOF file.")
            _ = fsync(w.context.aof.incrFD.load(ordering: .relaxed))
            Log.notice("Redis is now ready to exit, bye bye...")
            exit(0)
        })))
    }
}

enum PersistenceCommands {
    static let specs: [CommandSpec] = [
        CommandSpec("save", arity: 1, flags: [.admin, .noscript, .noAsyncLoading, .noMulti], group: "server",
                    summary: "Writes a snapshot of every database to the dump file, blocking until it is written.", run: .client(save))
            .described(since: "1.0.0", acl: [.admin, .slow, .dangerous]),
        CommandSpec("bgsave", arity: -1, flags: [.admin, .noscript, .noAsyncLoading], group: "server",
                    summary: "Starts writing a snapshot of every database to the dump file in the background.", run: .client(bgsave))
            .described(since: "1.0.0", acl: [.admin, .slow, .dangerous], arguments: [.token("SCHEDULE").optional]),
        CommandSpec("bgrewriteaof", arity: 1, flags: [.admin, .noscript, .noAsyncLoading], group: "server",
                    summary: "Starts writing a new base of the append-only file in the background.",
                    run: .client(AOFCommands.bgrewriteaof))
            .described(since: "1.0.0", acl: [.admin, .slow, .dangerous]),
        CommandSpec("lastsave", arity: 1, flags: [.loading, .stale, .fast], group: "server",
                    summary: "When the dump file was last written successfully (Unix seconds).", run: .client(lastsave))
            .described(since: "1.0.0", acl: [.admin, .fast, .dangerous], tips: ["nondeterministic_output"]),
        CommandSpec(part: .snapshot, arity: -1, group: "server",
                    run: .keyed(Persistence.snapshotPart, split: nil, crossShard: nil)),
        CommandSpec(part: .snapshotBegin, arity: 2, group: "server",
                    run: .keyed(Persistence.beginSnapshotPart, split: nil, crossShard: nil)),
    ]

    static func save(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        let state = w.context.persistence
        guard state.saveInProgress.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { out.writeError("ERR Background save already in progress"); return }
        if w.index != 0 && call.nesting == nil && w.context.replication.isReplica.load(ordering: .relaxed) {
            // A replica's dump carries its master's history (a restart then resyncs partially)
            // only when taken on worker 0, which owns the link: the save runs there.
            w.onWorkerZero(for: c) { zero, answer in
                var noCommand = CommandCall()
                var unused = ByteBuffer(capacity: 16)
                zero.saveNow(client: nil, call: &noCommand, out: &unused) { ok, _ in
                    state.saveInProgress.store(false, ordering: .releasing)
                    answer(Array((ok ? "+OK\r\n" : "-ERR\r\n").utf8))
                }
            }
            return
        }
        w.saveNow(client: c, call: &call, out: &out) { ok, out in
            state.saveInProgress.store(false, ordering: .releasing)
            if ok { out.writeOK() } else { out.writeError("ERR") }
        }
    }

    static func bgsave(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        if args.count > 2 || (args.count == 2 && !argIs(args[1], "schedule")) {
            out.writeError(Errors.syntax)
            return
        }
        // There is no other kind of background job, so SCHEDULE only matters inside EXEC: there
        // Redis defers the save to its timer, after the transaction, and so do we.
        let state = w.context.persistence
        if state.saveInProgress.load(ordering: .acquiring) {
            out.writeError("ERR Background save already in progress")
        } else if call.nesting != nil {
            state.backgroundSaveScheduled.store(true, ordering: .relaxed)
            out.append("+Background saving scheduled\r\n")
        } else if w.index != 0 && w.context.replication.isReplica.load(ordering: .relaxed) {
            // As SAVE: a replica's snapshot point is taken on worker 0, which owns the link.
            w.onWorkerZero(for: c) { zero, answer in
                var noCommand = CommandCall()
                var unused = ByteBuffer(capacity: 64)  // a save without a client answers nobody
                let started = zero.backgroundSave(client: nil, call: &noCommand, out: &unused)
                answer(Array((started ? "+Background saving started\r\n"
                                      : "-ERR Background save already in progress\r\n").utf8))
            }
        } else if !w.backgroundSave(client: c, call: &call, out: &out) {
            out.writeError("ERR Background save already in progress")
        }
    }

    static func lastsave(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        out.writeInteger(Int(w.context.persistence.lastSaveTime.load(ordering: .relaxed)))
    }
}
