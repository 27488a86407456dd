#if canImport(Glibc)
import Glibc
#endif

/// One configuration parameter as CONFIG GET/SET and the command line see it.
struct ConfigParameter: Sendable {
    enum Kind: Sendable {
        case integer(min: Int, max: Int)
        case memory(min: Int, max: Int)      // accepts 1k/1kb/1m/1mb/1g/1gb
        case bool                            // yes/no
        case string
        case enumeration([String])
        case special(@Sendable (String) -> String?)    // validator; returns an error text or nil
    }
    let name: String
    let aliases: [String]
    let kind: Kind
    let defaultValue: String
    let mutable: Bool

    init(_ name: String, _ kind: Kind, _ defaultValue: String, mutable: Bool = true, aliases: [String] = []) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.mutable = mutable
        self.aliases = aliases
    }

    /// The canonical stored form of `raw`, or an error text as Redis words it.
    func normalize(_ raw: String) -> Result<String, ConfigError> {
        switch kind {
        case .integer(let lo, let hi):
            guard let v = Int(raw) else { return .failure(.init("argument couldn't be parsed into an integer")) }
            guard v >= lo && v <= hi else { return .failure(.init("argument must be between \(lo) and \(hi) inclusive")) }
            return .success(String(v))
        case .memory(let lo, let hi):
            guard let v = parseMemory(raw) else { return .failure(.init("argument must be a memory value")) }
            guard v >= lo && v <= hi else { return .failure(.init("argument must be between \(lo) and \(hi) inclusive")) }
            return .success(String(v))
        case .bool:
            switch raw.lowercased() {
            case "yes": return .success("yes")
            case "no": return .success("no")
            default: return .failure(.init("argument must be 'yes' or 'no'"))
            }
        case .string:
            return .success(raw)
        case .enumeration(let options):
            let v = raw.lowercased()
            guard options.contains(v) else { return .failure(.init("argument(s) must be one of the following: " + options.joined(separator: ", "))) }
            return .success(v)
        case .special(let validate):
            if let error = validate(raw) { return .failure(.init(error)) }
            return .success(raw)
        }
    }
}

struct ConfigError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Redis memory units: 1k = 1000, 1kb = 1024, and so on; case-insensitive.
func parseMemory(_ raw: String) -> Int? {
    let s = raw.lowercased()
    let units: [(String, Int)] = [("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10),
                                  ("g", 1_000_000_000), ("m", 1_000_000), ("k", 1000), ("b", 1)]
    for (suffix, factor) in units where s.hasSuffix(suffix) {
        guard let n = Int(s.dropLast(suffix.count)) else { return nil }
        let (r, o) = n.multipliedReportingOverflow(by: factor)
        return o ? nil : r
    }
    return Int(s)
}

/// The server's configuration: every parameter's current value, by canonical name.
struct Config: Sendable {
    private(set) var values: [String: String] = [:]

    static let parameters: [ConfigParameter] = {
        let maxInt = Int(Int32.max)
        return [
            ConfigParameter("port", .integer(min: 0, max: 65535), "6379", mutable: false),
            ConfigParameter("bind", .string, "127.0.0.1", mutable: false),
            ConfigParameter("dir", .string, ".", mutable: true),
            ConfigParameter("dbfilename", .string, "dump.rdb"),
            ConfigParameter("databases", .integer(min: 1, max: 256), "16", mutable: false),
            ConfigParameter("maxclients", .integer(min: 1, max: 1_000_000), "10000"),
            ConfigParameter("threads", .integer(min: 1, max: 128), String(defaultWorkers), mutable: false, aliases: ["io-threads"]),
            ConfigParameter("shards", .integer(min: 1, max: 128), String(defaultWorkers), mutable: false),
            ConfigParameter("loglevel", .enumeration(["debug", "verbose", "notice", "warning", "nothing"]), "notice"),
            ConfigParameter("logfile", .string, "", mutable: false),
            ConfigParameter("save", .special(validateSave), "3600 1 300 100 60 10000"),
            ConfigParameter("appendonly", .bool, "no"),
            ConfigParameter("appendfilename", .string, "appendonly.aof", mutable: false),
            ConfigParameter("appendfsync", .enumeration(["always", "everysec", "no"]), "everysec"),
            ConfigParameter("replicaof", .special(validateReplicaOf), "", mutable: false, aliases: ["slaveof"]),
            ConfigParameter("proto-max-bulk-len", .memory(min: 1024 * 1024, max: Int.max), "536870912"),
            ConfigParameter("client-query-buffer-limit", .memory(min: 1024 * 1024, max: Int.max), "1073741824"),
            ConfigParameter("hz", .integer(min: 1, max: 500), "10"),
            ConfigParameter("dynamic-hz", .bool, "yes"),
            ConfigParameter("timeout", .integer(min: 0, max: maxInt), "0"),
            ConfigParameter("tcp-keepalive", .integer(min: 0, max: maxInt), "300"),
            ConfigParameter("tcp-backlog", .integer(min: 0, max: maxInt), "511", mutable: false),
            ConfigParameter("daemonize", .bool, "no", mutable: false),
            ConfigParameter("protected-mode", .bool, "yes"),
            ConfigParameter("pidfile", .string, "", mutable: false),
            ConfigParameter("requirepass", .string, ""),
            ConfigParameter("maxmemory", .memory(min: 0, max: Int.max), "0"),
            ConfigParameter("maxmemory-policy", .enumeration(["volatile-lru", "allkeys-lru", "volatile-lfu", "allkeys-lfu",
                                                              "volatile-random", "allkeys-random", "volatile-ttl", "noeviction"]), "noeviction"),
            ConfigParameter("maxmemory-samples", .integer(min: 1, max: 64), "5"),
            ConfigParameter("lazyfree-lazy-eviction", .bool, "no"),
            ConfigParameter("lazyfree-lazy-expire", .bool, "no"),
            ConfigParameter("lazyfree-lazy-server-del", .bool, "no"),
            ConfigParameter("lazyfree-lazy-user-del", .bool, "no"),
            ConfigParameter("lazyfree-lazy-user-flush", .bool, "no"),
            ConfigParameter("lfu-log-factor", .integer(min: 0, max: maxInt), "10"),
            ConfigParameter("lfu-decay-time", .integer(min: 0, max: maxInt), "1"),
            ConfigParameter("active-expire-effort", .integer(min: 1, max: 10), "1"),
            ConfigParameter("stop-writes-on-bgsave-error", .bool, "yes"),
            ConfigParameter("rdbcompression", .bool, "yes"),
            ConfigParameter("rdbchecksum", .bool, "yes"),
            ConfigParameter("repl-backlog-size", .memory(min: 1, max: Int.max), "1048576"),
            ConfigParameter("repl-timeout", .integer(min: 1, max: maxInt), "60"),
            ConfigParameter("repl-diskless-sync", .bool, "yes"),
            ConfigParameter("replica-read-only", .bool, "yes", aliases: ["slave-read-only"]),
            ConfigParameter("replica-serve-stale-data", .bool, "yes", aliases: ["slave-serve-stale-data"]),
            ConfigParameter("masterauth", .string, ""),
            ConfigParameter("slowlog-log-slower-than", .integer(min: -1, max: Int.max), "10000"),
            ConfigParameter("slowlog-max-len", .integer(min: 0, max: Int.max), "128"),
            ConfigParameter("latency-monitor-threshold", .integer(min: 0, max: Int.max), "0"),
            ConfigParameter("notify-keyspace-events", .string, ""),
            ConfigParameter("list-max-listpack-size", .integer(min: Int(Int32.min), max: maxInt), "-2", aliases: ["list-max-ziplist-size"]),
            ConfigParameter("hash-max-listpack-entries", .integer(min: 0, max: Int.max), "128", aliases: ["hash-max-ziplist-entries"]),
            ConfigParameter("hash-max-listpack-value", .integer(min: 0, max: Int.max), "64", aliases: ["hash-max-ziplist-value"]),
            ConfigParameter("set-max-intset-entries", .integer(min: 0, max: Int.max), "512"),
            ConfigParameter("zset-max-listpack-entries", .integer(min: 0, max: Int.max), "128", aliases: ["zset-max-ziplist-entries"]),
            ConfigParameter("zset-max-listpack-value", .integer(min: 0, max: Int.max), "64", aliases: ["zset-max-ziplist-value"]),
            ConfigParameter("stream-node-max-bytes", .memory(min: 0, max: Int.max), "4096"),
            ConfigParameter("stream-node-max-entries", .integer(min: 0, max: Int.max), "100"),
            ConfigParameter("client-output-buffer-limit", .string, "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"),
            ConfigParameter("supervised", .enumeration(["upstart", "systemd", "auto", "no"]), "no", mutable: false),
            ConfigParameter("unixsocket", .string, "", mutable: false),
            ConfigParameter("enable-debug-command", .enumeration(["no", "yes", "local"]), "yes", mutable: false),
        ]
    }()

    static let defaultWorkers: Int = {
        let n = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return max(1, min(Int(n), 64))
    }()

    static func parameter(named name: String) -> ConfigParameter? {
        let n = name.lowercased()
        return parameters.first { $0.name == n || $0.aliases.contains(n) }
    }

    init() {
        for p in Config.parameters { values[p.name] = p.defaultValue }
    }

    /// Sets a parameter (start-up or CONFIG SET); throws with Redis's wording.
    mutating func set(_ name: String, _ raw: String) throws(ConfigError) {
        guard let p = Config.parameter(named: name) else { throw ConfigError("Unknown option or number of arguments for CONFIG SET - '\(name)'") }
        switch p.normalize(raw) {
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

private func validateSave(_ raw: String) -> String? {
    let parts = raw.split(separator: " ")
    if parts.count % 2 != 0 { return "Invalid save parameters" }
    for p in parts where Int(p) == nil || Int(p)! < 0 { return "Invalid save parameters" }
    return nil
}

private func validateReplicaOf(_ raw: String) -> String? {
    if raw.isEmpty { return nil }
    let parts = raw.split(separator: " ")
    if parts.count == 2 && parts[0].lowercased() == "no" && parts[1].lowercased() == "one" { return nil }
    guard parts.count == 2, let port = Int(parts[1]), port > 0, port < 65536 else { return "Invalid master port" }
    return nil
}
