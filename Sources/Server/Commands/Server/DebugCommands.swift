import RESP
import Shards
import Values
#if canImport(Glibc)
import Glibc
#endif

/// DEBUG (Redis's debug.c): the subcommands ValKeyper has (SLEEP, DIGEST, DIGEST-VALUE,
/// SET-ACTIVE-EXPIRE, SET-SKIP-CHECKSUM-VALIDATION, RELOAD, ERROR, HELP). Refused unless
/// `enable-debug-command` allows it (Dispatch).
enum DebugCommands {
    static let specs: [CommandSpec] = [
        // Not a container: Redis's DEBUG parses its subcommands itself (COMMAND shows none).
        CommandSpec("debug", arity: -2, flags: [.admin, .noscript, .loading, .stale, .protected], group: "server",
                    summary: "Debugging and testing aids.", run: .client(debug))
            .described(since: "1.0.0", acl: [.admin, .slow, .dangerous]),
        CommandSpec(part: .digest, arity: -2, group: "server",
                    run: .keyed(DatasetDigest.shardPart, split: nil, crossShard: nil)),
        CommandSpec(part: .digestValue, arity: -2, group: "server",
                    run: .keyed(DatasetDigest.valuePart, split: nil, crossShard: nil)),
        CommandSpec(part: .setActiveExpire, arity: 3, group: "server",
                    run: .keyed(setActiveExpirePart, split: nil, crossShard: nil)),
    ]

    /// Redis 7.0's refusal when `enable-debug-command` does not allow the client.
    static let notAllowed = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", "
        + "you can run it from a local connection, otherwise you need to set this option in the configuration file, "
        + "and then restart the server."

    /// Redis's allowProtectedAction: `yes`, or `local` for a client on 127.0.0.1 / ::1.
    static func allowed(_ c: Client) -> Bool {
        switch LiveConfig.debugCommand.load(ordering: .relaxed) {
        case ProtectedAction.yes.rawValue: return true
        case ProtectedAction.local.rawValue: return c.isLocal
        default: return false
        }
    }

    /// The subcommands ValKeyper has; any other subcommand, or the wrong number of
    /// arguments, gets Redis's subcommand syntax error.
    static func debug(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        if argIs(args[1], "help") && args.count == 2 {
            help(&out)
        } else if argIs(args[1], "sleep") && args.count == 3 {
            debugSleep(w, args, &out)
        } else if argIs(args[1], "digest") && args.count == 2 {
            let databases = w.context.databases
            w.fanOut(c, args, part: .digest, call: &call, out: &out) { op, out in
                let digest = DatasetDigest.combine((0..<op.parts.count).map { op.reply($0) }, databases: databases)
                out.writeSimple(string: Digest.hex(digest))
                return true
            }
        } else if argIs(args[1], "digest-value") {
            let keys = args.count - 2
            w.fanOut(c, args, part: .digestValue, call: &call, out: &out) { op, out in
                out.writeArrayHeader(keys)
                for k in 0..<keys {
                    var d = [UInt8](repeating: 0, count: 20)
                    for p in 0..<op.parts.count {
                        let r = op.reply(p)
                        for j in 0..<20 where r.count >= (k + 1) * 20 { d[j] ^= r[k * 20 + j] }
                    }
                    out.writeSimple(string: Digest.hex(d))
                }
                return true
            }
        } else if argIs(args[1], "set-skip-checksum-validation") && args.count == 3 {
            // Read by RESTORE (and by Redis for RDB loads too): for tests of corrupt payloads.
            LiveConfig.skipChecksumValidation.store(parseStrictInt(args[2]).map { $0 != 0 } ?? false, ordering: .relaxed)
            out.writeOK()
        } else if argIs(args[1], "quicklist-packed-threshold") && args.count == 3 {
            // Elements of at least this size get a list node of their own (tests of Redis's
            // plain nodes); 0 restores 1 GB.
            guard let size = parseMemory(String(decoding: args[2], as: UTF8.self)), ListLimits.setPackedThreshold(size) else {
                out.writeError("ERR argument must be a memory value bigger than 1 and smaller than 4gb")
                return
            }
            out.writeOK()
        } else if argIs(args[1], "error") && args.count == 3 {
            // Redis writes "-<string>" raw (CR and LF made spaces): any prefix, not counted
            // as an error reply. Clients' test suites use it to fake LOADING, READONLY, OOM.
            w.commandStats.uncountedError = true
            out.writeError(bytes: args[2])
        } else if argIs(args[1], "object") && args.count == 3 {
            let (compression, policy, maxmemory) = w.context.config.withLock {
                ($0.bool("rdbcompression"), $0.value("maxmemory-policy"), $0.integer("maxmemory"))
            }
            let sharedIntegers = maxmemory == 0 || !(policy.hasSuffix("lru") || policy.hasSuffix("lfu"))
            KeyCommands.runOnePart(w, c, shard: w.shardOf(args[2]), part: KeyCommands.Part.object, call: &call, out: &out) { op in
                [op.store(string: "debug-object"), op.store(string: "debug-object"), op.store(args[2]),
                 op.store(string: compression ? "1" : "0"), op.store(string: sharedIntegers ? "1" : "0")]
            }
        } else if argIs(args[1], "reload") {
            DebugReload.reload(w, c, args, &call, &out)
        } else if argIs(args[1], "locks") && args.count == 2 {
            // ValKeyper's own: every worker's locks, waiting commands and operations in
            // flight (LockReport.swift), one line each.
            w.askEveryWorker(c, call: call, out: &out, ask: { worker in worker.lockReport() }, finish: { _, _, reports, out in
                let text = reports.flatMap { $0 }.joined(separator: "\n")
                out.writeBulk(string: text)
            })
        } else if argIs(args[1], "set-active-expire") && args.count == 3 {
            w.fanOut(c, args, part: .setActiveExpire, call: &call, out: &out) { _, out in out.writeOK(); return true }
        } else {
            writeSubcommandSyntaxError(args, &out)
        }
    }

    /// DEBUG SLEEP seconds (fractions allowed): blocks this worker, its connections and its
    /// shard, as Redis blocks its one thread.
    static func debugSleep(_ w: Worker, _ args: Arguments, _ out: inout ByteBuffer) {
        let seconds = args.string(2).withCString { strtod($0, nil) }
        let micros = Int64(max(0, min(seconds * 1_000_000, Double(Int64.max / 2))))
        var request = timespec(tv_sec: Int(micros / 1_000_000), tv_nsec: Int((micros % 1_000_000) * 1000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
        w.refreshClock()
        out.writeOK()
    }

    /// DEBUG SET-ACTIVE-EXPIRE 0|1, on each shard (atoi semantics, as Redis).
    static func setActiveExpirePart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        ctx.shard.activeExpireEnabled = args.string(2).withCString { atoi($0) } != 0
        out.writeOK()
    }

    /// Redis 7.0's DEBUG HELP, line for line (it lists subcommands ValKeyper lacks too: a
    /// client reading it sees what Redis says).
    static func help(_ out: inout ByteBuffer) {
        writeHelp("DEBUG", [
            "AOF-FLUSH-SLEEP <microsec>",
            "    Server will sleep before flushing the AOF, this is used for testing.",
            "ASSERT",
            "    Crash by assertion failed.",
            "CHANGE-REPL-ID",
            "    Change the replication IDs of the instance.",
            "    Dangerous: should be used only for testing the replication subsystem.",
            "CONFIG-REWRITE-FORCE-ALL",
            "    Like CONFIG REWRITE but writes all configuration options, including",
            "    keywords not listed in original configuration file or default values.",
            "CRASH-AND-RECOVER [<milliseconds>]",
            "    Hard crash and restart after a <milliseconds> delay (default 0).",
            "DIGEST",
            "    Output a hex signature representing the current DB content.",
            "DIGEST-VALUE <key> [<key> ...]",
            "    Output a hex signature of the values of all the specified keys.",
            "ERROR <string>",
            "    Return a Redis protocol error with <string> as message. Useful for clients",
            "    unit tests to simulate Redis errors.",
            "LEAK <string>",
            "    Create a memory leak of the input string.",
            "LOG <message>",
            "    Write <message> to the server log.",
            "HTSTATS <dbid>",
            "    Return hash table statistics of the specified Redis database.",
            "HTSTATS-KEY <key>",
            "    Like HTSTATS but for the hash table stored at <key>'s value.",
            "LOADAOF",
            "    Flush the AOF buffers on disk and reload the AOF in memory.",
            "REPLICATE <string>",
            "    Replicates the provided string to replicas, allowing data divergence.",
            "MALLCTL <key> [<val>]",
            "    Get or set a malloc tuning integer.",
            "MALLCTL-STR <key> [<val>]",
            "    Get or set a malloc tuning string.",
            "OBJECT <key>",
            "    Show low level info about `key` and associated value.",
            "DROP-CLUSTER-PACKET-FILTER <packet-type>",
            "    Drop all packets that match the filtered type. Set to -1 allow all packets.",
            "OOM",
            "    Crash the server simulating an out-of-memory error.",
            "PANIC",
            "    Crash the server simulating a panic.",
            "POPULATE <count> [<prefix>] [<size>]",
            "    Create <count> string keys named key:<num>. If <prefix> is specified then",
            "    it is used instead of the 'key' prefix. These are not propagated to",
            "    replicas. Cluster slots are not respected so keys not belonging to the",
            "    current node can be created in cluster mode.",
            "PROTOCOL <type>",
            "    Reply with a test value of the specified type. <type> can be: string,",
            "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
            "    true, false.",
            "RELOAD [option ...]",
            "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
            "    * MERGE: conflicting keys will be loaded from RDB.",
            "    * NOFLUSH: the existing database will not be removed before load, but",
            "      conflicting keys will generate an exception and kill the server.",
            "    * NOSAVE: the database will be loaded from an existing RDB file.",
            "    Examples:",
            "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
            "      the database.",
            "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
            "      existing RDB file.",
            "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
            "      file to the database.",
            "RESTART [<milliseconds>]",
            "    Graceful restart: save config, db, restart after a <milliseconds> delay (default 0).",
            "SDSLEN <key>",
            "    Show low level SDS string info representing `key` and value.",
            "SEGFAULT",
            "    Crash the server with sigsegv.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not",
            "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
            "    default.",
            "QUICKLIST-PACKED-THRESHOLD <size>",
            "    Sets the threshold for elements to be inserted as plain vs packed nodes",
            "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
            "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
            "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
            "STRINGMATCH-TEST",
            "    Run a fuzz tester against the stringmatchlen() function.",
            "STRUCTSIZE",
            "    Return the size of different Redis core C structures.",
            "LISTPACK <key>",
            "    Show low level info about the listpack encoding of <key>.",
            "QUICKLIST <key> [<0|1>]",
            "    Show low level info about the quicklist encoding of <key>.",
            "    The optional argument (0 by default) sets the level of detail",
            "CLIENT-EVICTION",
            "    Show low level client eviction pools info (maxmemory-clients).",
            "PAUSE-CRON <0|1>",
            "    Stop periodic cron job processing.",
            "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
            "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
            "    In case NEVER is provided the last observed peak will never be reset",
            "    In case RESET is provided the peak reset time will be restored to the default value",
            "REPLYBUFFER RESIZING <0|1>",
            "    Enable or disable the reply buffer resize cron job",
            "CLUSTERLINK KILL <to|from|all> <node-id>",
            "    Kills the link based on the direction to/from (both) with the provided node.",
        ], &out)
    }
}
