import RESP
import Shards
#if canImport(Glibc)
import Glibc
#endif

/// CONFIG GET/SET/RESETSTAT/REWRITE/HELP (Redis 7.0's config.c).
enum ConfigCommands {
    static let spec = CommandSpec("config", arity: -2, group: "server", summary: "Reads and changes the server's configuration.",
                                  run: .container, subcommands: [
        sub("get", -3, "Current values of the parameters matching the patterns.", get)
            .described(since: "2.0.0", acl: [.admin, .slow, .dangerous],
                       arguments: [.block("parameter", [.string("parameter")]).multiple]),
        sub("set", -4, "Changes parameters while the server runs.", set)
            .described(since: "2.0.0", acl: [.admin, .slow, .dangerous],
                       tips: ["request_policy:all_nodes", "response_policy:all_succeeded"],
                       arguments: [.block("parameter_value", [.string("parameter"), .string("value")]).multiple]),
        sub("resetstat", 2, "Zeroes the counters INFO reports.", resetstat)
            .described(since: "2.0.0", acl: [.admin, .slow, .dangerous]),
        sub("rewrite", 2, "Writes the running configuration back to the config file.", rewrite)
            .described(since: "2.8.0", acl: [.admin, .slow, .dangerous]),
        CommandSpec("config|help", arity: 2, flags: [.loading, .stale], group: "server",
                    summary: "Lists the subcommands and what they do.", run: .client(help))
            .described(since: "5.0.0", acl: [.slow]),
    ])
        .described(since: "2.0.0", acl: [.slow])

    private static func sub(_ name: String, _ arity: Int, _ summary: String, _ handler: @escaping ClientHandler) -> CommandSpec {
        CommandSpec("config|" + name, arity: arity, flags: [.admin, .noscript, .loading, .stale], group: "server",
                    summary: summary, run: .client(handler))
    }

    // MARK: GET

    /// The value CONFIG GET shows: the live port and working directory rather than the configured ones.
    static func displayValue(_ p: ConfigParameter, _ config: Config, _ w: Worker) -> String {
        switch p.name {
        case "port": return String(w.context.port)
        case "dir": return ServerInfo.currentDirectory()
        default: return config.value(p.name)
        }
    }

    /// Patterns without glob characters are looked up exactly and answered under the name
    /// as typed; globs match every name and alias. A parameter is reported once.
    static func get(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        let config = w.context.config.withLock { $0 }
        var pairs: [(String, String)] = []
        var reported = Set<String>()   // lowercased names already in the reply
        for i in 2..<args.count {
            let pattern = args.string(i)
            if !pattern.contains(where: { "[*?".contains($0) }) {
                let key = pattern.lowercased()
                if let p = Config.parameter(named: pattern), !reported.contains(key) {
                    reported.insert(key)
                    pairs.append((pattern, displayValue(p, config, w)))
                }
                continue
            }
            for p in Config.parameters {
                for name in [p.name] + p.aliases where !reported.contains(name) && Glob.matches(pattern, name, caseInsensitive: true) {
                    reported.insert(name)
                    pairs.append((name, displayValue(p, config, w)))
                }
            }
        }
        out.writeMapHeader(pairs.count, c.resp)
        for (k, v) in pairs {
            out.writeBulk(string: k)
            out.writeBulk(string: v)
        }
    }

    // MARK: SET

    /// Protected configs need enable-protected-configs yes (or local, from a local client).
    private static func protectedAllowed(_ config: Config, _ c: Client) -> Bool {
        switch ProtectedAction(config.value("enable-protected-configs")) {
        case .yes: return true
        case .local: return c.isLocal
        case .no: return false
        }
    }

    /// Several name/value pairs, applied all or none; the first problem found is reported,
    /// in Redis's order: names first, then values.
    static func set(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard args.count % 2 == 0 else { out.writeError(Errors.syntax); return }
        let pairs = stride(from: 2, to: args.count, by: 2).map { (args.string($0), args.string($0 + 1)) }
        let failure: String? = w.context.config.withLock { config in
            var chosen: [String] = []
            var problem: String?
            for (typed, _) in pairs where problem == nil {
                guard let p = Config.parameter(named: typed) else {
                    problem = "ERR Unknown option or number of arguments for CONFIG SET - '\(typed)'"
                    break
                }
                if !p.mutable {
                    problem = "ERR CONFIG SET failed (possibly related to argument '\(typed)') - can't set immutable config"
                } else if p.flags.contains(.protected) && !protectedAllowed(config, c) {
                    problem = "ERR CONFIG SET failed (possibly related to argument '\(typed)') - can't set protected config"
                } else if chosen.contains(p.name) {
                    problem = "ERR CONFIG SET failed (possibly related to argument '\(typed)') - duplicate parameter"
                }
                chosen.append(p.name)
            }
            if let problem { return problem }
            var updated = config
            for (typed, value) in pairs {
                do throws(ConfigError) { try updated.set(typed, value) } catch {
                    return "ERR CONFIG SET failed (possibly related to argument '\(typed.lowercased())') - \(error.description)"
                }
            }
            config = updated
            return nil
        }
        if let failure { out.writeError(string: failure); return }
        let names = Set(pairs.map { Config.parameter(named: $0.0)!.name })
        apply(w, names: names)
        if names.contains("proto-max-bulk-len") {
            // Every worker's open connections take the new limit before the OK: a client that
            // sends a big argument after it, on any connection, meets the limit (Redis has
            // one thread, so it always does).
            let limit = w.context.config.withLock { $0.protoMaxBulkLen }
            w.askEveryWorker(c, call: call, out: &out, ask: { worker in
                for client in worker.clients.open { client.parser.maxBulkLength = limit }
            }, finish: { _, _, _, out in out.writeOK() })
            return
        }
        out.writeOK()
    }

    /// Makes new values take effect where the server caches them.
    static func apply(_ w: Worker, names: Set<String>) {
        // Published under the lock: two CONFIG SETs on different workers publish in the order
        // they changed the config, so the later one's values are the ones that stay.
        let config = w.context.config.withLock { config in
            LiveConfig.publish(config)
            return config
        }
        if names.contains("dir") { _ = chdir(config.value("dir")) }
        if names.contains("appendonly") { w.appendOnlyChanged(to: config.bool("appendonly")) }
        if names.contains("appendonly") || names.contains("appendfsync") {
            w.context.durability.follow(config)
            w.holdsWriteReplies = w.context.durability.holdsReplies.load(ordering: .relaxed)
        }
    }

    // MARK: RESETSTAT, REWRITE, HELP

    static func resetstat(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        w.context.totalConnections.store(0, ordering: .relaxed)
        w.context.rejectedConnections.store(0, ordering: .relaxed)
        ServerInfo.peakMemory.store(0, ordering: .relaxed)
        w.askEveryWorker(c, call: call, out: &out, ask: { worker in worker.resetStatistics() }, finish: { _, _, _, out in out.writeOK() })
    }

    static func rewrite(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        let config = w.context.config.withLock { $0 }
        guard let path = config.configFile else {
            out.writeError("ERR The server is running without a config file")
            return
        }
        if let error = ConfigRewrite.rewrite(path: path, config: config, port: w.context.port) {
            Log.warning("CONFIG REWRITE failed: \(error)")
            out.writeError(string: "ERR Rewriting config file: \(error)")
        } else {
            Log.warning("CONFIG REWRITE executed with success.")
            out.writeOK()
        }
    }

    static func help(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        writeHelp("CONFIG", [
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ], &out)
    }
}

/// CONFIG REWRITE: the file keeps its comments and unknown lines; each known directive
/// is rewritten in place with its current value (later duplicates dropped), and
/// parameters changed from their defaults but absent from the file are appended.
enum ConfigRewrite {
    static func rewrite(path: String, config: Config, port: Int) -> String? {
        let original = StartupOptions.readFile(path) ?? ""
        var output: [String] = []
        var written = Set<String>()
        for raw in original.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            let line = raw.trimmingCharacters(" \t\r")
            guard !line.isEmpty, !line.hasPrefix("#"), let words = StartupOptions.splitArgs(line), let first = words.first,
                  let p = Config.parameter(named: first) else {
                output.append(raw)
                continue
            }
            if written.contains(p.name) { continue }
            written.insert(p.name)
            output += lines(for: p, config.value(p.name))
        }
        while output.last == "" { output.removeLast() }
        // Lines a rewrite appended before follow its signature; a new one is not written.
        var appended = output.contains { $0.trimmingCharacters(" \t\r") == "# Generated by CONFIG REWRITE" }
        for p in Config.parameters where !written.contains(p.name) && config.value(p.name) != p.defaultValue {
            if !appended {
                output += ["", "# Generated by CONFIG REWRITE"]  // after a blank line, as redis-server's
                appended = true
            }
            output += lines(for: p, config.value(p.name), appending: true)
        }
        let text = output.joined(separator: "\n") + "\n"
        let temporary = path + ".tmp-rewrite"
        guard let f = fopen(temporary, "w") else { return String(cString: strerror(errno)) }
        let ok = text.withCString { fputs($0, f) } >= 0
        fclose(f)
        guard ok, Glibc.rename(temporary, path) == 0 else {
            let error = String(cString: strerror(errno))
            unlink(temporary)
            return error
        }
        return nil
    }

    /// The config-file lines for one parameter's value, written as Redis 7.0's rewrite
    /// writes them: strings always through sdscatrepr (`dir "/data"`), sizes in the largest
    /// unit that divides them (rewriteConfigFormatMemory: `maxmemory 1mb`), the rest bare.
    /// `appending`: the file had no line for it, so (as in Redis) only what differs from
    /// the default is written.
    static func lines(for p: ConfigParameter, _ value: String, appending: Bool = false) -> [String] {
        switch p.name {
        case "save":
            if value.isEmpty { return ["save \"\""] }
            let parts = value.split(separator: " ")
            return stride(from: 0, to: parts.count - 1, by: 2).map { "save \(parts[$0]) \(parts[$0 + 1])" }
        case "client-output-buffer-limit":  // a line per class, named as Redis 7 names it
            let parts = value.split(separator: " "), defaults = p.defaultValue.split(separator: " ")
            return stride(from: 0, to: parts.count - 3, by: 4).compactMap { i in
                if appending && i + 3 < defaults.count && parts[i..<i + 4].elementsEqual(defaults[i..<i + 4]) { return nil }
                let name = parts[i] == "slave" ? "replica" : parts[i]
                return "client-output-buffer-limit \(name) \(memory(parts[i + 1])) \(memory(parts[i + 2])) \(parts[i + 3])"
            }
        case "bind", "replicaof":
            return value.isEmpty ? [] : ["\(p.name) \(value)"]
        case "dir":  // absolute, as rewriteConfigDirOption's getcwd
            return ["dir \(Repr.quoted(ServerInfo.currentDirectory().utf8))"]
        case "dbfilename", "notify-keyspace-events":  // strings Redis validates its own way
            return ["\(p.name) \(Repr.quoted(value.utf8))"]
        case "repl-backlog-size":
            return ["\(p.name) \(memory(value))"]
        case "maxmemory-clients":  // a percentage of maxmemory, or a size
            return ["\(p.name) \(value.hasSuffix("%") ? value : memory(value))"]
        default:
            switch p.kind {
            case .string: return ["\(p.name) \(Repr.quoted(value.utf8))"]
            case .memory, .unsignedMemory: return ["\(p.name) \(memory(value))"]
            default: return ["\(p.name) \(quoted(value))"]
            }
        }
    }

    /// A byte count as Redis's rewriteConfigFormatMemory writes it.
    static func memory(_ bytes: some StringProtocol) -> String {
        guard let n = Int64(bytes), n != 0 else { return String(bytes) }
        for (unit, size) in [("gb", Int64(1) << 30), ("mb", Int64(1) << 20), ("kb", Int64(1) << 10)] where n % size == 0 {
            return "\(n / size)\(unit)"
        }
        return String(bytes)
    }

    /// A value of another kind: bare, or quoted if it would not survive argument splitting
    /// (empty, or with spaces, quotes or unprintable bytes).
    static func quoted(_ value: String) -> String {
        value.isEmpty || Repr.needsQuotes(value.utf8) ? Repr.quoted(value.utf8) : value
    }
}
