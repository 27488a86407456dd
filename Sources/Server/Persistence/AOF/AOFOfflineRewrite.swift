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
        state.rewriteEnded(ok: ok)
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
        return AOFManifest.installRewrittenBase(temp: temp, into: manifest, directory: directory, appendFilename: filename,
                                                keepingCurrentIncr: false) != nil
    }
}
