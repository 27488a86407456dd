#if canImport(Glibc)
import Glibc
#endif

/// BGREWRITEAOF with `appendonly no`, as Redis 7.0 runs it: the base is written all the
/// same and becomes the base of the directory's manifest (created if there is none); the
/// incr files named there become history and are removed (backgroundRewriteDoneHandler
/// with no AOF open: markRewrittenIncrAofAsHistory keeps none). Runs on the rewrite's thread.
enum AOFOfflineRewrite {
    static func install(temp: String?, context: ServerContext) {
        let state = context.aof
        var ok = false
        state.offlineRewriteWanted.withLock { wanted in
            defer { wanted = false }
            guard let temp else { return }
            guard wanted else {   // appendonly yes meanwhile: its own rewrite follows
                unlink(temp)
                return
            }
            Log.notice("Background AOF rewrite terminated with success")
            let (directory, filename) = context.config.withLock { ($0.value("appenddirname"), $0.value("appendfilename")) }
            ok = install(temp: temp, directory: directory, filename: filename)
        }
        let started = state.rewriteStarted.load(ordering: .relaxed)
        state.lastRewriteSeconds.store(Int(Clock.unixMilliseconds() / 1000 - started), ordering: .relaxed)
        state.lastRewriteOK.store(ok, ordering: .relaxed)
        if ok {
            state.rewrites.add(1, ordering: .relaxed)
            state.rewriteFailuresInARow.store(0, ordering: .relaxed)
            Log.notice("Background AOF rewrite finished successfully")
        } else {
            state.rewriteFailuresInARow.add(1, ordering: .relaxed)
            Log.warning("Background AOF rewrite failed")
        }
        state.rewriteInProgress.store(false, ordering: .releasing)
    }

    private static func install(temp: String, directory: String, filename: String) -> Bool {
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            Log.warning("Can't open or create append-only dir \(directory): \(String(cString: strerror(errno)))")
            unlink(temp)
            return false
        }
        var manifest = AOFManifest()
        if let bytes = AOFFile.read("\(directory)/\(filename).manifest"),
           let parsed = try? AOFManifest.parse(String(decoding: bytes, as: UTF8.self)) {
            manifest = parsed
        }
        let baseName = manifest.newBase(appendFilename: filename, rdbPreamble: AOFFile.isRDB(temp))
        guard rename(temp, "\(directory)/\(baseName)") == 0 else {
            Log.warning("Error trying to rename the temporary AOF base file \(temp) into \(directory)/\(baseName): \(String(cString: strerror(errno)))")
            unlink(temp)
            return false
        }
        Log.notice("Successfully renamed the temporary AOF base file \(temp) into \(baseName)")
        manifest.history += manifest.incr.map { AOFManifest.FileInfo(name: $0.name, seq: $0.seq, type: "h") }
        manifest.incr = []
        if let error = AOFManifest.write(manifest, directory: directory, appendFilename: filename) {
            Log.warning(error)
            unlink("\(directory)/\(baseName)")
            return false
        }
        for h in manifest.history {
            Log.notice("Removing the history file \(h.name) in the background")
            unlink("\(directory)/\(h.name)")
        }
        manifest.history = []
        _ = AOFManifest.write(manifest, directory: directory, appendFilename: filename)
        return true
    }
}
