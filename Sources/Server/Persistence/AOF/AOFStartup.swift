import Shards
#if canImport(Glibc)
import Glibc
#endif

/// `appendonly yes` at start-up, as Redis 7.0's aofLoadManifestFromDisk, loadAppendOnlyFiles
/// and aofOpenIfNeededOnServerStart do it: with a manifest, the AOF is loaded instead of the
/// dump (the base here on the main thread, the incr files replayed by worker 0 before any
/// client is served: AOFReplay); without one, a base of the (empty) dataset and a first incr
/// file are created. The incr file is then opened for the sequencer to append to.
/// Every error is Redis's log line and exit code 1.
enum AOFStartup {
    /// What is left to do once the workers run: the commands to replay, file by file.
    struct Replay {
        var files: [(name: String, isBase: Bool, commands: [UInt8])]
    }

    /// Returns nil when the AOF is off (the dump is loaded as usual). Exits on failure.
    static func prepare(_ config: Config, workers: [Worker], context: ServerContext) -> Replay? {
        guard config.bool("appendonly") else { return nil }
        context.durability.follow(config)
        let directory = config.value("appenddirname")
        let filename = config.value("appendfilename")
        let manifestPath = "\(directory)/\(filename).manifest"
        var manifest = AOFManifest()
        if AOFFile.exists(manifestPath) {
            guard let bytes = AOFFile.read(manifestPath) else {
                fail("Fatal error: can't open the AOF manifest file \(manifestPath) for reading: \(String(cString: strerror(errno)))")
            }
            do {
                manifest = try AOFManifest.parse(String(decoding: bytes, as: UTF8.self))
            } catch {
                Log.warning("\n*** FATAL AOF MANIFEST FILE ERROR ***\n")
                if let line = error.line, let text = error.text {
                    Log.warning("Reading the manifest file, at line \(line)\n")
                    Log.warning(">>> '\(text)'\n")
                }
                fail("\(error.message)\n")
            }
        }
        upgradeIfNeeded(&manifest, directory: directory, filename: filename)
        var replay = Replay(files: [])
        var baseSize: Int64 = 0, totalSize: Int64 = 0
        if manifest.base != nil || !manifest.incr.isEmpty {
            (replay, baseSize, totalSize) = load(manifest, directory: directory, config: config, workers: workers, context: context)
        }
        openIncr(&manifest, directory: directory, filename: filename, config: config, workers: workers)
        // As Redis: the sizes loaded (aof_current_size), the base's (aof_rewrite_base_size);
        // a base created at start-up is not counted.
        let incrSize = AOFFile.size("\(directory)/\(manifest.incr.last!.name)")
        context.aof.baseSize.store(baseSize, ordering: .relaxed)
        context.aof.rewriteBaseSize.store(baseSize, ordering: .relaxed)
        context.aof.currentSize.store(totalSize > 0 ? totalSize : incrSize, ordering: .relaxed)
        context.aof.enabled.store(true, ordering: .relaxed)
        return replay
    }

    /// A pre-7.0 single AOF (`<appendfilename>` in `dir`) becomes the base of a new
    /// directory, as loadAppendOnlyFiles and aofUpgradePrepare do it: when there is no
    /// directory, or no manifest naming files, or a manifest naming just that file as base
    /// while it is not in the directory yet (the move was cut short). The manifest is
    /// written first, then the file moved in.
    private static func upgradeIfNeeded(_ manifest: inout AOFManifest, directory: String, filename: String) {
        var st = stat()
        guard stat(filename, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return }
        let directoryExists = stat(directory, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR
        let nothingNamed = manifest.base == nil && manifest.incr.isEmpty
        let moveCutShort = manifest.base?.name == filename && manifest.incr.isEmpty
            && !AOFFile.exists("\(directory)/\(filename)")
        guard !directoryExists || nothingNamed || moveCutShort else { return }
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            fail("Can't open or create append-only dir \(directory): \(String(cString: strerror(errno)))")
        }
        manifest.base = AOFManifest.FileInfo(name: filename, seq: 1, type: "b")
        manifest.currentBaseSeq = 1
        if let error = AOFManifest.write(manifest, directory: directory, appendFilename: filename) {
            fail(error)
        }
        guard rename(filename, "\(directory)/\(filename)") == 0 else {
            fail("Error trying to move the old AOF file \(filename) into dir \(directory): \(String(cString: strerror(errno)))")
        }
        Log.notice("Successfully migrated an old-style AOF file (\(filename)) into the AOF directory (\(directory)).")
    }

    /// Loads the base into the shards (RDB) or queues it for replay (AOF format), checks
    /// every incr file and queues its commands (loadAppendOnlyFiles).
    private static func load(_ manifest: AOFManifest, directory: String, config: Config, workers: [Worker],
                             context: ServerContext) -> (Replay, base: Int64, total: Int64) {
        var replay = Replay(files: [])
        let files = [manifest.base].compactMap { $0 } + manifest.incr
        var total: Int64 = 0
        for f in files {
            let path = "\(directory)/\(f.name)"
            var st = stat()
            guard stat(path, &st) == 0 else {
                fail("Unable to obtain the AOF file \(f.name) length. stat: \(String(cString: strerror(errno)))")
            }
            total += Int64(st.st_size)
        }
        guard total > 0 else { return (replay, 0, 0) }
        let table = CommandTable.shared
        let loadTruncated = config.bool("aof-load-truncated")
        var baseSize: Int64 = 0
        for (i, f) in files.enumerated() {
            let path = "\(directory)/\(f.name)"
            let isBase = manifest.base != nil && i == 0
            let isLast = i == files.count - 1
            if isBase { baseSize = AOFFile.size(path) }
            guard let bytes = AOFFile.read(path) else {
                fail("Fatal error: can't open the append log file \(f.name) for reading: \(String(cString: strerror(errno)))")
            }
            if bytes.isEmpty { continue }
            // Commands start the file, or follow an RDB preamble (a base; in a pre-7.0 AOF
            // the commands appended after its last rewrite follow it too).
            var commandsStart = 0
            if bytes.count >= 5 && bytes[0..<5].elementsEqual("REDIS".utf8) {
                let oldStyle = f.name == config.value("appendfilename")   // an upgraded pre-7.0 AOF
                Log.notice(oldStyle ? "Reading RDB preamble from AOF file..." : "Reading RDB base file on AOF loading...")
                let started = Clock.monotonicMilliseconds()
                if let error = Persistence.load(config, workers: workers, context: context, aofBase: path,
                                                rdbEnd: { commandsStart = $0 }) {
                    Log.warning(error)
                    fail(oldStyle ? "Error reading the RDB preamble of the AOF file \(f.name), AOF loading aborted"
                                  : "Error reading the RDB base file \(f.name), AOF loading aborted")
                }
                if oldStyle { Log.notice("Reading the remaining AOF tail...") }
                guard commandsStart < bytes.count else {
                    Log.notice("DB loaded from base file \(f.name): \(seconds(since: started)) seconds")
                    continue
                }
            }
            let scan = AOFFile.scan(Array(bytes[commandsStart...]), name: f.name) { table.index(of: $0) != nil }
            switch scan.outcome {
            case .complete:
                break
            case .failed(let lines):
                for line in lines.dropLast() { Log.warning(line) }
                fail(lines.last!)
            case .truncated(let validUpTo):
                guard loadTruncated else {
                    fail("Unexpected end of file reading the append only file \(f.name). You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.")
                }
                Log.warning("!!! Warning: short read while loading the AOF file \(f.name)!!!")
                Log.warning("!!! Truncating the AOF \(f.name) at offset \(commandsStart + validUpTo) !!!")
                guard truncate(path, off_t(commandsStart + validUpTo)) == 0 else {
                    Log.warning("Error truncating the AOF file \(f.name): \(String(cString: strerror(errno)))")
                    fail("Unexpected end of file reading the append only file \(f.name). You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.")
                }
                Log.warning("AOF \(f.name) loaded anyway because aof-load-truncated is enabled")
                total -= Int64(bytes.count - commandsStart - validUpTo)
                guard isLast else { fail("Fatal error: the truncated file is not the last file") }
            }
            replay.files.append((f.name, isBase, scan.commands))
        }
        return (replay, baseSize, total)
    }

    /// Creates the directory, a base and the first incr file when there are none, opens the
    /// last incr file for appending, and writes the manifest if it changed.
    private static func openIncr(_ manifest: inout AOFManifest, directory: String, filename: String, config: Config,
                                 workers: [Worker]) {
        var changed = false
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            fail("Can't open or create append-only dir \(directory): \(String(cString: strerror(errno)))")
        }
        if manifest.base == nil && manifest.incr.isEmpty {
            let preamble = config.bool("aof-use-rdb-preamble")
            let name = manifest.newBase(appendFilename: filename, rdbPreamble: preamble)
            if let error = writeBase(path: "\(directory)/\(name)", preamble: preamble, config: config, workers: workers) {
                fail("Error writing the AOF base file \(name): \(error)")
            }
            Log.notice("Creating AOF base file \(name) on server start")
            changed = true
        }
        let incrName: String
        if let last = manifest.incr.last {
            incrName = last.name
            Log.notice("Opening AOF incr file \(incrName) on server start")
        } else {
            incrName = manifest.newIncr(appendFilename: filename)
            Log.notice("Creating AOF incr file \(incrName) on server start")
            changed = true
        }
        let fd = open("\(directory)/\(incrName)", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            fail("Can't open the append-only file \(incrName): \(String(cString: strerror(errno)))")
        }
        if changed, let error = AOFManifest.write(manifest, directory: directory, appendFilename: filename) {
            fail("Can't persist the AOF manifest: \(error)")
        }
        workers[0].context.aof.opened.withLock {
            $0 = (AOFWriter.Files(fd: fd, manifest: manifest, directory: directory, appendFilename: filename), false)
        }
        workers[0].context.aof.pendingOpen.store(true, ordering: .releasing)
        workers[0].context.aof.incrFD.store(fd, ordering: .releasing)
    }

    /// A base of what the shards hold now (before any worker runs): an RDB with `aof-base 1`,
    /// or with aof-use-rdb-preamble no an AOF-format file (start-up creates a base only for
    /// an empty dataset, whose AOF form is empty, as Redis's rewrite writes it).
    private static func writeBase(path: String, preamble: Bool, config: Config, workers: [Worker]) -> String? {
        guard preamble else {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { return String(cString: strerror(errno)) }
            defer { close(fd) }
            return fsync(fd) == 0 ? nil : String(cString: strerror(errno))
        }
        let parts = workers.compactMap { $0.shard }.map(Persistence.copy)
        return Persistence.write(parts: parts, prefix: 0, path: path, compression: config.bool("rdbcompression"),
                                 checksum: config.bool("rdbchecksum"), aofBase: true)
    }

    static func seconds(since started: Int64) -> String {
        ServerInfo.formatDouble(Double(Clock.monotonicMilliseconds() - started) / 1000, decimals: 3)
    }

    private static func fail(_ line: String) -> Never {
        Log.warning(line)
        exit(1)
    }
}

/// Worker 0 replays the AOF's commands through a client of its own, as Redis's AOF client
/// runs them: normal dispatch (so a command whose keys live on other shards takes the
/// usual path), replies dropped, no admission checks. Clients are served once it is done.
final class AOFReplay {
    var files: [(name: String, isBase: Bool, commands: [UInt8])]
    var index = 0
    var position = 0
    var client: Client?
    var fileStarted: Int64 = 0
    let started = Clock.monotonicMilliseconds()
    /// Workers that have not yet confirmed they record writes (the last step).
    var activating = -1
    /// What waits for the replay: a replica's link to its master (Redis loads the AOF
    /// before it connects; the AOF holds no replication id, so it then syncs in full).
    var then: [(Worker) -> Void] = []

    init(files: [(name: String, isBase: Bool, commands: [UInt8])]) {
        self.files = files
    }

    static let chunk = 1 << 20

    /// Worker 0 has replay work it can do now (else it sleeps until a reply or message wakes it).
    var canAdvance: Bool {
        guard activating < 0 else { return false }
        guard let c = client else { return true }
        return !c.pausedByOperation && (!c.input.isEmpty || position < files[index].commands.count)
    }
}

extension Worker {
    /// One step of the replay per loop pass: feed the current file's commands a chunk at a
    /// time; when a file's commands have all run, the next file (with a fresh client, in
    /// database 0, as Redis loads each file); at the end, recording starts on every worker,
    /// then the listeners are attached.
    func advanceAOFReplay() {
        guard let replay = aofReplay else { return }
        if replay.activating >= 0 { return }   // waiting for the workers (startRecordingAfterReplay)
        if let c = replay.client {
            let commands = replay.files[replay.index].commands
            if !c.pausedByOperation && c.input.count < 64 * 1024 && replay.position < commands.count {
                let end = min(commands.count, replay.position + AOFReplay.chunk)
                commands.withUnsafeBytes { c.input.append(UnsafeRawBufferPointer(rebasing: $0[replay.position..<end])) }
                replay.position = end
            }
            if !c.pausedByOperation && !c.input.isEmpty { process(c) }
            guard replay.position == commands.count, c.input.isEmpty, !c.pausedByOperation, !c.hasOutstandingReplies else { return }
            let file = replay.files[replay.index]
            Log.notice("DB loaded from \(file.isBase ? "base" : "incr") file \(file.name): \(AOFStartup.seconds(since: replay.fileStarted)) seconds")
            c.isClosed = true
            clients.remove(c)
            close(c.fd)
            replay.client = nil
            replay.files[replay.index].commands = []
            replay.index += 1
        }
        if replay.index < replay.files.count {
            let fd = open("/dev/null", O_WRONLY | O_CLOEXEC)
            let c = Client(fd: fd, id: context.nextClientID.add(1, ordering: .relaxed).oldValue, peer: "", local: "",
                           now: nowMs, maxBulk: Int.max)
            c.loadsAOF = true
            c.repliesOff = true
            c.authenticated = true
            clients.add(c)
            replay.client = c
            replay.position = 0
            replay.fileStarted = Clock.monotonicMilliseconds()
            return
        }
        Log.notice("DB loaded from append only file: \(AOFStartup.seconds(since: replay.started)) seconds")
        startRecordingAfterReplay(replay)
    }

    /// The replayed commands are not written to the AOF again: recording starts only now,
    /// and clients' commands are let through (no more -LOADING) once every worker has
    /// confirmed it records (a worker that read the flag just before it was set would
    /// otherwise run a client's first write unrecorded).
    private func startRecordingAfterReplay(_ replay: AOFReplay) {
        context.replication.propagating.store(true, ordering: .releasing)
        activatePropagationIfNeeded()
        replay.activating = context.workerCount - 1
        if replay.activating == 0 { finishAOFReplay(replay); return }
        for w in 1..<context.workerCount {
            send(.control({ other in
                other.activatePropagationIfNeeded()
                other.send(.control({ zero in
                    guard let replay = zero.aofReplay else { return }
                    replay.activating -= 1
                    if replay.activating == 0 { zero.finishAOFReplay(replay) }
                }), to: 0)
            }), to: w)
        }
    }

    private func finishAOFReplay(_ replay: AOFReplay) {
        aofReplay = nil
        for body in replay.then { body(self) }
        context.persistence.loading.store(false, ordering: .releasing)
        Log.notice("Ready to accept connections tcp")
    }
}
