import CShim
import RESP
import Shards
import Values
#if canImport(Glibc)
import Glibc
#endif

/// MEMORY USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE and HELP (memoryCommand of Redis 7.0's
/// object.c). USAGE is answered by the key's shard: the entry's allocation plus the value's
/// own estimate (ValueType.memoryUsage). STATS and DOCTOR read the same figures as INFO
/// memory, gathered from every worker.
enum MemoryCommand {
    static let spec = CommandSpec("memory", arity: -2, group: "server", summary: "Memory diagnostics: per key, per server, per allocator.",
                                  run: .container, subcommands: [
        CommandSpec("memory|usage", arity: -3, flags: [.readonly], keys: (2, 2, 1), group: "server",
                    summary: "Bytes a key and its value take.", run: .keyed(usage, split: nil, crossShard: nil))
            .described(since: "4.0.0", acl: [.read, .slow], keySpecs: [KeySpec(["RO"], index: 2)],
                       arguments: [.key("key"), .integer("count", token: "SAMPLES").optional]),
        CommandSpec("memory|stats", arity: 2, group: "server", summary: "The server's memory accounting, as a map.",
                    run: .client(stats))
            .described(since: "4.0.0", acl: [.slow],
                       tips: ["nondeterministic_output", "request_policy:all_shards", "response_policy:special"]),
        CommandSpec("memory|doctor", arity: 2, group: "server", summary: "A report of memory problems, if any.",
                    run: .client(doctor))
            .described(since: "4.0.0", acl: [.slow],
                       tips: ["nondeterministic_output", "request_policy:all_shards", "response_policy:special"]),
        CommandSpec("memory|malloc-stats", arity: 2, group: "server", summary: "The allocator's own statistics report.",
                    run: .client(mallocStats))
            .described(since: "4.0.0", acl: [.slow],
                       tips: ["nondeterministic_output", "request_policy:all_shards", "response_policy:special"]),
        CommandSpec("memory|purge", arity: 2, group: "server", summary: "Returns the allocator's dirty pages to the system.",
                    run: .client(purge))
            .described(since: "4.0.0", acl: [.slow], tips: ["request_policy:all_shards", "response_policy:all_succeeded"]),
        CommandSpec("memory|help", arity: 2, flags: [.loading, .stale], group: "server",
                    summary: "Lists the subcommands and what they do.", run: .client(help))
            .described(since: "4.0.0", acl: [.slow]),
    ])
        .described(since: "4.0.0", acl: [.slow])

    /// MEMORY USAGE key [SAMPLES count]: collections are measured whole (their estimate is
    /// kept up to date, not sampled), so SAMPLES is checked and otherwise changes nothing.
    static func usage(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var j = 3
        while j < args.count {
            guard argIs(args[j], "samples") && j + 1 < args.count else { out.writeError(Errors.syntax); return }
            guard let samples = args.integer(j + 1) else { out.writeError(Errors.notInteger); return }
            guard samples >= 0 else { out.writeError(Errors.syntax); return }
            j += 2
        }
        guard let e = ctx.shard.lookup(db: ctx.db, key: args[2]) else { out.writeNull(ctx.resp); return }
        var bytes = e.allocatedSize
        if e.kind == .object, let value = e.object as? (any ValueType) { bytes += value.memoryUsage }
        out.writeInteger(bytes)
    }

    /// The memory figures INFO memory reports, from every worker's report.
    private static func withMemoryFigures(_ w: Worker, _ c: Client, _ call: CommandCall, _ out: inout ByteBuffer,
                                          _ body: @escaping @Sendable (ServerInfo.MemoryFigures, WorkerReport, RESPVersion, inout ByteBuffer) -> Void) {
        let caller = c.id, resp = c.resp
        w.askEveryWorker(c, call: call, out: &out, ask: { worker in worker.report(caller: caller) }, finish: { home, _, reports, out in
            let total = WorkerReport.total(reports, databases: home.context.databases, commands: home.table.specs.count)
            body(ServerInfo.MemoryFigures(home.context, total), total, resp, &out)
        })
    }

    /// MEMORY STATS: Redis 7.0's fields in its order (getMemoryOverheadData).
    static func stats(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        withMemoryFigures(w, c, call, &out) { m, report, resp, out in
            let used = m.used, peak = m.peak, startup = 0  // nothing is counted as start-up memory
            let overhead = m.overhead, dataset = m.dataset
            let keys = report.keys.reduce(0, +)
            let databases = report.keys.indices.filter { report.keys[$0] > 0 || report.expires[$0] > 0 }
            let netUsage = max(used - startup, 0)
            let leading: [(String, Int)] = [
                ("peak.allocated", peak), ("total.allocated", used), ("startup.allocated", startup),
                ("replication.backlog", m.replicationBuffers), ("clients.slaves", 0),
                ("clients.normal", m.clientMemory), ("cluster.links", 0),
                ("aof.buffer", 0), ("lua.caches", 0), ("functions.caches", 0),
            ]
            let trailing: [(String, StatValue)] = [
                ("overhead.total", .integer(overhead)), ("keys.count", .integer(keys)),
                ("keys.bytes-per-key", .integer(keys > 0 ? netUsage / keys : 0)), ("dataset.bytes", .integer(dataset)),
                ("dataset.percentage", .double(netUsage > 0 ? Double(dataset) * 100 / Double(netUsage) : 0)),
                ("peak.percentage", .double(peak > 0 ? Double(used) * 100 / Double(peak) : 0)),
                ("allocator.allocated", .integer(used)),
                ("allocator.active", .integer(m.allocatorActive)),
                ("allocator.resident", .integer(m.allocatorResident)),
                // The ratios INFO memory reports as 1.00 (not measured apart).
                ("allocator-fragmentation.ratio", .double(1)), ("allocator-fragmentation.bytes", .integer(0)),
                ("allocator-rss.ratio", .double(1)), ("allocator-rss.bytes", .integer(0)),
                ("rss-overhead.ratio", .double(1)), ("rss-overhead.bytes", .integer(0)),
                ("fragmentation", .double(m.fragmentationRatio)),
                ("fragmentation.bytes", .integer(m.rss - used)),
            ]
            out.writeMapHeader(leading.count + databases.count + trailing.count, resp)
            for (name, value) in leading {
                out.writeBulk(string: name)
                out.writeInteger(value)
            }
            // The table overhead shared out by key counts (the shards keep one figure).
            for db in databases {
                out.writeBulk(string: "db.\(db)")
                out.writeMapHeader(3, resp)
                let main = keys > 0 ? report.tableOverhead * report.keys[db] / keys : 0
                for (name, value) in [("overhead.hashtable.main", main), ("overhead.hashtable.expires", report.expires[db] * 16),
                                      ("overhead.hashtable.slot-to-keys", 0)] {
                    out.writeBulk(string: name)
                    out.writeInteger(value)
                }
            }
            for (name, value) in trailing {
                out.writeBulk(string: name)
                switch value {
                case .integer(let n): out.writeInteger(n)
                case .double(let d): out.writeDouble(text: formatDouble(d), resp)
                }
            }
        }
    }

    /// A MEMORY STATS figure: Redis replies the ratios and percentages as doubles.
    private enum StatValue {
        case integer(Int)
        case double(Double)
    }

    /// Redis's addReplyDouble text (%.17g).
    private static func formatDouble(_ d: Double) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        _ = withVaList([d]) { vsnprintf(&buffer, 64, "%.17g", $0) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// MEMORY DOCTOR: Redis's report when nothing is wrong, or its text for an instance
    /// too small to judge (under 5 MB used). Counted from what start-up allocated: a server
    /// with many shards starts with their tables above 5 MB, and would otherwise call an
    /// empty instance one without issues.
    static func doctor(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        withMemoryFigures(w, c, call, &out) { m, _, resp, out in
            let used = m.used - ServerInfo.startupMemory.load(ordering: .relaxed)
            let text = used < 5 * 1024 * 1024
                ? "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
                : "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
            out.writeVerbatim(text, resp)
        }
    }

    static func mallocStats(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard let report = vk_jemalloc_stats_text() else {
            out.writeVerbatim("Stats not supported for the current allocator", c.resp)
            return
        }
        defer { free(report) }
        out.writeVerbatim(String(cString: report), c.resp)
    }

    static func purge(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        _ = vk_jemalloc_purge()  // Redis answers OK whatever the allocator says
        out.writeOK()
    }

    static func help(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        writeHelp("MEMORY", [
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ], &out)
    }
}
