import RESP
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What INFO persistence reports about the AOF, and what start-up hands the sequencer.
final class AppendOnlyState: Sendable {
    /// The AOF is on and its incr file open (aof_enabled).
    let enabled = Atomic<Bool>(false)
    /// Bytes of the base and incr files (aof_current_size), and of the base (aof_base_size).
    let currentSize = Atomic<Int64>(0)
    let baseSize = Atomic<Int64>(0)
    /// Bytes merged but not yet written (aof_buffer_length).
    let bufferLength = Atomic<Int>(0)
    let lastWriteOK = Atomic<Bool>(true)
    /// An fsync runs on the fsync thread (aof_pending_bio_fsync).
    let fsyncInProgress = Atomic<Bool>(false)
    let delayedFsyncs = Atomic<Int>(0)
    /// Files opened for the sequencer to take (start-up, CONFIG SET appendonly yes), and
    /// whether that incr file starts only at a rewrite's point (turned on at run time, the
    /// dataset so far goes to the base). `pendingOpen` says there is something to take.
    let opened = Mutex<(files: AOFWriter.Files, waitsForRewrite: Bool)?>(nil)
    let pendingOpen = Atomic<Bool>(false)
    /// BGREWRITEAOF: one runs (aof_rewrite_in_progress), one waits for a save to end
    /// (aof_rewrite_scheduled), how many succeeded, how the last ended, how long it took.
    let rewriteInProgress = Atomic<Bool>(false)
    let rewriteScheduled = Atomic<Bool>(false)
    let rewriteStarted = Atomic<Int64>(0)     // unix seconds, while one runs
    let rewrites = Atomic<Int>(0)
    let lastRewriteOK = Atomic<Bool>(true)
    let lastRewriteSeconds = Atomic<Int>(-1)
    let rewriteFailuresInARow = Atomic<Int>(0)
    /// The AOF's size after the last rewrite (at start-up, the base's): automatic rewrites
    /// measure growth from it (Redis's aof_rewrite_base_size).
    let rewriteBaseSize = Atomic<Int64>(0)
    /// A rewrite runs with the AOF off and its base is still wanted (CONFIG SET appendonly
    /// yes drops it); held while that base is put into the directory.
    let offlineRewriteWanted = Mutex<Bool>(false)
    /// The incr file being appended to (shutdown fsyncs it; -1: none).
    let incrFD = Atomic<Int32>(-1)

    /// INFO persistence's rewrite fields, aof_rewrite_in_progress to aof_rewrites_consecutive_failures.
    func rewriteFields(now: Int64) -> [(String, String)] {
        let running = rewriteInProgress.load(ordering: .relaxed)
        return [("aof_rewrite_in_progress", running ? "1" : "0"),
                ("aof_rewrite_scheduled", rewriteScheduled.load(ordering: .relaxed) ? "1" : "0"),
                ("aof_last_rewrite_time_sec", String(lastRewriteSeconds.load(ordering: .relaxed))),
                ("aof_current_rewrite_time_sec", running ? String(now - rewriteStarted.load(ordering: .relaxed)) : "-1"),
                ("aof_last_bgrewrite_status", lastRewriteOK.load(ordering: .relaxed) ? "ok" : "err"),
                ("aof_rewrites", String(rewrites.load(ordering: .relaxed))),
                ("aof_rewrites_consecutive_failures", String(rewriteFailuresInARow.load(ordering: .relaxed)))]
    }

    /// A rewrite ended, with the AOF on or off (backgroundRewriteDoneHandler's bookkeeping):
    /// its time and status, the counts INFO shows, the log line; then none is in progress.
    func rewriteEnded(ok: Bool) {
        let started = rewriteStarted.load(ordering: .relaxed)
        lastRewriteSeconds.store(Int(Clock.unixMilliseconds() / 1000 - started), ordering: .relaxed)
        lastRewriteOK.store(ok, ordering: .relaxed)
        if ok {
            rewrites.add(1, ordering: .relaxed)
            rewriteFailuresInARow.store(0, ordering: .relaxed)
            Log.notice("Background AOF rewrite finished successfully")
        } else {
            rewriteFailuresInARow.add(1, ordering: .relaxed)
            Log.warning("Background AOF rewrite failed")
        }
        rewriteInProgress.store(false, ordering: .releasing)
    }

    /// INFO persistence's lines Redis adds while the AOF is on.
    var infoLines: [String] {
        ["aof_current_size:\(currentSize.load(ordering: .relaxed))", "aof_base_size:\(baseSize.load(ordering: .relaxed))",
         "aof_pending_rewrite:0", "aof_buffer_length:\(bufferLength.load(ordering: .relaxed))",
         "aof_pending_bio_fsync:\(fsyncInProgress.load(ordering: .relaxed) ? 1 : 0)",
         "aof_delayed_fsync:\(delayedFsyncs.load(ordering: .relaxed))"]
    }
}

/// The sequencer's side of the AOF: the merged write stream (the replicas' stream without
/// the master's own PINGs and GETACKs, with SELECTs of its own) is appended to a buffer as
/// it is merged, written to the incr file once per sequencer pass, and fsynced by
/// `appendfsync`: everysec by a thread of its own at most once a second (Redis's bio
/// fsync), no never (the kernel decides). Nothing of it runs on a worker.
final class AOFWriter {
    /// The files start-up prepared: the open incr file and the manifest naming it.
    struct Files {
        var fd: Int32
        var manifest: AOFManifest
        let directory: String
        let appendFilename: String
    }
    private let state: AppendOnlyState
    private var fd: Int32
    private var files: Files
    private var buffer = ByteBuffer(capacity: 64 * 1024)
    /// Database of the last command written (-1: SELECT before the next; a new file starts so).
    private(set) var selectedDB = -1
    enum Policy {
        case always, everysec, no
        init(_ name: String) { self = name == "always" ? .always : name == "no" ? .no : .everysec }
    }
    var policy = Policy.everysec
    /// aof-timestamp-enabled: a `#TS:<unix seconds>` line before the first command of each
    /// second (Redis 7.0's genAofTimestampAnnotationIfNeeded; loaders skip `#` lines).
    var timestamps = false
    private var annotatedSecond = 0
    /// Bytes written since the last fsync began.
    private var unsynced = false
    private var lastFsyncMs: Int64 = 0
    private let syncer: FsyncThread
    /// The running rewrite: whether its point switched the incr file (nil: not reached
    /// yet), and its end if that arrived first.
    private var rewriteSwitched: Bool?
    private var pendingRewriteEnd: String??

    init(files: Files, state: AppendOnlyState) {
        self.files = files
        fd = files.fd
        self.state = state
        syncer = FsyncThread(fd: fd, state: state)
        lastFsyncMs = Clock.monotonicMilliseconds()
    }

    /// A command of the merged stream, in database `db` (feedAppendOnlyFile: SELECT first
    /// when the database changes).
    @inline(__always)
    func append(db: Int, _ command: UnsafeRawBufferPointer) {
        if timestamps { annotateIfNewSecond() }
        if db != selectedDB && db >= 0 {
            appendSelect(db)
        }
        buffer.append(command)
    }

    func appendSelect(_ db: Int) {
        if timestamps { annotateIfNewSecond() }
        let digits = String(db)
        buffer.append(string: "*2\r\n$6\r\nSELECT\r\n$\(digits.utf8.count)\r\n\(digits)\r\n")
        selectedDB = db
    }

    private func annotateIfNewSecond() {
        // Not time(): glibc reads a coarse clock that may still give the last second.
        let now = Int(Clock.unixMilliseconds() / 1000)
        guard annotatedSecond < now else { return }
        annotatedSecond = now
        buffer.append(string: "#TS:\(now)\r\n")
    }

    /// Bytes that are not a command of a database (MULTI, EXEC).
    func append(_ text: StaticString) {
        if timestamps { annotateIfNewSecond() }
        buffer.append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Once per sequencer pass, after the merge (flushAppendOnlyFile): writes what the pass
    /// merged, then starts an fsync if the policy wants one now.
    func flush(now: Int64) {
        if buffer.count > 0 {
            let written = AOFFile.writeAll(fd, buffer.readable)
            if written {
                state.currentSize.add(Int64(buffer.count), ordering: .relaxed)
                if !state.lastWriteOK.load(ordering: .relaxed) {
                    Log.warning("AOF write error looks solved, Redis can write again.")
                    state.lastWriteOK.store(true, ordering: .relaxed)
                }
                buffer.clear()
                unsynced = true
            } else {
                if policy == .always {
                    // Replies wait for this write: Redis exits rather than acknowledge later.
                    Log.warning("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...")
                    exit(1)
                }
                // The buffer is kept and written again next pass (Redis retries too).
                if state.lastWriteOK.load(ordering: .relaxed) {
                    Log.warning("Error writing to the AOF file: \(String(cString: strerror(errno)))")
                }
                state.lastWriteOK.store(false, ordering: .relaxed)
            }
            state.bufferLength.store(buffer.count, ordering: .relaxed)
        }
        guard unsynced else { return }
        switch policy {
        case .no:
            unsynced = false
        case .always:
            // Here, on the sequencer: the replies it covers wait for it (DurabilityGate),
            // and the workers go on meanwhile, so the next one covers all they wrote.
            if fdatasync(fd) != 0 {
                Log.warning("Can't persist AOF for fsync error when the AOF fsync policy is 'always': \(String(cString: strerror(errno))). Exiting...")
                exit(1)
            }
            unsynced = false
            lastFsyncMs = now
        case .everysec:
            guard now - lastFsyncMs >= 1000 else { return }
            if state.fsyncInProgress.load(ordering: .acquiring) {
                state.delayedFsyncs.add(1, ordering: .relaxed)
                return
            }
            lastFsyncMs = now
            unsynced = false
            syncer.request()
        }
    }

    /// Everything appended so far is written and fsynced (appendfsync always, after `flush`).
    var isDurable: Bool { buffer.count == 0 && !unsynced }

    /// How long the sequencer may sleep: written but unsynced bytes need an fsync within a second.
    var timerMs: Int32 {
        guard unsynced || buffer.count > 0 else { return -1 }
        if buffer.count > 0 { return 1 }
        return Int32(max(1, min(1000, 1000 - (Clock.monotonicMilliseconds() - lastFsyncMs))))
    }

    /// CONFIG SET appendonly no: everything written, on disk, and the file closed (stopAppendOnly).
    func stop() {
        flush(now: Clock.monotonicMilliseconds())
        _ = fsync(fd)
        state.incrFD.store(-1, ordering: .releasing)
        syncer.stopAndClose()   // the fsync thread closes the file as it exits
    }
}

// MARK: BGREWRITEAOF

extension AOFWriter {
    /// Marks a snapshot point that belongs to a rewrite, not to a full resync.
    static let rewritePointFlag: UInt64 = 1 << 63

    /// The rewrite's point was merged for a writer that waited for it (appendonly turned on
    /// at run time): its incr file starts here.
    func startedAtRewritePoint() {
        rewriteSwitched = true
        selectedDB = -1
        if let end = pendingRewriteEnd {
            pendingRewriteEnd = nil
            completeRewrite(temp: end)
        }
    }

    /// The rewrite's point was merged (ReplicationMaster, in stream order).
    func rewritePointReached() {
        rewriteSwitched = startIncrForRewrite()
        if let end = pendingRewriteEnd {
            pendingRewriteEnd = nil
            completeRewrite(temp: end)
        }
    }

    /// The rewrite's base is written (`temp`), or failed (nil).
    func rewriteEnded(temp: String?) {
        guard rewriteSwitched != nil else { pendingRewriteEnd = .some(temp); return }
        completeRewrite(temp: temp)
    }

    private func completeRewrite(temp: String?) {
        var ok = false
        if let temp {
            if rewriteSwitched == true { ok = finishRewrite(temp: temp) } else { unlink(temp) }
        }
        rewriteSwitched = nil
        state.rewriteEnded(ok: ok)
    }

    /// The rewrite's snapshot point reached the stream: what came before it stays in the
    /// current incr file, what follows goes to a new one, named in the manifest at once
    /// (Redis opens it as the rewrite starts: openNewIncrAofForAppend). Returns false if
    /// the new file could not be made (the rewrite then fails; writing goes on in the old).
    func startIncrForRewrite() -> Bool {
        flush(now: Clock.monotonicMilliseconds())
        var manifest = files.manifest
        let name = manifest.newIncr(appendFilename: files.appendFilename)
        let newFD = open("\(files.directory)/\(name)", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard newFD >= 0 else {
            Log.warning("Can't open the append-only file \(name): \(String(cString: strerror(errno)))")
            return false
        }
        if let error = AOFManifest.write(manifest, directory: files.directory, appendFilename: files.appendFilename) {
            Log.warning(error)
            close(newFD)
            unlink("\(files.directory)/\(name)")
            return false
        }
        Log.notice("Creating AOF incr file \(name) on background rewrite")
        files.manifest = manifest
        let old = fd
        fd = newFD
        files.fd = newFD
        syncer.fd.store(newFD, ordering: .releasing)
        state.incrFD.store(newFD, ordering: .releasing)
        selectedDB = -1
        unsynced = false
        // The old file's last second is made durable, and it is closed, off this thread.
        ServerMain.spawnThread { _ = fsync(old); close(old) }
        return true
    }

    /// The new base is written (`temp`, in `dir`): it becomes the manifest's base, every
    /// incr file before the current one and the old base become history and are removed
    /// (backgroundRewriteDoneHandler, aofDelHistoryFiles).
    func finishRewrite(temp: String) -> Bool {
        guard let (manifest, basePath) = AOFManifest.installRewrittenBase(
            temp: temp, into: files.manifest, directory: files.directory, appendFilename: files.appendFilename,
            keepingCurrentIncr: true) else { return false }
        files.manifest = manifest
        let current = manifest.incr[0]  // the file appended to, the only incr file left
        let baseSize = AOFFile.size(basePath)
        state.baseSize.store(baseSize, ordering: .relaxed)
        state.currentSize.store(baseSize + AOFFile.size("\(files.directory)/\(current.name)"), ordering: .relaxed)
        state.rewriteBaseSize.store(state.currentSize.load(ordering: .relaxed), ordering: .relaxed)
        return true
    }
}

/// Redis's bio fsync thread for `appendfsync everysec`: waits on an pipe, fsyncs the file.
final class FsyncThread: @unchecked Sendable {  // its pipe is fixed after init
    /// The incr file (a rewrite switches it).
    let fd: Atomic<Int32>
    /// A pipe: the sequencer writes a byte, this thread's blocking read wakes.
    private let readEnd: Int32, writeEnd: Int32
    private let state: AppendOnlyState

    init(fd: Int32, state: AppendOnlyState) {
        self.fd = Atomic(fd)
        self.state = state
        var ends: [Int32] = [-1, -1]
        precondition(pipe(&ends) == 0, "pipe failed")
        (readEnd, writeEnd) = (ends[0], ends[1])
        ServerMain.spawnThread { [self] in run() }
    }

    /// The thread ends (appendonly no) after any fsync asked before, closing the file.
    func stopAndClose() {
        close(writeEnd)
    }

    func request() {
        state.fsyncInProgress.store(true, ordering: .releasing)
        var one: UInt8 = 1
        _ = Glibc.write(writeEnd, &one, 1)
    }

    private func run() {
        var value: UInt8 = 0
        while true {
            let n = Glibc.read(readEnd, &value, 1)
            if n < 0 && errno == EINTR { continue }
            guard n == 1 else {
                close(readEnd)
                close(fd.load(ordering: .acquiring))
                return
            }
            _ = fdatasync(fd.load(ordering: .acquiring))
            state.fsyncInProgress.store(false, ordering: .releasing)
        }
    }
}
