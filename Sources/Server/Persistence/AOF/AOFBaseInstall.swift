#if canImport(Glibc)
import Glibc
#endif

extension AOFManifest {
    /// backgroundRewriteDoneHandler's swap, for the writer's rewrite and the one run with
    /// the AOF off: `temp` is renamed to `manifest`'s next base in `directory`; the old base
    /// and the rewritten incr files (all of them, or all but the one being appended to,
    /// `keepingCurrentIncr`) become history; the manifest is written, then the history files
    /// are removed and it is written without them (aofDelHistoryFiles). Returns the new
    /// manifest and the base's path, or nil when the rename or the manifest's write failed
    /// (the temp file or the new base removed, the manifest on disk as it was).
    static func installRewrittenBase(temp: String, into manifest: AOFManifest, directory: String, appendFilename: String,
                                     keepingCurrentIncr: Bool) -> (manifest: AOFManifest, basePath: String)? {
        var manifest = manifest
        // Named by its format (aof-use-rdb-preamble when the rewrite began).
        let baseName = manifest.newBase(appendFilename: appendFilename, rdbPreamble: AOFFile.isRDB(temp))
        let basePath = "\(directory)/\(baseName)"
        guard rename(temp, basePath) == 0 else {
            Log.warning("Error trying to rename the temporary AOF base file \(temp) into \(basePath): \(String(cString: strerror(errno)))")
            unlink(temp)
            return nil
        }
        Log.notice("Successfully renamed the temporary AOF base file \(temp) into \(baseName)")
        let kept = keepingCurrentIncr ? [manifest.incr.removeLast()] : []
        manifest.history += manifest.incr.map { FileInfo(name: $0.name, seq: $0.seq, type: "h") }
        manifest.incr = kept
        if let error = write(manifest, directory: directory, appendFilename: appendFilename) {
            Log.warning(error)
            unlink(basePath)
            return nil
        }
        for h in manifest.history {
            Log.notice("Removing the history file \(h.name) in the background")
            unlink("\(directory)/\(h.name)")
        }
        manifest.history = []
        _ = write(manifest, directory: directory, appendFilename: appendFilename)
        return (manifest, basePath)
    }
}
