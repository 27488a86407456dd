import CShim
import Net
import RESP
import Shards
import Values
#if canImport(Glibc)
import Glibc
#endif

/// Start-up: options and config file, listener, workers.
public enum ServerMain {
    public static func run(_ arguments: [String]) -> Never {
        let args = Array(arguments.dropFirst())
        if let first = args.first {
            if first == "-v" || first == "--version" {
                print("ValKeyper server v=\(ServerInfo.valkeyperVersion) redis_version=\(ServerInfo.redisVersion) malloc=\(ServerInfo.allocatorName) bits=64")
                exit(0)
            }
            if first == "-h" || first == "--help" {
                print(usage)
                exit(0)
            }
        }
        let config: Config
        do {
            config = try StartupOptions.parse(args)
        } catch {
            printError("FATAL CONFIG ERROR: \(error.description)")
            exit(1)
        }
        start(config)
    }

    static let usage = """
        Usage: valkeyper-server [/path/to/valkeyper.conf] [options]
               valkeyper-server -v or --version
               valkeyper-server -h or --help

        Examples:
               valkeyper-server (run the server with default config)
               valkeyper-server /etc/redis/6379.conf
               valkeyper-server --port 7777
               valkeyper-server --port 7777 --replicaof 127.0.0.1 8888
               valkeyper-server /etc/myredis.conf --loglevel verbose
               valkeyper-server --threads 2 --shards 2
        """

    static func start(_ config: Config) -> Never {
        LiveConfig.publish(config)
        let logfile = config.value("logfile")
        if !logfile.isEmpty {
            let f = open(logfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            guard f >= 0 else {
                printError("Can't open the log file: \(String(cString: strerror(errno)))")
                exit(1)
            }
            Log.fd = f
        }
        var rng = SystemRandomNumberGenerator()
        KeyHash.seed = rng.next()  // before any worker starts: read-only from then on
        BytesHash.memberSeed = rng.next()  // likewise

        let dir = config.value("dir")
        if chdir(dir) != 0 {
            printError("Can't chdir to '\(dir)': \(String(cString: strerror(errno)))")
            exit(1)
        }

        let signalFD = vk_signalfd_setup()
        var listeners: [Int32] = []
        var boundPort = config.port
        for raw in config.bind {
            let optional = raw.hasPrefix("-")
            var host = optional ? String(raw.dropFirst()) : raw
            if host == "*" { host = "0.0.0.0" }
            if host == "::*" { host = "::" }
            switch Socket.listen(host: host, port: boundPort, backlog: config.integer("tcp-backlog")) {
            case .success(let (fd, port)):
                listeners.append(fd)
                boundPort = port
            case .failure(let error):
                if optional { continue }
                Log.warning("Warning: Could not create server TCP listening socket \(host):\(config.port): \(error)")
                Log.warning("Failed listening on port \(config.port) (tcp), aborting.")
                exit(1)
            }
        }
        guard !listeners.isEmpty else {
            Log.warning("Failed listening on port \(config.port) (tcp), aborting.")
            exit(1)
        }

        let context = ServerContext(config: config, port: boundPort)
        let workers = (0..<context.workerCount).map { Worker(index: $0, context: context) }
        ServerInfo.startupMemory.store(ServerInfo.usedMemory(), ordering: .relaxed)
        // With appendonly yes the AOF is loaded instead of the dump, as in Redis.
        let aofReplay = AOFStartup.prepare(config, workers: workers, context: context)
        if aofReplay == nil, let error = Persistence.load(config, workers: workers, context: context) {
            printError(error)
            exit(1)
        }
        if let files = aofReplay?.files, !files.isEmpty {
            // Clients are served meanwhile, most commands answered -LOADING (Admission).
            context.persistence.loading.store(true, ordering: .releasing)
            workers[0].aofReplay = AOFReplay(files: files)
        } else if aofReplay != nil {
            context.replication.propagating.store(true, ordering: .releasing)
        }
        for fd in listeners { workers[0].attachListener(fd) }
        ReplicaCommands.configureAtStartup(config, workers: workers, context: context)
        workers[0].attachSignals(signalFD)

        Log.notice("oO0OoO0OoO0Oo ValKeyper is starting oO0OoO0OoO0Oo")
        Log.notice("ValKeyper version=\(ServerInfo.valkeyperVersion) (redis_version=\(ServerInfo.redisVersion)), bits=64, pid=\(getpid()), just started")
        Log.notice("Memory allocator: \(ServerInfo.allocatorName); \(context.workerCount) threads, \(context.shardCount) shards")
        Log.notice("Running mode=standalone, port=\(boundPort).")
        if workers[0].aofReplay == nil { Log.notice("Ready to accept connections tcp") }  // else once replayed

        let sequencer = Sequencer(context: context)
        spawnThread { sequencer.run() }
        for w in workers.dropFirst() { spawnThread { w.run() } }
        workers[0].run()
        exit(0)
    }

    private final class ThreadBody {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    static func spawnThread(_ body: @escaping @Sendable () -> Void) {
        var thread = pthread_t()
        let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            let box = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        pthread_detach(thread)
    }
}

/// Redis-style command line and config file parsing.
enum StartupOptions {
    static func parse(_ args: [String]) throws(ConfigError) -> Config {
        var config = Config()
        var index = 0
        var lines: [(source: String, words: [String])] = []
        if let first = args.first, !first.hasPrefix("--") {
            let path = first
            index = 1
            guard let text = readFile(path) else {
                throw ConfigError("Fatal error, can't open config file '\(path)': \(String(cString: strerror(errno)))")
            }
            config.configFile = ServerInfo.absolutePath(path)  // before --dir changes the directory
            for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = raw.trimmingCharacters(" \t\r")
                if line.isEmpty || line.hasPrefix("#") { continue }
                guard let words = splitArgs(line) else {
                    throw ConfigError("\(path):\(n + 1): '\(line)': Unbalanced quotes in configuration line")
                }
                lines.append(("\(path):\(n + 1): '\(line)'", words))
            }
        }
        var current: [String]? = nil
        while index < args.count {
            let a = args[index]
            if a.hasPrefix("--") && a.count > 2 {
                if let c = current { lines.append(("option '--\(c.joined(separator: " "))'", c)) }
                current = [String(a.dropFirst(2))]
            } else {
                guard current != nil else { throw ConfigError("Invalid argument '\(a)': options start with '--'") }
                current!.append(a)
            }
            index += 1
        }
        if let c = current { lines.append(("option '--\(c.joined(separator: " "))'", c)) }

        for (source, words) in lines {
            let name = words[0].lowercased()
            var values = Array(words.dropFirst())
            if name == "include" || name == "rename-command" || name == "loadmodule" || name == "user" { continue }
            if name == "save" && values.isEmpty { values = [""] }
            guard Config.parameter(named: name) != nil else {
                throw ConfigError("\(source): Bad directive or wrong number of arguments")
            }
            guard !values.isEmpty else { throw ConfigError("\(source): wrong number of arguments") }
            // Multi-valued directives (save, bind, client-output-buffer-limit) accumulate.
            var value = values.joined(separator: " ")
            if name == "save", values != [""], let p = Config.parameter(named: name),
               config.value(p.name) != p.defaultValue, !config.value(p.name).isEmpty, sourceIsFile(source) {
                value = config.value(p.name) + " " + value
            }
            do { try config.set(name, value) } catch {
                throw ConfigError("\(source): \(error.description)")
            }
        }
        return config
    }

    private static func sourceIsFile(_ source: String) -> Bool { !source.hasPrefix("option") }

    static func readFile(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Splits a config line with Redis's quoting rules.
    static func splitArgs(_ line: String) -> [String]? {
        var parser = RequestParser()
        let data = Array((line + "\n").utf8)
        return data.withUnsafeBytes { buf -> [String]? in
            var consumed = 0
            switch parser.parse(buf, consumed: &consumed) {
            case .command:
                var words: [String] = []
                let base = parser.inlineScratch.base
                for i in 0..<parser.argumentCount {
                    let s = parser.spans[i]
                    words.append(String(decoding: UnsafeRawBufferPointer(start: base + s.offset, count: s.count), as: UTF8.self))
                }
                return words
            case .empty: return []
            default: return nil
            }
        }
    }
}

extension StringProtocol {
    func trimmingCharacters(_ set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

/// One line on standard error (start-up failures).
func printError(_ text: String) {
    let line = text + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}
