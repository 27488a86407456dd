import CShim
import Net
import RESP
import Shards
import Synchronization
#if canImport(Glibc)
import Glibc
import Values
#endif

/// A full resync's payload (`$<length>` or diskless `$EOF:<mark>`): read, parsed into
/// per-shard records and loaded by one fan-out under whole-shard locks.
extension MasterLink {
    // MARK: Full resync payload

    func transfer() {
        if !haveBulkHeader {
            while let line = takeLine() {
                if line.isEmpty { continue }  // keepalive newlines while the master prepares the RDB
                if line.first == UInt8(ascii: "-") {
                    drop(reason: "MASTER aborted replication with an error: \(masterText(line))")
                    return
                }
                guard line.first == UInt8(ascii: "$") else {
                    drop(reason: "Bad protocol from MASTER, the first byte is not '$' (we received '\(masterText(line).prefix(128))'), are you sure the host and port are right?")
                    return
                }
                if masterLine(line, startsWith: "$EOF:") && line.count == 5 + 40 {
                    eofMark = Array(line[5...])
                    Log.notice("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk")
                } else if let n = Int(masterText(Array(line[1...]))), n >= 0 {
                    payloadLength = n
                    Log.notice("MASTER <-> REPLICA sync: receiving \(n) bytes from master to disk")
                } else {
                    drop(reason: "Bad protocol from MASTER: bad payload length '\(masterText(line).prefix(128))'")
                    return
                }
                haveBulkHeader = true
                let total = Int64(eofMark == nil ? payloadLength : 0)
                context.replication.status.withLock { $0.syncTotalBytes = total }
                break
            }
            guard haveBulkHeader else { return }
        }
        let available = input.readable
        var done = false
        if eofMark == nil {
            let take = min(payloadLength - payload.count, available.count)
            payload.append(contentsOf: available[0..<take])
            input.discardFront(take)
            done = payload.count == payloadLength
        } else if let mark = eofMark {
            payload.append(contentsOf: available)
            input.clear()
            done = payload.count >= mark.count && payload.suffix(mark.count).elementsEqual(mark)
            if done { payload.removeLast(mark.count) }
        }
        let read = Int64(payload.count)
        context.replication.status.withLock { s in
            s.syncReadBytes = read
            s.syncLastIOMs = Clock.unixMilliseconds()
        }
        if done { loadPayload() }
    }

    /// Parses the payload into per-shard records, then replaces every shard's data with them
    /// in one fan-out under whole-shard locks (each shard loads its part on its own thread).
    private func loadPayload() {
        transition(to: .loading)
        Log.notice("MASTER <-> REPLICA sync: Flushing old data")
        Log.notice("MASTER <-> REPLICA sync: Loading DB in memory")
        let shards = context.shardCount, databases = context.databases
        let payload = self.payload
        self.payload = []
        // Redis acknowledges at once only a diskless transfer (it puts such a replica online);
        // after a `$<length>` payload the first ACK comes from the once-a-second timer.
        let ackNow = eofMark != nil
        var streamDB = 0
        let records: ShardRecords
        do {
            // Keys already past their deadline are kept: the master's DELs expire them.
            var libraries: [[UInt8]] = []
            records = try ShardRecords(shards: shards, databases: databases) {
                try RDBReader.load(bytes: payload, functions: { libraries.append($0) }, body: $0)
            }
            // The master's libraries replace ours, as its keys do.
            try FunctionRegistry.shared.replaceAll(withDumped: libraries)
        } catch {
            drop(reason: "Failed trying to load the MASTER synchronization DB from socket: \(error)")
            return
        }
        // The stream's database at the payload's point (Redis's rsi.repl_stream_db): a master
        // that is itself a replica passes its master's stream on without a SELECT of its own.
        if let db = records.aux["repl-stream-db"].flatMap({ Int($0) }), db >= 0, db < databases { streamDB = db }
        let (parts, keys, skipped) = (records.parts, records.keys, records.skipped)
        if skipped > 0 {
            Log.warning("MASTER <-> REPLICA sync: skipped \(skipped) keys of types this server does not hold yet")
        }
        // Redis stops the AOF before loading its master's data and turns it on again after
        // (restartAOFAfterSYNC): a new incr file and a rewrite whose base is the loaded data,
        // both named in the manifest once the base is written, so a crash meanwhile leaves
        // the old files whole. The load waits until the file is closed.
        if context.aof.enabled.load(ordering: .relaxed) {
            Log.notice("MASTER <-> REPLICA sync: stopping the AOF for the load")
            let attempt = generation
            worker.appendOnlyChanged(to: false, afterStop: { [self, streamDB] _ in
                guard isCurrent, generation == attempt, state == .loading else { restartAOFAfterSync(); return }
                load(parts: parts, keys: keys, streamDB: streamDB, ackNow: ackNow)
            })
            return
        }
        load(parts: parts, keys: keys, streamDB: streamDB, ackNow: ackNow)
    }

    private func load(parts: [[UInt8]], keys: Int, streamDB: Int, ackNow: Bool) {
        let shards = context.shardCount
        let loadPart = worker.table.index(of: .load)
        let attempt = generation
        let op = MultiShardOperation(internalWithDB: 0) { _, _ in true }
        let name = op.store(string: InternalCommand.load.name)
        for s in 0..<shards {
            let records = parts[s].withUnsafeBytes { op.store($0) }
            op.addPart(shard: s, command: loadPart, spanIndices: [name, records])
            op.lockWholeShard(s)
        }
        // After the locks are released: the stream that queued meanwhile runs next.
        op.onFinish = { [self] in
            restartAOFAfterSync()
            guard isCurrent, generation == attempt, state == .loading else { return }
            Log.notice("MASTER <-> REPLICA sync: Finished with success (\(keys) keys)")
            // The sequencer takes the master's history as this server's (replid, offset, backlog);
            // the stream starts once it has: records it holds are merged before its events, so
            // commands applied now would land in the old history and vanish with it.
            let (replid, offset, db) = (syncReplid, syncOffset, streamDB)
            context.postToSequencer(.resetStream(replid: replid, offset: offset, then: { [self] _ in
                guard isCurrent, generation == attempt, state == .loading else { return }
                startStreaming(replid: replid, offset: offset, db: db, ackNow: ackNow)
            }))
        }
        worker.startInternal(op)
    }

    /// appendonly yes again after a full sync's load (or one abandoned after the stop).
    func restartAOFAfterSync() {
        guard context.config.withLock({ $0.bool("appendonly") }), !context.aof.enabled.load(ordering: .relaxed) else { return }
        worker.appendOnlyChanged(to: true)
    }
}
