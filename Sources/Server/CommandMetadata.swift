/// Redis 7.0's description of the commands ValKeyper has, beyond what a command table row
/// holds: ACL categories, command tips and key specifications, as COMMAND INFO reports
/// them (and COMMAND GETKEYSANDFLAGS, COMMAND LIST FILTERBY ACLCAT use them).
/// Commands missing here are described from their row (flags, group, key range).
struct CommandMetadata {
    /// One key specification: keys from argument `index`, up to `lastKey` (relative to
    /// `index`; negative counts from the end), every `keyStep`.
    struct KeySpec {
        let flags: [String]
        let index: Int
        let lastKey: Int
        let keyStep: Int
        let notes: String?
        /// Keys start after this keyword (searched from argument `index`) instead of at `index`
        /// (XREAD's `STREAMS`); `limit` > 1 keeps the first 1/limit of the range (key, then ids).
        let keyword: String?
        let limit: Int

        init(_ flags: [String], index: Int, lastKey: Int = 0, keyStep: Int = 1, notes: String? = nil,
             keyword: String? = nil, limit: Int = 0) {
            self.flags = flags
            self.index = index
            self.lastKey = lastKey
            self.keyStep = keyStep
            self.notes = notes
            self.keyword = keyword
            self.limit = limit
        }

        /// Position of the last argument this spec reaches among `argc` arguments.
        func lastPosition(argumentCount argc: Int) -> Int {
            lastKey >= 0 ? index + lastKey : argc + lastKey
        }
    }

    /// ACL categories without the '@', in Redis's order.
    let acl: [String]
    let tips: [String]
    let keys: [KeySpec]

    init(_ acl: [String], tips: [String] = [], keys: [KeySpec] = []) {
        self.acl = acl
        self.tips = tips
        self.keys = keys
    }

    static func of(_ fullName: String) -> CommandMetadata? { byName[fullName] }

    private static let byName: [String: CommandMetadata] = [
        "ping": CommandMetadata(["fast", "connection"], tips: ["request_policy:all_shards", "response_policy:all_succeeded"]),
        "echo": CommandMetadata(["fast", "connection"]),
        "quit": CommandMetadata(["fast", "connection"]),
        "select": CommandMetadata(["fast", "connection"]),
        "auth": CommandMetadata(["fast", "connection"]),
        "hello": CommandMetadata(["fast", "connection"]),
        "reset": CommandMetadata(["fast", "connection"]),
        "client": CommandMetadata(["slow"]),
        "client|id": CommandMetadata(["slow", "connection"]),
        "client|info": CommandMetadata(["slow", "connection"], tips: ["nondeterministic_output"]),
        "client|list": CommandMetadata(["admin", "slow", "dangerous", "connection"], tips: ["nondeterministic_output"]),
        "client|kill": CommandMetadata(["admin", "slow", "dangerous", "connection"]),
        "client|setname": CommandMetadata(["slow", "connection"]),
        "client|getname": CommandMetadata(["slow", "connection"]),
        "client|no-evict": CommandMetadata(["admin", "slow", "dangerous", "connection"]),
        "client|reply": CommandMetadata(["slow", "connection"]),
        "client|getredir": CommandMetadata(["slow", "connection"]),
        "client|trackinginfo": CommandMetadata(["slow", "connection"]),
        "client|caching": CommandMetadata(["slow", "connection"]),
        "client|unblock": CommandMetadata(["admin", "slow", "dangerous", "connection"]),
        "client|unpause": CommandMetadata(["admin", "slow", "dangerous", "connection"]),
        "client|help": CommandMetadata(["slow", "connection"]),
        "get": CommandMetadata(["read", "string", "fast"], keys: [KeySpec(["RO", "access"], index: 1)]),
        "set": CommandMetadata(["write", "string", "slow"], keys: [
            KeySpec(["RW", "access", "update", "variable_flags"], index: 1,
                    notes: "RW and ACCESS due to the optional `GET` argument"),
        ]),
        "setnx": CommandMetadata(["write", "string", "fast"], keys: [KeySpec(["OW", "insert"], index: 1)]),
        "setex": CommandMetadata(["write", "string", "slow"], keys: [KeySpec(["OW", "update"], index: 1)]),
        "psetex": CommandMetadata(["write", "string", "slow"], keys: [KeySpec(["OW", "update"], index: 1)]),
        "getset": CommandMetadata(["write", "string", "fast"], keys: [KeySpec(["RW", "access", "update"], index: 1)]),
        "getdel": CommandMetadata(["write", "string", "fast"], keys: [KeySpec(["RW", "access", "delete"], index: 1)]),
        "getex": CommandMetadata(["write", "string", "fast"], keys: [
            KeySpec(["RW", "access", "update"], index: 1,
                    notes: "RW and UPDATE because it changes the TTL"),
        ]),
        "mget": CommandMetadata(["read", "string", "fast"], tips: ["request_policy:multi_shard"], keys: [
            KeySpec(["RO", "access"], index: 1, lastKey: -1),
        ]),
        "mset": CommandMetadata(["write", "string", "slow"],
                 tips: ["request_policy:multi_shard", "response_policy:all_succeeded"], keys: [
            KeySpec(["OW", "update"], index: 1, lastKey: -1, keyStep: 2),
        ]),
        "msetnx": CommandMetadata(["write", "string", "slow"],
                 tips: ["request_policy:multi_shard", "response_policy:agg_min"], keys: [
            KeySpec(["OW", "insert"], index: 1, lastKey: -1, keyStep: 2),
        ]),
        "append": CommandMetadata(["write", "string", "fast"], keys: [KeySpec(["RW", "insert"], index: 1)]),
        "strlen": CommandMetadata(["read", "string", "fast"], keys: [KeySpec(["RO"], index: 1)]),
        "getrange": CommandMetadata(["read", "string", "slow"], keys: [KeySpec(["RO", "access"], index: 1)]),
        "substr": CommandMetadata(["read", "string", "slow"], keys: [KeySpec(["RO", "access"], index: 1)]),
        "setrange": CommandMetadata(["write", "string", "slow"], keys: [KeySpec(["RW", "update"], index: 1)]),
        "incr": CommandMetadata(["write", "string", "fast"], keys: [KeySpec(["RW", "access", "update"], index: 1)]),
        "decr": CommandMetadata(["write", "string", "fast"], keys: [KeySpec(["RW", "access", "update"], index: 1)]),
        "incrby": CommandMetadata(["write", "string", "fast"], keys: [KeySpec(["RW", "access", "update"], index: 1)]),
        "decrby": CommandMetadata(["write", "string", "fast"], keys: [KeySpec(["RW", "access", "update"], index: 1)]),
        "incrbyfloat": CommandMetadata(["write", "string", "fast"], keys: [KeySpec(["RW", "access", "update"], index: 1)]),
        "del": CommandMetadata(["keyspace", "write", "slow"],
                 tips: ["request_policy:multi_shard", "response_policy:agg_sum"], keys: [
            KeySpec(["RM", "delete"], index: 1, lastKey: -1),
        ]),
        "unlink": CommandMetadata(["keyspace", "write", "fast"],
                 tips: ["request_policy:multi_shard", "response_policy:agg_sum"], keys: [
            KeySpec(["RM", "delete"], index: 1, lastKey: -1),
        ]),
        "exists": CommandMetadata(["keyspace", "read", "fast"],
                 tips: ["request_policy:multi_shard", "response_policy:agg_sum"], keys: [
            KeySpec(["RO"], index: 1, lastKey: -1),
        ]),
        "touch": CommandMetadata(["keyspace", "read", "fast"],
                 tips: ["request_policy:multi_shard", "response_policy:agg_sum"], keys: [
            KeySpec(["RO"], index: 1, lastKey: -1),
        ]),
        "type": CommandMetadata(["keyspace", "read", "fast"], keys: [KeySpec(["RO"], index: 1)]),
        "expire": CommandMetadata(["keyspace", "write", "fast"], keys: [KeySpec(["RW", "update"], index: 1)]),
        "pexpire": CommandMetadata(["keyspace", "write", "fast"], keys: [KeySpec(["RW", "update"], index: 1)]),
        "expireat": CommandMetadata(["keyspace", "write", "fast"], keys: [KeySpec(["RW", "update"], index: 1)]),
        "pexpireat": CommandMetadata(["keyspace", "write", "fast"], keys: [KeySpec(["RW", "update"], index: 1)]),
        "ttl": CommandMetadata(["keyspace", "read", "fast"], tips: ["nondeterministic_output"], keys: [
            KeySpec(["RO", "access"], index: 1),
        ]),
        "pttl": CommandMetadata(["keyspace", "read", "fast"], tips: ["nondeterministic_output"], keys: [
            KeySpec(["RO", "access"], index: 1),
        ]),
        "expiretime": CommandMetadata(["keyspace", "read", "fast"], keys: [KeySpec(["RO", "access"], index: 1)]),
        "pexpiretime": CommandMetadata(["keyspace", "read", "fast"], keys: [KeySpec(["RO", "access"], index: 1)]),
        "persist": CommandMetadata(["keyspace", "write", "fast"], keys: [KeySpec(["RW", "update"], index: 1)]),
        "keys": CommandMetadata(["keyspace", "read", "slow", "dangerous"],
                 tips: ["request_policy:all_shards", "nondeterministic_output_order"]),
        "scan": CommandMetadata(["keyspace", "read", "slow"], tips: ["nondeterministic_output", "request_policy:special"]),
        "randomkey": CommandMetadata(["keyspace", "read", "slow"],
                 tips: ["request_policy:all_shards", "nondeterministic_output"]),
        "rename": CommandMetadata(["keyspace", "write", "slow"], keys: [
            KeySpec(["RW", "access", "delete"], index: 1),
            KeySpec(["OW", "update"], index: 2),
        ]),
        "renamenx": CommandMetadata(["keyspace", "write", "fast"], keys: [
            KeySpec(["RW", "access", "delete"], index: 1),
            KeySpec(["OW", "insert"], index: 2),
        ]),
        "copy": CommandMetadata(["keyspace", "write", "slow"], keys: [
            KeySpec(["RO", "access"], index: 1),
            KeySpec(["OW", "update"], index: 2),
        ]),
        "move": CommandMetadata(["keyspace", "write", "fast"], keys: [KeySpec(["RW", "access", "update"], index: 1)]),
        "swapdb": CommandMetadata(["keyspace", "write", "fast", "dangerous"]),
        "object": CommandMetadata(["slow"]),
        "object|encoding": CommandMetadata(["keyspace", "read", "slow"], tips: ["nondeterministic_output"], keys: [
            KeySpec(["RO"], index: 2),
        ]),
        "object|freq": CommandMetadata(["keyspace", "read", "slow"], tips: ["nondeterministic_output"], keys: [
            KeySpec(["RO"], index: 2),
        ]),
        "object|idletime": CommandMetadata(["keyspace", "read", "slow"], tips: ["nondeterministic_output"], keys: [
            KeySpec(["RO"], index: 2),
        ]),
        "object|refcount": CommandMetadata(["keyspace", "read", "slow"], tips: ["nondeterministic_output"], keys: [
            KeySpec(["RO"], index: 2),
        ]),
        "object|help": CommandMetadata(["keyspace", "slow"]),
        "debug": CommandMetadata(["admin", "slow", "dangerous"]),
        "info": CommandMetadata(["slow", "dangerous"],
                 tips: ["nondeterministic_output", "request_policy:all_shards", "response_policy:special"]),
        "dbsize": CommandMetadata(["keyspace", "read", "fast"],
                 tips: ["request_policy:all_shards", "response_policy:agg_sum"]),
        "flushdb": CommandMetadata(["keyspace", "write", "slow", "dangerous"],
                 tips: ["request_policy:all_shards", "response_policy:all_succeeded"]),
        "flushall": CommandMetadata(["keyspace", "write", "slow", "dangerous"],
                 tips: ["request_policy:all_shards", "response_policy:all_succeeded"]),
        "time": CommandMetadata(["fast"], tips: ["nondeterministic_output"]),
        "multi": CommandMetadata(["fast", "transaction"]),
        "exec": CommandMetadata(["slow", "transaction"]),
        "discard": CommandMetadata(["fast", "transaction"]),
        "watch": CommandMetadata(["fast", "transaction"], keys: [KeySpec(["RO"], index: 1, lastKey: -1)]),
        "unwatch": CommandMetadata(["fast", "transaction"]),
        "save": CommandMetadata(["admin", "slow", "dangerous"]),
        "xadd": CommandMetadata(["write", "stream", "fast"], tips: ["nondeterministic_output"], keys: [
            KeySpec(["RW", "update"], index: 1, notes: "UPDATE instead of INSERT because of the optional trimming feature")]),
        "xack": CommandMetadata(["write", "stream", "fast"], keys: [KeySpec(["RW", "update"], index: 1)]),
        "xautoclaim": CommandMetadata(["write", "stream", "fast"], tips: ["nondeterministic_output"],
                                      keys: [KeySpec(["RW", "delete"], index: 1)]),
        "xclaim": CommandMetadata(["write", "stream", "fast"], tips: ["nondeterministic_output"],
                                  keys: [KeySpec(["RW", "update"], index: 1)]),
        "xdel": CommandMetadata(["write", "stream", "fast"], keys: [KeySpec(["RW", "delete"], index: 1)]),
        "xgroup": CommandMetadata(["slow"]),
        "xgroup|create": CommandMetadata(["write", "stream", "slow"], keys: [KeySpec(["RW", "insert"], index: 2)]),
        "xgroup|createconsumer": CommandMetadata(["write", "stream", "slow"], keys: [KeySpec(["RW", "insert"], index: 2)]),
        "xgroup|delconsumer": CommandMetadata(["write", "stream", "slow"], keys: [KeySpec(["RW", "delete"], index: 2)]),
        "xgroup|destroy": CommandMetadata(["write", "stream", "slow"], keys: [KeySpec(["RW", "delete"], index: 2)]),
        "xgroup|setid": CommandMetadata(["write", "stream", "slow"], keys: [KeySpec(["RW", "update"], index: 2)]),
        "xgroup|help": CommandMetadata(["stream", "slow"]),
        "xinfo": CommandMetadata(["slow"]),
        "xinfo|stream": CommandMetadata(["read", "stream", "slow"], keys: [KeySpec(["RO", "access"], index: 2)]),
        "xinfo|groups": CommandMetadata(["read", "stream", "slow"], keys: [KeySpec(["RO", "access"], index: 2)]),
        "xinfo|consumers": CommandMetadata(["read", "stream", "slow"], tips: ["nondeterministic_output"],
                                           keys: [KeySpec(["RO", "access"], index: 2)]),
        "xinfo|help": CommandMetadata(["stream", "slow"]),
        "xlen": CommandMetadata(["read", "stream", "fast"], keys: [KeySpec(["RO"], index: 1)]),
        "xpending": CommandMetadata(["read", "stream", "slow"], tips: ["nondeterministic_output"],
                                    keys: [KeySpec(["RO", "access"], index: 1)]),
        "xrange": CommandMetadata(["read", "stream", "slow"], keys: [KeySpec(["RO", "access"], index: 1)]),
        "xrevrange": CommandMetadata(["read", "stream", "slow"], keys: [KeySpec(["RO", "access"], index: 1)]),
        "xread": CommandMetadata(["read", "stream", "slow", "blocking"], keys: [
            KeySpec(["RO", "access"], index: 1, lastKey: -1, keyword: "STREAMS", limit: 2)]),
        "xreadgroup": CommandMetadata(["write", "stream", "slow", "blocking"], keys: [
            KeySpec(["RO", "access"], index: 4, lastKey: -1, keyword: "STREAMS", limit: 2)]),
        "xsetid": CommandMetadata(["write", "stream", "fast"], keys: [KeySpec(["RW", "update"], index: 1)]),
        "xtrim": CommandMetadata(["write", "stream", "slow"], tips: ["nondeterministic_output"],
                                 keys: [KeySpec(["RW", "delete"], index: 1)]),
        "replconf": CommandMetadata(["admin", "slow", "dangerous"]),
        "psync": CommandMetadata(["admin", "slow", "dangerous"]),
        "sync": CommandMetadata(["admin", "slow", "dangerous"]),
        "replicaof": CommandMetadata(["admin", "slow", "dangerous"]),
        "slaveof": CommandMetadata(["admin", "slow", "dangerous"]),
        "role": CommandMetadata(["admin", "fast", "dangerous"]),
        "wait": CommandMetadata(["slow", "connection"], tips: ["request_policy:all_shards", "response_policy:agg_min"]),
        "bgsave": CommandMetadata(["admin", "slow", "dangerous"]),
        "lastsave": CommandMetadata(["admin", "fast", "dangerous"], tips: ["nondeterministic_output"]),
        "shutdown": CommandMetadata(["admin", "slow", "dangerous"]),
        "config": CommandMetadata(["slow"]),
        "config|get": CommandMetadata(["admin", "slow", "dangerous"]),
        "config|set": CommandMetadata(["admin", "slow", "dangerous"],
                 tips: ["request_policy:all_nodes", "response_policy:all_succeeded"]),
        "config|resetstat": CommandMetadata(["admin", "slow", "dangerous"]),
        "config|rewrite": CommandMetadata(["admin", "slow", "dangerous"]),
        "config|help": CommandMetadata(["slow"]),
        "command": CommandMetadata(["slow", "connection"], tips: ["nondeterministic_output_order"]),
        "function": CommandMetadata(["slow"]),
        "function|flush": CommandMetadata(["write", "slow", "scripting"],
                 tips: ["request_policy:all_shards", "response_policy:all_succeeded"]),
        "function|help": CommandMetadata(["slow", "scripting"]),
        "command|count": CommandMetadata(["slow", "connection"]),
        "command|docs": CommandMetadata(["slow", "connection"], tips: ["nondeterministic_output_order"]),
        "command|getkeys": CommandMetadata(["slow", "connection"]),
        "command|getkeysandflags": CommandMetadata(["slow", "connection"]),
        "command|help": CommandMetadata(["slow", "connection"]),
        "command|info": CommandMetadata(["slow", "connection"], tips: ["nondeterministic_output_order"]),
        "command|list": CommandMetadata(["slow", "connection"], tips: ["nondeterministic_output_order"]),
    ]
}
