import CShim
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// Versions and the INFO text.
enum ServerInfo {
    /// The Redis version whose behaviour ValKeyper matches (clients gate features on it).
    static let redisVersion = "7.0.15"
    static let valkeyperVersion = "0.1.0"

    static var allocatorName: String {
        if let v = vk_jemalloc_version() { return "jemalloc-" + String(cString: v).split(separator: "-").first.map(String.init)! }
        return "libc"
    }

    static let defaultSections = ["server", "clients", "memory", "persistence", "stats", "replication", "cpu",
                                  "modules", "errorstats", "cluster", "keyspace"]
    static let allSections = defaultSections + ["commandstats", "latencystats"]

    /// The INFO text for the requested sections (lowercase names, "all"/"everything"/"default").
    static func render(_ context: ServerContext, worker: Worker, sections requested: [String]) -> String {
        var wanted: [String]
        if requested.isEmpty || requested.contains("default") {
            wanted = defaultSections
        } else if requested.contains("all") || requested.contains("everything") {
            wanted = allSections
        } else {
            wanted = requested
        }
        var blocks: [String] = []
        for section in allSections where wanted.contains(section) {
            if let text = self.section(section, context, worker) { blocks.append(text) }
        }
        return blocks.joined(separator: "\r\n")
    }

    private static func section(_ name: String, _ ctx: ServerContext, _ worker: Worker) -> String? {
        let now = Clock.unixMilliseconds()
        var lines: [String] = []
        func add(_ k: String, _ v: Any) { lines.append("\(k):\(v)") }
        let config = ctx.config.withLock { $0 }
        switch name {
        case "server":
            lines.append("# Server")
            add("redis_version", redisVersion)
            add("valkeyper_version", valkeyperVersion)
            add("redis_git_sha1", "00000000")
            add("redis_git_dirty", 0)
            add("redis_build_id", "0")
            add("redis_mode", "standalone")
            add("os", osName())
            add("arch_bits", 64)
            add("monotonic_clock", "POSIX clock_gettime")
            add("multiplexing_api", "epoll")
            add("atomicvar_api", "c11-builtin")
            add("gcc_version", "0.0.0")
            add("process_id", getpid())
            add("process_supervised", "no")
            add("run_id", ctx.runID)
            add("tcp_port", ctx.port)
            add("server_time_usec", Clock.unixMicroseconds())
            let uptime = (now - ctx.startTimeMs) / 1000
            add("uptime_in_seconds", uptime)
            add("uptime_in_days", uptime / 86400)
            add("hz", ctx.hz.load(ordering: .relaxed))
            add("configured_hz", config.hz)
            add("lru_clock", (now / 1000) & 0xFFFFFF)
            add("executable", executablePath())
            add("config_file", "")
            add("io_threads_active", 0)
            add("threads", ctx.workerCount)
            add("shards", ctx.shardCount)
        case "clients":
            lines.append("# Clients")
            add("connected_clients", ctx.connectedClients.load(ordering: .relaxed))
            add("cluster_connections", 0)
            add("maxclients", ctx.maxClients.load(ordering: .relaxed))
            add("client_recent_max_input_buffer", 0)
            add("client_recent_max_output_buffer", 0)
            add("blocked_clients", 0)
            add("tracking_clients", 0)
            add("clients_in_timeout_table", 0)
        case "memory":
            lines.append("# Memory")
            let used = vk_jemalloc_allocated()
            let rss = vk_process_rss()
            add("used_memory", used)
            add("used_memory_human", human(used))
            add("used_memory_rss", rss)
            add("used_memory_rss_human", human(rss))
            add("used_memory_peak", used)
            add("used_memory_peak_human", human(used))
            add("used_memory_overhead", ctx.stats.reduce(0) { $0 + $1.tableOverhead.load(ordering: .relaxed) })
            add("used_memory_startup", 0)
            add("allocator_allocated", used)
            add("allocator_resident", vk_jemalloc_resident())
            add("total_system_memory", totalSystemMemory())
            add("maxmemory", config.integer("maxmemory"))
            add("maxmemory_human", human(config.integer("maxmemory")))
            add("maxmemory_policy", config.value("maxmemory-policy"))
            add("mem_fragmentation_ratio", String(format2(used > 0 ? Double(rss) / Double(used) : 0)))
            add("mem_allocator", allocatorName)
            add("lazyfree_pending_objects", 0)
        case "persistence":
            lines.append("# Persistence")
            add("loading", 0)
            add("async_loading", 0)
            add("rdb_changes_since_last_save", 0)
            add("rdb_bgsave_in_progress", 0)
            add("rdb_last_save_time", ctx.startTimeMs / 1000)
            add("rdb_last_bgsave_status", "ok")
            add("rdb_last_bgsave_time_sec", -1)
            add("rdb_current_bgsave_time_sec", -1)
            add("aof_enabled", 0)
            add("aof_rewrite_in_progress", 0)
            add("aof_last_bgrewrite_status", "ok")
            add("aof_last_write_status", "ok")
        case "stats":
            lines.append("# Stats")
            func sum(_ f: (WorkerStats) -> Int) -> Int { ctx.stats.reduce(0) { $0 + f($1) } }
            add("total_connections_received", ctx.totalConnections.load(ordering: .relaxed))
            add("total_commands_processed", sum { $0.commandsProcessed.load(ordering: .relaxed) })
            add("instantaneous_ops_per_sec", 0)
            add("total_net_input_bytes", sum { $0.inputBytes.load(ordering: .relaxed) })
            add("total_net_output_bytes", sum { $0.outputBytes.load(ordering: .relaxed) })
            add("rejected_connections", ctx.rejectedConnections.load(ordering: .relaxed))
            add("sync_full", 0)
            add("sync_partial_ok", 0)
            add("sync_partial_err", 0)
            add("expired_keys", sum { $0.expiredKeys.load(ordering: .relaxed) })
            add("evicted_keys", 0)
            add("keyspace_hits", sum { $0.keyspaceHits.load(ordering: .relaxed) })
            add("keyspace_misses", sum { $0.keyspaceMisses.load(ordering: .relaxed) })
            add("pubsub_channels", 0)
            add("pubsub_patterns", 0)
            add("total_error_replies", 0)
        case "replication":
            lines.append("# Replication")
            add("role", "master")
            add("connected_slaves", 0)
            add("master_failover_state", "no-failover")
            add("master_replid", ctx.runID)
            add("master_replid2", String(repeating: "0", count: 40))
            add("master_repl_offset", 0)
            add("second_repl_offset", -1)
            add("repl_backlog_active", 0)
            add("repl_backlog_size", config.integer("repl-backlog-size"))
            add("repl_backlog_first_byte_offset", 0)
            add("repl_backlog_histlen", 0)
        case "cpu":
            lines.append("# CPU")
            var user: Int64 = 0, sys: Int64 = 0
            vk_process_cpu(&user, &sys)
            add("used_cpu_sys", format6(Double(sys) / 1e6))
            add("used_cpu_user", format6(Double(user) / 1e6))
            add("used_cpu_sys_children", "0.000000")
            add("used_cpu_user_children", "0.000000")
        case "modules":
            lines.append("# Modules")
        case "errorstats":
            lines.append("# Errorstats")
        case "cluster":
            lines.append("# Cluster")
            add("cluster_enabled", 0)
        case "keyspace":
            lines.append("# Keyspace")
            for db in 0..<ctx.databases {
                var keys = 0, expires = 0
                for s in ctx.stats {
                    keys += s.keys[db].load(ordering: .relaxed)
                    expires += s.expires[db].load(ordering: .relaxed)
                }
                if keys > 0 { add("db\(db)", "keys=\(keys),expires=\(expires),avg_ttl=0") }
            }
        case "commandstats":
            lines.append("# Commandstats")
        case "latencystats":
            lines.append("# Latencystats")
        default:
            return nil
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    static func human(_ bytes: Int) -> String {
        let d = Double(bytes)
        if d < 1024 { return "\(bytes)B" }
        if d < 1024 * 1024 { return format2(d / 1024) + "K" }
        if d < 1024 * 1024 * 1024 { return format2(d / 1024 / 1024) + "M" }
        return format2(d / 1024 / 1024 / 1024) + "G"
    }

    static func format2(_ v: Double) -> String { formatDouble(v, decimals: 2) }
    static func format6(_ v: Double) -> String { formatDouble(v, decimals: 6) }

    static func formatDouble(_ v: Double, decimals: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        _ = withVaList([v]) { vsnprintf(&buffer, 64, "%.\(decimals)f", $0) }
        return String(cString: buffer)
    }

    private static func osName() -> String {
        var u = utsname()
        uname(&u)
        func field<T>(_ t: T) -> String {
            withUnsafeBytes(of: t) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        }
        return "\(field(u.sysname)) \(field(u.release)) \(field(u.machine))"
    }

    private static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, 4095)
        return n > 0 ? String(cString: buffer) : ""
    }

    private static func totalSystemMemory() -> Int {
        Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
