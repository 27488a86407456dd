import RESP
import Shards
import Synchronization
#if canImport(Glibc)
import Glibc
import Values
#endif

/// One configuration parameter as CONFIG GET/SET and the command line see it, typed
/// as in Redis 7.0's config.c so values parse, bound-check and fail with its wording.
struct ConfigParameter: Sendable {
    enum Kind: Sendable {
        /// A signed number (int, long long): bounds printed with %lld.
        case integer(min: Int, max: Int)
        /// An unsigned number (uint, ulong, size_t, ull): a negative input wraps, as in C.
        case unsigned(min: UInt64, max: UInt64)
        /// A signed number that also takes memory units (1k, 1kb, 1mb...).
        case memory(min: Int, max: Int)
        /// An unsigned number that also takes memory units.
        case unsignedMemory(min: UInt64, max: UInt64)
        case bool                            // yes/no
        case string
        case enumeration([String])
        /// Validates and normalizes `raw` given the current value; returns the stored form.
        case special(@Sendable (_ raw: String, _ current: String) -> Result<String, ConfigError>)
    }

    struct Flags: OptionSet, Sendable {
        let rawValue: UInt8
        static let immutable = Flags(rawValue: 1)
        /// Settable only with enable-protected-configs (Redis 7: dir, dbfilename).
        static let protected = Flags(rawValue: 2)
        /// Not matched by CONFIG GET patterns, only by exact name (ValKeyper internals).
        static let hidden = Flags(rawValue: 4)
    }

    let name: String
    let aliases: [String]
    let kind: Kind
    let defaultValue: String
    let flags: Flags

    var mutable: Bool { !flags.contains(.immutable) }

    init(_ name: String, _ kind: Kind, _ defaultValue: String, mutable: Bool = true, protected: Bool = false,
         aliases: [String] = []) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        var flags: Flags = []
        if !mutable { flags.insert(.immutable) }
        if protected { flags.insert(.protected) }
        self.flags = flags
        self.aliases = aliases
    }

    /// The canonical stored form of `raw`, or an error text as Redis words it.
    func normalize(_ raw: String, current: String) -> Result<String, ConfigError> {
        switch kind {
        case .integer(let lo, let hi):
            guard let v = parseStrictInt(string: raw) else {
                return .failure(ConfigError("argument couldn't be parsed into an integer"))
            }
            return signedInRange(v, lo, hi)
        case .unsigned(let lo, let hi):
            guard let v = parseStrictInt(string: raw) else {
                return .failure(ConfigError("argument couldn't be parsed into an integer"))
            }
            return unsignedInRange(UInt64(bitPattern: Int64(v)), lo, hi)
        case .memory(let lo, let hi):
            guard let v = parseMemory(raw) else { return .failure(ConfigError("argument must be a memory value")) }
            return signedInRange(Int(Int64(bitPattern: v)), lo, hi)
        case .unsignedMemory(let lo, let hi):
            guard let v = parseMemory(raw) else { return .failure(ConfigError("argument must be a memory value")) }
            return unsignedInRange(v, lo, hi)
        case .bool:
            switch raw.lowercased() {
            case "yes": return .success("yes")
            case "no": return .success("no")
            default: return .failure(ConfigError("argument must be 'yes' or 'no'"))
            }
        case .string:
            return .success(raw)
        case .enumeration(let options):
            let v = raw.lowercased()
            guard options.contains(v) else {
                return .failure(ConfigError("argument(s) must be one of the following: " + options.joined(separator: ", ")))
            }
            return .success(v)
        case .special(let normalize):
            return normalize(raw, current)
        }
    }

    private func signedInRange(_ v: Int, _ lo: Int, _ hi: Int) -> Result<String, ConfigError> {
        guard v >= lo && v <= hi else { return .failure(ConfigError("argument must be between \(lo) and \(hi) inclusive")) }
        return .success(String(v))
    }

    private func unsignedInRange(_ v: UInt64, _ lo: UInt64, _ hi: UInt64) -> Result<String, ConfigError> {
        guard v >= lo && v <= hi else { return .failure(ConfigError("argument must be between \(lo) and \(hi) inclusive")) }
        return .success(String(v))
    }
}

struct ConfigError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Redis's memtoull: digits then an optional unit (b, k=1000, kb=1024, m, mb, g, gb; any
/// case); no sign. As in Redis, a number past 64 bits saturates (strtoull) and the unit
/// multiplies with wrap-around. Returns nil where Redis reports "argument must be a memory value".
func parseMemory(_ raw: String) -> UInt64? {
    let bytes = Array(raw.utf8)
    if bytes.first == UInt8(ascii: "-") { return nil }
    var digits = 0
    while digits < bytes.count && bytes[digits] >= 48 && bytes[digits] <= 57 { digits += 1 }
    let unit = String(decoding: bytes[digits...], as: UTF8.self).lowercased()
    let factors: [String: UInt64] = ["": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1_000_000, "mb": 1 << 20,
                                     "g": 1_000_000_000, "gb": 1 << 30]
    guard let factor = factors[unit], digits < 128 else { return nil }  // Redis copies the digits to a 128-byte buffer
    var value: UInt64 = 0
    for d in bytes[0..<digits] {
        let (m, o1) = value.multipliedReportingOverflow(by: 10)
        let (s, o2) = m.addingReportingOverflow(UInt64(d - 48))
        if o1 || o2 { value = .max; break }
        value = s
    }
    return value &* factor
}

/// Redis's string2ll over a Swift string.
func parseStrictInt(string: String) -> Int? {
    var s = string
    return s.withUTF8 { parseStrictInt(UnsafeRawBufferPointer($0)) }
}

/// Values of enable-debug-command and enable-protected-configs (Redis's PROTECTED_ACTION_ALLOWED_*).
enum ProtectedAction: Int, Sendable {
    case no = 0, yes, local

    init(_ value: String) {
        switch value {
        case "yes": self = .yes
        case "local": self = .local
        default: self = .no
        }
    }
}

/// The server's configuration: every parameter's current value, by canonical name.
struct Config: Sendable {
    private(set) var values: [String: String] = [:]
    /// The config file given at start-up (CONFIG REWRITE, INFO config_file).
    var configFile: String?

    static let parameters: [ConfigParameter] = {
        let intMax = Int(Int32.max), intMin = Int(Int32.min), longMax = Int.max
        let uintMax = UInt64(UInt32.max), ullMax = UInt64.max, longMaxU = UInt64(Int.max)
        return [
            ConfigParameter("port", .integer(min: 0, max: 65535), "6379", mutable: false),
            ConfigParameter("bind", .string, "127.0.0.1", mutable: false),
            ConfigParameter("dir", .special(validateDir), ".", protected: true),
            ConfigParameter("dbfilename", .special(validateFilename), "dump.rdb", protected: true),
            ConfigParameter("databases", .integer(min: 1, max: intMax), "16", mutable: false),
            ConfigParameter("maxclients", .unsigned(min: 1, max: uintMax), "10000"),
            ConfigParameter("threads", .integer(min: 1, max: 128), String(defaultWorkers), mutable: false, aliases: ["io-threads"]),
            ConfigParameter("shards", .integer(min: 1, max: 128), String(defaultWorkers), mutable: false),
            ConfigParameter("loglevel", .enumeration(["debug", "verbose", "notice", "warning"]), "notice"),
            ConfigParameter("logfile", .string, "", mutable: false),
            ConfigParameter("save", .special(normalizeSave), "3600 1 300 100 60 10000"),
            ConfigParameter("appendonly", .bool, "no"),
            ConfigParameter("appendfilename", .string, "appendonly.aof", mutable: false),
            ConfigParameter("appenddirname", .string, "appendonlydir", mutable: false),
            ConfigParameter("appendfsync", .enumeration(["everysec", "always", "no"]), "everysec"),
            ConfigParameter("replicaof", .special(validateReplicaOf), "", mutable: false, aliases: ["slaveof"]),
            ConfigParameter("proto-max-bulk-len", .memory(min: 1024 * 1024, max: longMax), "536870912"),
            ConfigParameter("client-query-buffer-limit", .unsignedMemory(min: 1024 * 1024, max: longMaxU), "1073741824"),
            ConfigParameter("hz", .special(normalizeHz), "10"),
            ConfigParameter("dynamic-hz", .bool, "yes"),
            ConfigParameter("timeout", .integer(min: 0, max: intMax), "0"),
            ConfigParameter("tcp-keepalive", .integer(min: 0, max: intMax), "300"),
            ConfigParameter("tcp-backlog", .integer(min: 0, max: intMax), "511", mutable: false),
            ConfigParameter("daemonize", .bool, "no", mutable: false),
            ConfigParameter("protected-mode", .bool, "yes"),
            ConfigParameter("pidfile", .string, "", mutable: false),
            ConfigParameter("requirepass", .string, ""),
            ConfigParameter("masterauth", .string, ""),
            ConfigParameter("masteruser", .string, ""),
            ConfigParameter("maxmemory", .unsignedMemory(min: 0, max: ullMax), "0"),
            ConfigParameter("maxmemory-policy", .enumeration(["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
                                                              "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"]),
                            "noeviction"),
            ConfigParameter("maxmemory-clients", .special(normalizeMaxmemoryClients), "0"),
            ConfigParameter("maxmemory-samples", .integer(min: 1, max: intMax), "5"),
            ConfigParameter("maxmemory-eviction-tenacity", .integer(min: 0, max: 100), "10"),
            ConfigParameter("lazyfree-lazy-eviction", .bool, "no"),
            ConfigParameter("lazyfree-lazy-expire", .bool, "no"),
            ConfigParameter("lazyfree-lazy-server-del", .bool, "no"),
            ConfigParameter("lazyfree-lazy-user-del", .bool, "no"),
            ConfigParameter("lazyfree-lazy-user-flush", .bool, "no"),
            ConfigParameter("lfu-log-factor", .integer(min: 0, max: intMax), "10"),
            ConfigParameter("lfu-decay-time", .integer(min: 0, max: intMax), "1"),
            ConfigParameter("active-expire-effort", .integer(min: 1, max: 10), "1"),
            ConfigParameter("activerehashing", .bool, "yes"),
            ConfigParameter("activedefrag", .special(normalizeActiveDefrag), "no"),
            ConfigParameter("jemalloc-bg-thread", .bool, "yes"),
            ConfigParameter("stop-writes-on-bgsave-error", .bool, "yes"),
            ConfigParameter("rdbcompression", .bool, "yes"),
            ConfigParameter("rdbchecksum", .bool, "yes", mutable: false),
            ConfigParameter("rdb-del-sync-files", .bool, "no"),
            ConfigParameter("aof-use-rdb-preamble", .bool, "yes"),
            ConfigParameter("aof-load-truncated", .bool, "yes"),
            ConfigParameter("aof-timestamp-enabled", .bool, "no"),
            ConfigParameter("no-appendfsync-on-rewrite", .bool, "no"),
            ConfigParameter("auto-aof-rewrite-percentage", .integer(min: 0, max: intMax), "100"),
            ConfigParameter("auto-aof-rewrite-min-size", .memory(min: 0, max: longMax), "67108864"),
            ConfigParameter("repl-backlog-size", .special(normalizeReplBacklogSize), "1048576"),
            ConfigParameter("repl-backlog-ttl", .unsigned(min: 0, max: longMaxU), "3600"),
            ConfigParameter("repl-timeout", .integer(min: 1, max: intMax), "60"),
            ConfigParameter("repl-ping-replica-period", .integer(min: 1, max: intMax), "10", aliases: ["repl-ping-slave-period"]),
            ConfigParameter("repl-diskless-sync", .bool, "yes"),
            ConfigParameter("repl-diskless-sync-delay", .integer(min: 0, max: intMax), "5"),
            ConfigParameter("repl-diskless-load", .enumeration(["disabled", "on-empty-db", "swapdb"]), "disabled"),
            ConfigParameter("replica-read-only", .bool, "yes", aliases: ["slave-read-only"]),
            ConfigParameter("replica-serve-stale-data", .bool, "yes", aliases: ["slave-serve-stale-data"]),
            ConfigParameter("replica-lazy-flush", .bool, "no", aliases: ["slave-lazy-flush"]),
            ConfigParameter("replica-priority", .integer(min: 0, max: intMax), "100", aliases: ["slave-priority"]),
            ConfigParameter("min-replicas-to-write", .integer(min: 0, max: intMax), "0", aliases: ["min-slaves-to-write"]),
            ConfigParameter("min-replicas-max-lag", .integer(min: 0, max: intMax), "10", aliases: ["min-slaves-max-lag"]),
            ConfigParameter("slowlog-log-slower-than", .integer(min: -1, max: Int.max), "10000"),
            ConfigParameter("slowlog-max-len", .unsigned(min: 0, max: longMaxU), "128"),
            ConfigParameter("latency-monitor-threshold", .integer(min: 0, max: Int.max), "0"),
            ConfigParameter("latency-tracking", .bool, "yes"),
            ConfigParameter("lua-allow-undeclared-keys", .bool, "yes"),
            ConfigParameter("busy-reply-threshold", .integer(min: 0, max: longMax), "5000", aliases: ["lua-time-limit"]),
            ConfigParameter("notify-keyspace-events", .special(normalizeKeyspaceEvents), ""),
            ConfigParameter("list-max-listpack-size", .integer(min: intMin, max: intMax), "-2", aliases: ["list-max-ziplist-size"]),
            ConfigParameter("list-compress-depth", .integer(min: 0, max: intMax), "0"),
            ConfigParameter("hash-max-listpack-entries", .unsigned(min: 0, max: longMaxU), "512", aliases: ["hash-max-ziplist-entries"]),
            ConfigParameter("hash-max-listpack-value", .unsignedMemory(min: 0, max: longMaxU), "64", aliases: ["hash-max-ziplist-value"]),
            ConfigParameter("set-max-intset-entries", .unsigned(min: 0, max: longMaxU), "512"),
            ConfigParameter("zset-max-listpack-entries", .unsigned(min: 0, max: longMaxU), "128", aliases: ["zset-max-ziplist-entries"]),
            ConfigParameter("zset-max-listpack-value", .unsignedMemory(min: 0, max: longMaxU), "64", aliases: ["zset-max-ziplist-value"]),
            ConfigParameter("hll-sparse-max-bytes", .unsignedMemory(min: 0, max: longMaxU), "3000"),
            ConfigParameter("stream-node-max-bytes", .unsignedMemory(min: 0, max: longMaxU), "4096"),
            ConfigParameter("stream-node-max-entries", .integer(min: 0, max: Int.max), "100"),
            ConfigParameter("tracking-table-max-keys", .unsigned(min: 0, max: longMaxU), "1000000"),
            ConfigParameter("acllog-max-len", .unsigned(min: 0, max: longMaxU), "128"),
            ConfigParameter("shutdown-timeout", .integer(min: 0, max: intMax), "10"),
            ConfigParameter("client-output-buffer-limit", .special(normalizeOutputBufferLimit),
                            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"),
            ConfigParameter("supervised", .enumeration(["upstart", "systemd", "auto", "no"]), "no", mutable: false),
            ConfigParameter("unixsocket", .string, "", mutable: false),
            ConfigParameter("cluster-enabled", .bool, "no", mutable: false),
            ConfigParameter("always-show-logo", .bool, "no", mutable: false),
            ConfigParameter("enable-protected-configs", .enumeration(["no", "yes", "local"]), "no", mutable: false),
            ConfigParameter("enable-debug-command", .enumeration(["no", "yes", "local"]), "no", mutable: false),
            ConfigParameter("enable-module-command", .enumeration(["no", "yes", "local"]), "no", mutable: false),
        ]
    }()

    /// One worker, owning one shard, per core, as Dragonfly starts one thread per core: a
    /// server's clients usually run on other machines, and single-key commands (most of a
    /// cache's traffic) scale with the workers. Commands and transactions spanning shards
    /// pay a hop (chained and batched: see docs/ARCHITECTURE.md, Transactions); where the
    /// load generator shares the machine, as in perf/, pass --threads and --shards (README).
    static let defaultWorkers: Int = {
        let n = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return max(1, min(Int(n), 64))
    }()

    /// Lookup by canonical name or alias, in any case (Redis's config dict is case-insensitive).
    static func parameter(named name: String) -> ConfigParameter? {
        let n = name.lowercased()
        return byName[n]
    }

    private static let byName: [String: ConfigParameter] = {
        var map: [String: ConfigParameter] = [:]
        for p in parameters {
            map[p.name] = p
            for a in p.aliases { map[a] = p }
        }
        return map
    }()

    init() {
        for p in Config.parameters { values[p.name] = p.defaultValue }
    }

    /// Sets a parameter (start-up or CONFIG SET); throws with Redis's wording.
    mutating func set(_ name: String, _ raw: String) throws(ConfigError) {
        guard let p = Config.parameter(named: name) else {
            throw ConfigError("Unknown option or number of arguments for CONFIG SET - '\(name)'")
        }
        switch p.normalize(raw, current: values[p.name] ?? "") {
        case .success(let v): values[p.name] = v
        case .failure(let e): throw e
        }
    }

    func value(_ name: String) -> String { values[name] ?? "" }
    func integer(_ name: String) -> Int { Int(values[name] ?? "") ?? 0 }
    func bool(_ name: String) -> Bool { values[name] == "yes" }

    var port: Int { integer("port") }
    var bind: [String] { value("bind").split(separator: " ").map(String.init) }
    var databases: Int { integer("databases") }
    var maxClients: Int { integer("maxclients") }
    var threads: Int { integer("threads") }
    var shards: Int { integer("shards") }
    var protoMaxBulkLen: Int { integer("proto-max-bulk-len") }
    var hz: Int { integer("hz") }
}

// MARK: Special parameters (Redis's set/get functions for them)

/// `hz` takes 0...INT_MAX and is stored clamped to 1...500 (Redis's updateHZ).
private func normalizeHz(_ raw: String, _ current: String) -> Result<String, ConfigError> {
    guard let v = parseStrictInt(string: raw) else { return .failure(ConfigError("argument couldn't be parsed into an integer")) }
    guard v >= 0 && v <= Int(Int32.max) else {
        return .failure(ConfigError("argument must be between 0 and \(Int32.max) inclusive"))
    }
    return .success(String(min(max(v, 1), 500)))
}

/// `maxmemory-clients`: a memory value or a percentage of maxmemory ("10%"). Redis stores
/// a percentage as a negative number: "0%" is 0, and a memory value past LLONG_MAX wraps
/// negative and so reads as a percentage too.
private func normalizeMaxmemoryClients(_ raw: String, _ current: String) -> Result<String, ConfigError> {
    let stored: Int
    if raw.count > 1, raw.hasSuffix("%"), let p = parseStrictInt(string: String(raw.dropLast())), p >= 0 {
        stored = -p
    } else if let v = parseMemory(raw) {
        stored = Int(Int64(bitPattern: v))
    } else {
        return .failure(ConfigError("argument must be a memory or percent value"))
    }
    guard stored >= -100 else { return .failure(ConfigError("percentage argument must be less or equal to 100")) }
    return .success(stored < 0 ? "\(-stored)%" : String(stored))
}

/// `repl-backlog-size`: a memory value of at least 1, raised to Redis's 16 KB minimum
/// (resizeReplicationBacklog) once set.
private func normalizeReplBacklogSize(_ raw: String, _ current: String) -> Result<String, ConfigError> {
    guard let v = parseMemory(raw) else { return .failure(ConfigError("argument must be a memory value")) }
    let size = Int(Int64(bitPattern: v))
    guard size >= 1 else { return .failure(ConfigError("argument must be between 1 and \(Int.max) inclusive")) }
    return .success(String(max(size, 16 * 1024)))
}

/// `activedefrag`: ValKeyper has no defragmenter, so it refuses "yes" as a Redis built
/// without defrag support does.
private func normalizeActiveDefrag(_ raw: String, _ current: String) -> Result<String, ConfigError> {
    switch raw.lowercased() {
    case "no": return .success("no")
    case "yes":
        return .failure(ConfigError("Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution"))
    default: return .failure(ConfigError("argument must be 'yes' or 'no'"))
    }
}

/// `save`: pairs of seconds (>= 1) and changes (>= 0), space separated; "" disables.
private func normalizeSave(_ raw: String, _ current: String) -> Result<String, ConfigError> {
    let parts = raw.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
    if parts == [""] { return .success("") }
    if parts.count % 2 != 0 { return .failure(ConfigError("Invalid save parameters")) }
    var normalized: [String] = []
    for (i, p) in parts.enumerated() {
        guard let v = Int(p), v >= (i % 2 == 0 ? 1 : 0) else { return .failure(ConfigError("Invalid save parameters")) }
        normalized.append(String(v))
    }
    return .success(normalized.joined(separator: " "))
}

private func validateReplicaOf(_ raw: String, _ current: String) -> Result<String, ConfigError> {
    if raw.isEmpty { return .success("") }
    let parts = raw.split(separator: " ", omittingEmptySubsequences: false)
    guard parts.count == 2 else { return .failure(ConfigError("wrong number of arguments")) }
    if parts[0].lowercased() == "no" && parts[1].lowercased() == "one" { return .success("") }
    guard let port = Int(parts[1]), port >= 0, port <= 65535 else { return .failure(ConfigError("Invalid master port")) }
    return .success("\(parts[0]) \(port)")
}

/// `dir` must name an existing, enterable directory (Redis chdirs and reports strerror).
private func validateDir(_ raw: String, _ current: String) -> Result<String, ConfigError> {
    var st = stat()
    if stat(raw, &st) != 0 { return .failure(ConfigError(String(cString: strerror(errno)))) }
    if (st.st_mode & S_IFMT) != S_IFDIR { return .failure(ConfigError(String(cString: strerror(ENOTDIR)))) }
    if access(raw, X_OK) != 0 { return .failure(ConfigError(String(cString: strerror(errno)))) }
    return .success(raw)
}

/// `dbfilename` is a file name, not a path (Redis's isValidDBfilename).
private func validateFilename(_ raw: String, _ current: String) -> Result<String, ConfigError> {
    if raw.contains("/") { return .failure(ConfigError("dbfilename can't be a path, just a filename")) }
    return .success(raw)
}

/// `notify-keyspace-events`: class characters, stored in Redis's canonical order.
private func normalizeKeyspaceEvents(_ raw: String, _ current: String) -> Result<String, ConfigError> {
    let all: Set<Character> = ["g", "$", "l", "s", "h", "z", "x", "e", "t", "d"]
    var set = Set<Character>()
    for ch in raw {
        switch ch {
        case "A": set.formUnion(all)
        case "g", "$", "l", "s", "h", "z", "x", "e", "K", "E", "t", "m", "d", "n": set.insert(ch)
        default: return .failure(ConfigError("Invalid event class character. Use 'Ag$lshzxeKEtmdn'."))
        }
    }
    var out = ""
    if all.isSubset(of: set) {
        // Redis renders A with n as "AKE", dropping the n it still applies; the value here
        // is what the server applies, so it keeps the n ("AnKE").
        out = set.contains("n") ? "An" : "A"
    } else {
        for ch in "g$lshzxetdn" where set.contains(ch) { out.append(ch) }
    }
    for ch in "KEm" where set.contains(ch) { out.append(ch) }
    return .success(out)
}

/// `client-output-buffer-limit`: "<class> <hard> <soft> <soft-seconds>" groups; the
/// classes given replace theirs, the others keep their current limits (Redis's
/// updateClientOutputBufferLimit: all groups are checked before any is applied).
private func normalizeOutputBufferLimit(_ raw: String, _ current: String) -> Result<String, ConfigError> {
    var limits = OutputBufferClass.allCases.map { OutputBufferLimit.parse(current, for: $0) }
    // Split on single spaces as Redis's sdssplitlen does: "a  b" has an empty word, "" none.
    let words = raw.isEmpty ? [] : raw.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
    guard words.count % 4 == 0 else {
        return .failure(ConfigError("Wrong number of arguments in buffer limit configuration."))
    }
    for i in stride(from: 0, to: words.count, by: 4) {
        guard let cls = OutputBufferClass(configName: words[i]) else {
            return .failure(ConfigError("Invalid client class specified in buffer limit configuration."))
        }
        guard let hard = parseMemory(words[i + 1]), let soft = parseMemory(words[i + 2]),
              let seconds = parseSoftSeconds(words[i + 3]) else {
            return .failure(ConfigError("Error in hard, soft or soft_seconds setting in buffer limit configuration."))
        }
        limits[cls.rawValue] = OutputBufferLimit(hardBytes: hard, softBytes: soft, softSeconds: seconds)
    }
    return .success(OutputBufferClass.allCases.map { cls in
        let l = limits[cls.rawValue]
        return "\(cls.configName) \(l.hardBytes) \(l.softBytes) \(l.softSeconds)"
    }.joined(separator: " "))
}
