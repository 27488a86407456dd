import RESP
import Shards
#if canImport(Glibc)
import Glibc
#endif

/// BGREWRITEAOF without fork: a copy-on-write snapshot of every shard (the BGSAVE machinery)
/// whose point in time is also a point in the merged stream. The sequencer starts a new incr
/// file at that point (everything before it is in the snapshot); a thread writes the
/// snapshot as the new RDB base; the sequencer then swaps the manifest (new base, the older
/// incr files and the old base removed), as Redis's backgroundRewriteDoneHandler does.
extension Worker {
    /// Starts a rewrite; false if a save or another rewrite runs (the caller schedules it).
    /// With the AOF off it rewrites too, as Redis 7.0 does: the base goes into the
    /// directory, named in the manifest on disk, whose incr files it replaces
    /// (`AOFOfflineRewrite`).
    @discardableResult
    func startAOFRewrite() -> Bool {
        let aof = context.aof, persistence = context.persistence
        guard !aof.rewriteInProgress.load(ordering: .acquiring),
              persistence.saveInProgress.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return false }
        let offline = !aof.enabled.load(ordering: .relaxed)
        aof.rewriteInProgress.store(true, ordering: .releasing)
        aof.rewriteScheduled.store(false, ordering: .relaxed)
        aof.rewriteStarted.store(Clock.unixMilliseconds() / 1000, ordering: .relaxed)
        if offline { aof.offlineRewriteWanted.withLock { $0 = true } }
        Log.notice("Background append only file rewriting started")
        activatePropagationIfNeeded()
        let settings = saveSettings
        let context = self.context
        let (preamble, timestamps) = context.config.withLock { ($0.bool("aof-use-rdb-preamble"), $0.bool("aof-timestamp-enabled")) }
        let temp = "temp-rewriteaof-bg-\(getpid()).aof"   // in `dir`, as Redis names it
        var ignored = ByteBuffer(capacity: 64)
        var noCommand = CommandCall()
        nextAOFRewrite &+= 1
        let point = AOFWriter.rewritePointFlag | nextAOFRewrite
        beginIncrementalSnapshot(client: nil, call: &noCommand, out: &ignored, atPoint: { [unowned self] in
            // Without the AOF no incr file starts at the snapshot's point.
            if !offline { self.propagation?.snapshotPoint(id: point) }
        }) { parts, _ in
            ServerMain.spawnThread {
                // The base is an RDB (aof-use-rdb-preamble yes) or commands.
                let error = preamble
                    ? Persistence.write(parts: parts, prefix: 0, path: temp, compression: settings.compression,
                                        checksum: settings.checksum, aofBase: true)
                    : AOFCommandBase.write(parts: parts, prefix: 0, path: temp, timestamp: timestamps)
                if let error { Log.warning("Error writing the AOF base \(temp): \(error)") }
                else { Log.notice("Successfully created the temporary AOF base file \(temp)") }
                if offline {
                    AOFOfflineRewrite.install(temp: error == nil ? temp : nil, context: context)
                } else {
                    context.postToSequencer(.aofRewriteEnded(temp: error == nil ? temp : nil))
                }
                persistence.saveInProgress.store(false, ordering: .releasing)
            }
        }
        return true
    }

    /// Worker 0's timer: a rewrite scheduled while a save ran starts once none does, and the
    /// automatic one by auto-aof-rewrite-percentage / -min-size (serverCron's rule: the AOF
    /// over the minimum and grown by the percentage over its size after the last rewrite).
    func startScheduledAOFRewrite() {
        let aof = context.aof
        guard !context.persistence.saveInProgress.load(ordering: .relaxed),
              !aof.rewriteInProgress.load(ordering: .relaxed) else { return }
        // A scheduled BGREWRITEAOF runs with the AOF off too (serverCron); the automatic one not.
        if aof.rewriteScheduled.load(ordering: .relaxed) {
            startAOFRewrite()
            return
        }
        guard aof.enabled.load(ordering: .relaxed) else { return }
        let (percentage, minimum) = context.config.withLock {
            ($0.integer("auto-aof-rewrite-percentage"), Int64($0.integer("auto-aof-rewrite-min-size")))
        }
        let current = aof.currentSize.load(ordering: .relaxed)
        guard percentage > 0, current > minimum else { return }
        // A failed rewrite is not retried at every tick (Redis waits for its retry delay too).
        if !aof.lastRewriteOK.load(ordering: .relaxed),
           Clock.unixMilliseconds() / 1000 - aof.rewriteStarted.load(ordering: .relaxed) < Worker.backgroundSaveRetryDelay {
            return
        }
        let base = max(aof.rewriteBaseSize.load(ordering: .relaxed), 1)
        let growth = current * 100 / base - 100
        guard growth >= percentage else { return }
        Log.notice("Starting automatic rewriting of AOF on \(growth)% growth")
        startAOFRewrite()
    }
}

enum AOFCommands {
    static func bgrewriteaof(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        let aof = w.context.aof
        if aof.rewriteInProgress.load(ordering: .acquiring) {
            out.writeError("ERR Background append only file rewriting already in progress")
        } else if call.nesting != nil || w.context.persistence.saveInProgress.load(ordering: .acquiring) {
            aof.rewriteScheduled.store(true, ordering: .relaxed)
            aof.rewriteFailuresInARow.store(0, ordering: .relaxed)
            out.append("+Background append only file rewriting scheduled\r\n")
        } else if w.startAOFRewrite() {
            out.append("+Background append only file rewriting started\r\n")
        } else {
            aof.rewriteScheduled.store(true, ordering: .relaxed)
            out.append("+Background append only file rewriting scheduled\r\n")
        }
    }
}

/// CONFIG SET appendonly yes|no while the server runs (Redis's startAppendOnly and
/// stopAppendOnly).
extension Worker {
    /// `afterStop` (worker 0 only): runs once the file is closed (at once if it was off).
    func appendOnlyChanged(to on: Bool, afterStop: (@Sendable (Worker) -> Void)? = nil) {
        let aof = context.aof
        guard on != aof.enabled.load(ordering: .relaxed) else {
            afterStop?(self)
            return
        }
        guard on else {
            aof.enabled.store(false, ordering: .relaxed)
            aof.rewriteScheduled.store(false, ordering: .relaxed)
            handOffReplicationRecords()
            context.postToSequencer(.aofStop(sequenceBound: context.replication.clock.next.load(ordering: .sequentiallyConsistent),
                                             then: afterStop))
            return
        }
        // A new incr file, named after the manifest on disk if there is one; it is named in
        // the manifest once the rewrite has written the base of everything before it. A
        // rewrite that runs without the AOF is dropped (Redis kills it): its base would
        // change the manifest read here.
        aof.offlineRewriteWanted.withLock { $0 = false }
        let config = context.config.withLock { $0 }
        let directory = config.value("appenddirname"), filename = config.value("appendfilename")
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            Log.warning("Can't open or create append-only dir \(directory): \(String(cString: strerror(errno)))")
            return
        }
        var manifest = AOFManifest()
        if let bytes = AOFFile.read("\(directory)/\(filename).manifest"),
           let parsed = try? AOFManifest.parse(String(decoding: bytes, as: UTF8.self)) {
            manifest = parsed
        }
        let name = manifest.newIncr(appendFilename: filename)
        let fd = open("\(directory)/\(name)", O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            Log.warning("Redis needs to enable the AOF but can't open the append only file \(name): \(String(cString: strerror(errno)))")
            return
        }
        aof.opened.withLock {
            $0 = (AOFWriter.Files(fd: fd, manifest: manifest, directory: directory, appendFilename: filename), true)
        }
        aof.pendingOpen.store(true, ordering: .releasing)
        aof.incrFD.store(fd, ordering: .releasing)
        aof.currentSize.store(0, ordering: .relaxed)
        aof.baseSize.store(0, ordering: .relaxed)
        aof.enabled.store(true, ordering: .relaxed)
        context.replication.propagating.store(true, ordering: .releasing)
        if !startAOFRewrite() {
            aof.rewriteScheduled.store(true, ordering: .relaxed)   // after the save that runs
        }
    }
}
