import CShim
import RESP
import Shards
#if canImport(Glibc)
import Glibc
#endif

/// Server commands (Redis's server.c/config.c/debug.c): INFO, CONFIG, COMMAND, DBSIZE,
/// FLUSHDB/FLUSHALL, TIME, SHUTDOWN, DEBUG, FUNCTION.
enum ServerCommands {
    static let specs: [CommandSpec] = [
        CommandSpec("info", arity: -1, flags: [.loading, .stale], group: "server",
                    summary: "Returns information and statistics about the server.", run: .client(info)),
        CommandSpec("dbsize", arity: 1, flags: [.readonly, .fast], group: "server",
                    summary: "Returns the number of keys in the database.", run: .client(dbsize)),
        CommandSpec("__dbsize", arity: -1, flags: [.internal], group: "server",
                    run: .keyed({ ctx, _, out in out.writeInteger(ctx.shard.keyCount(db: ctx.db)) }, split: nil, crossShard: nil)),
        CommandSpec("flushdb", arity: -1, flags: [.write], group: "server",
                    summary: "Removes all keys from the current database.", run: .client(flushdb)),
        CommandSpec("__flushdb", arity: -1, flags: [.internal], group: "server",
                    run: .keyed({ ctx, _, out in ctx.shard.flush(db: ctx.db); out.writeOK() }, split: nil, crossShard: nil)),
        CommandSpec("flushall", arity: -1, flags: [.write], group: "server",
                    summary: "Removes all keys from all databases.", run: .client(flushall)),
        CommandSpec("__flushall", arity: -1, flags: [.internal], group: "server",
                    run: .keyed({ ctx, _, out in ctx.shard.flushAll(); out.writeOK() }, split: nil, crossShard: nil)),
        CommandSpec("time", arity: 1, flags: [.loading, .stale, .fast], group: "server",
                    summary: "Returns the server time.", run: .client(time)),
        CommandSpec("shutdown", arity: -1, flags: [.admin, .noscript, .loading, .stale, .noMulti, .allowBusy], group: "server",
                    summary: "Synchronously saves the database(s) to disk and shuts down the Redis server.", run: .client(shutdown)),
        CommandSpec("config", arity: -2, group: "server", summary: "A container for server configuration commands.",
                    run: .container, subcommands: [
                        CommandSpec("config|get", arity: -3, flags: [.admin, .noscript, .loading, .stale], group: "server",
                                    summary: "Returns the effective values of configuration parameters.", run: .client(configGet)),
                        CommandSpec("config|set", arity: -4, flags: [.admin, .noscript, .loading, .stale], group: "server",
                                    summary: "Sets configuration parameters in-flight.", run: .client(configSet)),
                        CommandSpec("config|resetstat", arity: 2, flags: [.admin, .noscript, .loading, .stale], group: "server",
                                    summary: "Resets the server's statistics.", run: .client({ _, _, _, out in out.writeOK() })),
                    ]),
        CommandSpec("command", arity: -1, flags: [.loading, .stale], group: "server",
                    summary: "Returns detailed information about all commands.", run: .client(command)),
    ]

    static func info(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        w.publishStats()
        let sections = (1..<args.count).map { lowercased(args[$0]) }
        let text = ServerInfo.render(w.context, worker: w, sections: sections)
        out.writeVerbatim(text, c.resp)
    }

    static func dbsize(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        w.fanOut(c, args, part: "__dbsize", out: &out) { op, out in
            out.writeInteger(op.sumOfIntegers() ?? 0)
            return true
        }
    }

    /// FLUSHDB/FLUSHALL take an optional ASYNC or SYNC.
    private static func flushOptionOK(_ args: Arguments, _ out: inout ByteBuffer) -> Bool {
        if args.count > 2 || (args.count == 2 && !argIs(args[1], "async") && !argIs(args[1], "sync")) {
            out.writeError(Errors.syntax)
            return false
        }
        return true
    }

    static func flushdb(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        guard flushOptionOK(args, &out) else { return }
        w.fanOut(c, args, part: "__flushdb", out: &out) { _, out in out.writeOK(); return true }
    }

    static func flushall(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        guard flushOptionOK(args, &out) else { return }
        w.fanOut(c, args, part: "__flushall", out: &out) { _, out in out.writeOK(); return true }
    }

    static func time(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        let us = Clock.unixMicroseconds()
        out.writeArrayHeader(2)
        out.writeBulkDecimal(Int(us / 1_000_000))
        out.writeBulkDecimal(Int(us % 1_000_000))
    }

    static func shutdown(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        for i in 1..<args.count {
            let a = args[i]
            if !(argIs(a, "nosave") || argIs(a, "save") || argIs(a, "now") || argIs(a, "force") || argIs(a, "abort")) {
                out.writeError(Errors.syntax)
                return
            }
            if argIs(a, "abort") {
                out.writeError("ERR No shutdown in progress.")
                return
            }
        }
        Log.notice("User requested shutdown...")
        Log.notice("Redis is now ready to exit, bye bye...")
        exit(0)
    }

    // MARK: CONFIG

    static func configGet(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        let config = w.context.config.withLock { $0 }
        var pairs: [(String, String)] = []
        var seen = Set<String>()
        for i in 2..<args.count {
            let pattern = args.string(i)
            for p in Config.parameters {
                for name in [p.name] + p.aliases where !seen.contains(name) && Glob.matches(pattern, name, caseInsensitive: true) {
                    seen.insert(name)
                    pairs.append((name, config.value(p.name)))
                }
            }
        }
        out.writeMapHeader(pairs.count, c.resp)
        for (k, v) in pairs {
            out.writeBulk(string: k)
            out.writeBulk(string: v)
        }
    }

    static func configSet(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        guard (args.count - 2) % 2 == 0 else {
            out.writeError("ERR wrong number of arguments for 'config|set' command")
            return
        }
        let result: String? = w.context.config.withLock { config in
            var updated = config
            var names = Set<String>()
            for i in stride(from: 2, to: args.count, by: 2) {
                let name = args.string(i)
                guard let p = Config.parameter(named: name) else {
                    return "ERR Unknown option or number of arguments for CONFIG SET - '\(name)'"
                }
                if names.contains(p.name) {
                    return "ERR CONFIG SET failed (possibly related to argument '\(name)') - duplicate parameter"
                }
                names.insert(p.name)
                guard p.mutable else {
                    return "ERR CONFIG SET failed (possibly related to argument '\(name)') - can't set immutable config"
                }
                do throws(ConfigError) { try updated.set(p.name, args.string(i + 1)) } catch {
                    return "ERR CONFIG SET failed (possibly related to argument '\(name)') - \(error.description)"
                }
            }
            config = updated
            return nil
        }
        if let result { out.writeError(string: result); return }
        let config = w.context.config.withLock { $0 }
        w.context.maxClients.store(config.maxClients, ordering: .relaxed)
        w.context.protoMaxBulkLen.store(config.protoMaxBulkLen, ordering: .relaxed)
        w.context.hz.store(config.hz, ordering: .relaxed)
        out.writeOK()
    }

    // MARK: COMMAND

    static func command(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        let table = w.table
        let commands = table.publicCommands
        guard args.count >= 2 else {
            out.writeArrayHeader(commands.count)
            for spec in commands { writeCommandInfo(spec, table: table, c.resp, &out) }
            return
        }
        let sub = lowercased(args[1])
        switch sub {
        case "count":
            guard args.count == 2 else { out.writeError("ERR wrong number of arguments for 'command|count' command"); return }
            out.writeInteger(commands.count)
        case "info":
            if args.count == 2 {
                out.writeArrayHeader(commands.count)
                for spec in commands { writeCommandInfo(spec, table: table, c.resp, &out) }
                return
            }
            out.writeArrayHeader(args.count - 2)
            for i in 2..<args.count {
                if let index = table.lookup(args[i]) {
                    writeCommandInfo(table.specs[Int(index)], table: table, c.resp, &out)
                } else {
                    out.writeNullArray(c.resp)
                }
            }
        case "docs":
            var chosen: [CommandSpec] = []
            if args.count == 2 {
                chosen = commands
            } else {
                for i in 2..<args.count { if let index = table.lookup(args[i]) { chosen.append(table.specs[Int(index)]) } }
            }
            out.writeMapHeader(chosen.count, c.resp)
            for spec in chosen {
                out.writeBulk(string: spec.name)
                let subs = spec.subcommands
                out.writeMapHeader(subs.isEmpty ? 3 : 4, c.resp)
                out.writeBulk(string: "summary"); out.writeBulk(string: spec.summary)
                out.writeBulk(string: "since"); out.writeBulk(string: "1.0.0")
                out.writeBulk(string: "group"); out.writeBulk(string: spec.group)
                if !subs.isEmpty {
                    out.writeBulk(string: "subcommands")
                    out.writeMapHeader(subs.count, c.resp)
                    for s in subs {
                        out.writeBulk(string: s.name)
                        out.writeMapHeader(3, c.resp)
                        out.writeBulk(string: "summary"); out.writeBulk(string: s.summary)
                        out.writeBulk(string: "since"); out.writeBulk(string: "1.0.0")
                        out.writeBulk(string: "group"); out.writeBulk(string: s.group)
                    }
                }
            }
        case "list":
            out.writeArrayHeader(commands.count)
            for spec in commands { out.writeBulk(string: spec.name) }
        case "getkeys":
            guard args.count >= 3 else { out.writeError("ERR wrong number of arguments for 'command|getkeys' command"); return }
            guard let index = table.lookup(args[2]) else { out.writeError("ERR Invalid command specified"); return }
            let spec = table.specs[Int(index)]
            let inner = args.dropFirst(2)
            guard spec.arityOK(inner.count) else { out.writeError("ERR Invalid number of arguments specified for command"); return }
            guard spec.firstKey > 0 else { out.writeError("ERR The command has no key arguments"); return }
            let last = spec.lastKeyIndex(argumentCount: inner.count)
            let keys = Array(stride(from: spec.firstKey, through: last, by: spec.step))
            out.writeArrayHeader(keys.count)
            for k in keys { out.writeBulk(inner[k]) }
        case "help":
            let lines = ["COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                         "(no subcommand)", "    Return details about all Redis commands.",
                         "COUNT", "    Return the total number of commands in this Redis server.",
                         "LIST", "    Return a list of all commands in this Redis server.",
                         "INFO [<command-name> ...]", "    Return details about multiple Redis commands.",
                         "DOCS [<command-name> ...]", "    Return documentation details about multiple Redis commands.",
                         "GETKEYS <full-command>", "    Return the keys from a full Redis command.",
                         "HELP", "    Print this help."]
            out.writeArrayHeader(lines.count)
            for l in lines { out.writeSimple(string: l) }
        default:
            out.writeError(string: "ERR unknown subcommand '\(String(args.string(1).prefix(128)))'. Try COMMAND HELP.")
        }
    }

    static func writeCommandInfo(_ spec: CommandSpec, table: CommandTable, _ resp: RESPVersion, _ out: inout ByteBuffer) {
        out.writeArrayHeader(10)
        out.writeBulk(string: spec.name)
        out.writeInteger(spec.arity)
        let flags = CommandFlags.names.filter { spec.flags.contains($0.0) }.map(\.1)
        out.writeSetHeader(flags.count, resp)
        for f in flags { out.writeSimple(string: f) }
        out.writeInteger(spec.firstKey)
        out.writeInteger(spec.lastKey)
        out.writeInteger(spec.step)
        let categories = ["@" + spec.group]
        out.writeSetHeader(categories.count, resp)
        for cat in categories { out.writeSimple(string: cat) }
        out.writeArrayHeader(0)  // tips
        out.writeArrayHeader(0)  // key specifications
        out.writeArrayHeader(spec.subcommands.count)
        for sub in spec.subcommands { writeCommandInfo(sub, table: table, resp, &out) }
    }
}
