import Glibc
import RESP
import Shards

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE] (Redis 7.0's debug.c): saves the dump, empties
/// every database and loads the dump back, as one operation under whole-shard locks, so no
/// client sees the data half reloaded. The steps: the shards' copies (or, with NOSAVE, an
/// empty part per shard to hold the locks), the file written and read back at the
/// coordinator (blocking this worker, as Redis blocks its thread), then `__load` on every
/// shard. Nothing is propagated: the data does not change. A master leaves out keys past
/// their deadline, as its start-up load does.
enum DebugReload {
    struct Options {
        var merge = false, flush = true, save = true
    }

    static func reload(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        var options = Options()
        for i in 2..<args.count {
            if argIs(args[i], "merge") { options.merge = true }
            else if argIs(args[i], "noflush") { options.flush = false }
            else if argIs(args[i], "nosave") { options.save = false }
            else { out.writeError("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options."); return }
        }
        let state = w.context.persistence
        if options.save {
            guard state.saveInProgress.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
            else { out.writeError("ERR Background save already in progress"); return }
        }
        let settings = w.saveSettings
        let shards = w.context.shardCount, databases = w.context.databases
        let keepExpired = w.context.replication.isReplica.load(ordering: .relaxed)
        let loadPart = w.table.index(of: .load)
        let op = MultiShardOperation(client: c) { [unowned w] op, out in
            if op.state == 1 {
                if let error = op.firstError() { out.append(error); return true }
                let replaced = (0..<op.parts.count).dropFirst(shards).reduce(0) { $0 + (integerReply(op.reply($1)) ?? 0) }
                if replaced > 0 && !options.merge {
                    // Redis stops with "Duplicated key found in RDB file" (a panic there).
                    Log.warning("DEBUG RELOAD NOFLUSH: \(replaced) keys of the dump were already in memory")
                    out.writeError("ERR Error trying to load the RDB dump, check server logs.")
                    return true
                }
                Log.warning("DB reloaded by DEBUG RELOAD")
                out.writeOK()
                return true
            }
            if options.save {
                defer { state.saveInProgress.store(false, ordering: .releasing) }
                let parts = (0..<shards).map { Array(op.reply($0)) }
                if let error = Persistence.write(parts: parts, prefix: 8, path: settings.path,
                                                 compression: settings.compression, checksum: settings.checksum,
                                                 replication: w.replicationHistoryForDump()) {
                    Log.warning("Failed saving the DB: \(error)")
                    out.writeError("ERR")
                    return true
                }
                state.lastSaveTime.store(Clock.unixMilliseconds() / 1000, ordering: .relaxed)
                state.changesAtLastSave.store(parts.reduce(0) { $0 + ($1.count >= 8 ? $1.withUnsafeBytes { $0.loadUnaligned(as: Int.self) } : 0) },
                                              ordering: .relaxed)
                Log.notice("DB saved on disk")
            }
            let records: ShardRecords
            do {
                var libraries: [[UInt8]] = []
                records = try ShardRecords(shards: shards, databases: databases,
                                           dropExpiredAt: keepExpired ? nil : Clock.unixMilliseconds()) {
                    try RDBReader.load(path: settings.path, verifyChecksum: settings.checksum,
                                       functions: { libraries.append($0) }, body: $0)
                }
                try FunctionRegistry.shared.replaceAll(withDumped: libraries,
                                                       policy: options.flush ? .flush : options.merge ? .replace : .append)
            } catch {
                Log.warning("Error loading the dump for DEBUG RELOAD: \(error)")
                out.writeError("ERR Error trying to load the RDB dump, check server logs.")
                return true
            }
            op.state = 1
            let name = op.store(string: InternalCommand.load.name)
            let mode = op.store(string: options.flush ? "flush" : "noflush")
            for s in 0..<shards {
                let blob = records.parts[s].withUnsafeBytes { op.store($0) }
                op.addPart(shard: s, command: loadPart, spanIndices: [name, blob, mode])
            }
            return false
        }
        let first = w.table.index(of: options.save ? .snapshot : .dbsize)
        let name = op.store(string: options.save ? InternalCommand.snapshot.name : InternalCommand.dbsize.name)
        for s in 0..<shards {
            op.addPart(shard: s, command: first, spanIndices: [name])
            op.lockWholeShard(s)
        }
        op.pausesClient = true  // the load step must run before the client's next commands
        w.start(op, client: c, call: &call, out: &out)
    }

    /// The value of a `:n` reply.
    private static func integerReply(_ r: UnsafeRawBufferPointer) -> Int? {
        guard r.count > 3, r[0] == UInt8(ascii: ":") else { return nil }
        return parseStrictInt(UnsafeRawBufferPointer(rebasing: r[1..<(r.count - 2)]))
    }
}
