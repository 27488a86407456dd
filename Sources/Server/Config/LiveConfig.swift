import Shards
import Synchronization
import Values

/// The one home of every setting that threads read while the server runs (workers, the
/// sequencer, the replica link, the logger). Each is a relaxed atomic: a value stands alone
/// and no reader needs two of them to agree. `publish` writes them all, at start-up before
/// any thread starts and after every CONFIG SET; nothing else does.
enum LiveConfig {
    /// requirepass is set: new connections start unauthenticated.
    static let passwordRequired = Atomic<Bool>(false)
    /// `timeout`: seconds of inactivity after which a connection is closed (0: never).
    static let idleTimeoutSeconds = Atomic<Int>(0)
    /// `proto-max-bulk-len`: the largest bulk argument a new connection's parser accepts, and
    /// the longest string APPEND and SETRANGE may build.
    static let protoMaxBulkLen = Atomic<Int>(512 * 1024 * 1024)
    /// `client-query-buffer-limit`: a connection whose unrun input outgrows it is closed.
    static let queryBufferLimit = Atomic<Int>(1024 * 1024 * 1024)
    /// DEBUG SET-SKIP-CHECKSUM-VALIDATION: RESTORE accepts payloads whatever their CRC-64.
    static let skipChecksumValidation = Atomic<Bool>(false)
    /// `maxclients`: further connections are refused.
    static let maxClients = Atomic<Int>(10000)
    /// `hz`: housekeeping ticks per second (stored clamped to 1...500).
    static let hz = Atomic<Int>(10)
    /// `min-replicas-to-write`: writes need this many replicas with a recent ACK (0: off).
    static let minReplicasToWrite = Atomic<Int>(0)
    /// `replica-serve-stale-data`: a replica whose link is down still answers data commands.
    static let replicaServeStaleData = Atomic<Bool>(true)
    /// `lua-allow-undeclared-keys`: a script without declared keys locks every shard (yes)
    /// or runs on one shard only, its calls elsewhere refused (no).
    static let luaAllowUndeclaredKeys = Atomic<Bool>(true)
    /// `replica-read-only`: a replica refuses clients' writes.
    static let replicaReadOnly = Atomic<Bool>(true)
    /// `client-output-buffer-limit`, per client class.
    static let outputLimits = OutputBufferLimitTable()
    /// `protected-mode`: without a password, only local clients are accepted.
    static let protectedMode = Atomic<Bool>(true)
    /// `enable-debug-command` (a ProtectedAction raw value): who may run DEBUG.
    static let debugCommand = Atomic<Int>(ProtectedAction.no.rawValue)
    /// `stream-node-max-bytes` and `stream-node-max-entries`: when XADD starts a new node.
    static let streamNodeMaxBytes = Atomic<Int>(StreamNodeLimits.redisDefaults.maxBytes)
    static let streamNodeMaxEntries = Atomic<Int>(StreamNodeLimits.redisDefaults.maxEntries)
    /// `hll-sparse-max-bytes`: the largest sparse HyperLogLog (header included) before it turns dense.
    static let hllSparseMaxBytes = Atomic<Int>(3000)
    /// `loglevel` (a Log.Level raw value): the least severe line Log writes.
    static let logLevel = Atomic<Int>(Log.Level.notice.rawValue)

    /// `busy-reply-threshold` (alias `lua-time-limit`): milliseconds after which a running
    /// script is busy (BusyScript.swift); 0: never.
    static let busyReplyThresholdMs = Atomic<Int>(5000)

    static var streamNodeLimits: StreamNodeLimits {
        StreamNodeLimits(maxBytes: streamNodeMaxBytes.load(ordering: .relaxed),
                         maxEntries: streamNodeMaxEntries.load(ordering: .relaxed))
    }

    /// Publishes every live setting from `config` (start-up and after CONFIG SET).
    static func publish(_ config: Config) {
        passwordRequired.store(!config.value("requirepass").isEmpty, ordering: .relaxed)
        idleTimeoutSeconds.store(config.integer("timeout"), ordering: .relaxed)
        protoMaxBulkLen.store(config.protoMaxBulkLen, ordering: .relaxed)
        queryBufferLimit.store(Int(clamping: UInt64(config.value("client-query-buffer-limit")) ?? 1 << 30), ordering: .relaxed)
        maxClients.store(config.maxClients, ordering: .relaxed)
        hz.store(config.hz, ordering: .relaxed)
        minReplicasToWrite.store(config.integer("min-replicas-to-write"), ordering: .relaxed)
        replicaServeStaleData.store(config.bool("replica-serve-stale-data"), ordering: .relaxed)
        luaAllowUndeclaredKeys.store(config.bool("lua-allow-undeclared-keys"), ordering: .relaxed)
        replicaReadOnly.store(config.bool("replica-read-only"), ordering: .relaxed)
        protectedMode.store(config.bool("protected-mode"), ordering: .relaxed)
        outputLimits.publish(config.value("client-output-buffer-limit"))
        debugCommand.store(ProtectedAction(config.value("enable-debug-command")).rawValue, ordering: .relaxed)
        streamNodeMaxBytes.store(config.integer("stream-node-max-bytes"), ordering: .relaxed)
        streamNodeMaxEntries.store(config.integer("stream-node-max-entries"), ordering: .relaxed)
        hllSparseMaxBytes.store(Int(clamping: UInt64(config.value("hll-sparse-max-bytes")) ?? 3000), ordering: .relaxed)
        logLevel.store(Log.Level(name: config.value("loglevel")).rawValue, ordering: .relaxed)
        // Kept in Values, where hashes and the RDB loader read them.
        HashLimits.maxListpackEntries.store(config.integer("hash-max-listpack-entries"), ordering: .relaxed)
        HashLimits.maxListpackValue.store(config.integer("hash-max-listpack-value"), ordering: .relaxed)
        // Kept in the Values module, whose RDB loads read them too.
        SortedSetLimits.publish(SortedSetLimits(maxEntries: Int(clamping: UInt64(config.value("zset-max-listpack-entries")) ?? 128),
                                                maxValue: Int(clamping: UInt64(config.value("zset-max-listpack-value")) ?? 64)))
        SetLimits.maxIntsetEntries.store(config.integer("set-max-intset-entries"), ordering: .relaxed)
        ListLimits.fill.store(config.integer("list-max-listpack-size"), ordering: .relaxed)
        ListLimits.compressDepth.store(config.integer("list-compress-depth"), ordering: .relaxed)
        busyReplyThresholdMs.store(config.integer("busy-reply-threshold"), ordering: .relaxed)
        KeyspaceEvent.configured.store(KeyspaceEvent.flags(config.value("notify-keyspace-events")), ordering: .relaxed)
    }

    /// `zset-max-listpack-entries` / `-value`: when a sorted set stops being a listpack.
    static var sortedSetLimits: SortedSetLimits { SortedSetLimits.current }
}
