import RESP

/// Command argument descriptions for COMMAND DOCS, written as usage lines and parsed
/// into Redis's argument trees (what redis-cli 7 turns back into its typing hints).
///
/// Usage notation: `name` is an argument, `TOKEN` a literal, `TOKEN name` a literal
/// followed by its value, `a|b` one of, `[...]` optional, `(...)` a group, and
/// `[x ...]` after `x` makes `x` repeatable.
enum CommandSyntax {
    /// Usage lines by full command name (commands absent from the table are ignored).
    static let usage: [String: String] = [
        // connection
        "ping": "[message]", "echo": "message", "select": "index", "auth": "[username] password",
        "hello": "[protover [AUTH username password] [SETNAME clientname]]",
        "client|list": "[TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID client-id [client-id ...]]",
        "client|kill": "ip:port|[ID client-id] [TYPE (NORMAL|MASTER|SLAVE|REPLICA|PUBSUB)] [USER username] "
            + "[ADDR ip:port] [LADDR ip:port] [SKIPME (YES|NO)]",
        "client|setname": "connection-name", "client|setinfo": "(LIB-NAME libname|LIB-VER libver)",
        "client|no-evict": "(ON|OFF)", "client|reply": "(ON|OFF|SKIP)",
        "client|caching": "(YES|NO)", "client|unblock": "client-id [TIMEOUT|ERROR]",
        // server
        "info": "[section [section ...]]", "flushdb": "[ASYNC|SYNC]", "flushall": "[ASYNC|SYNC]",
        "shutdown": "[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]", "function|flush": "[ASYNC|SYNC]",
        "config|get": "parameter [parameter ...]", "config|set": "parameter value [parameter value ...]",
        "debug": "subcommand [argument [argument ...]]", "swapdb": "index1 index2",
        // strings
        "get": "key", "getdel": "key", "getset": "key value", "setnx": "key value", "append": "key value",
        "set": "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]",
        "getex": "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]",
        "setex": "key seconds value", "psetex": "key milliseconds value",
        "mget": "key [key ...]", "mset": "key value [key value ...]", "msetnx": "key value [key value ...]",
        "incr": "key", "decr": "key", "incrby": "key increment", "decrby": "key decrement", "incrbyfloat": "key increment",
        "strlen": "key", "getrange": "key start end", "substr": "key start end", "setrange": "key offset value",
        "lcs": "key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]",
        // keys
        "del": "key [key ...]", "unlink": "key [key ...]", "exists": "key [key ...]", "touch": "key [key ...]",
        "expire": "key seconds [NX|XX|GT|LT]", "pexpire": "key milliseconds [NX|XX|GT|LT]",
        "expireat": "key unix-time-seconds [NX|XX|GT|LT]", "pexpireat": "key unix-time-milliseconds [NX|XX|GT|LT]",
        "ttl": "key", "pttl": "key", "expiretime": "key", "pexpiretime": "key", "persist": "key", "type": "key",
        "keys": "pattern", "scan": "cursor [MATCH pattern] [COUNT count] [TYPE type]",
        "rename": "key newkey", "renamenx": "key newkey", "move": "key db", "dump": "key",
        "copy": "source destination [DB destination-db] [REPLACE]",
        "object|encoding": "key", "object|freq": "key", "object|idletime": "key", "object|refcount": "key",
    ]

    /// One argument of a command, as COMMAND DOCS describes it.
    indirect enum Argument {
        case value(name: String, type: String, token: String?, flags: Flags)
        case pureToken(String, flags: Flags)
        case group(kind: String, name: String, token: String?, children: [Argument], flags: Flags)

        struct Flags: OptionSet {
            let rawValue: Int
            static let optional = Flags(rawValue: 1)
            static let multiple = Flags(rawValue: 2)
        }

        var flags: Flags {
            switch self {
            case .value(_, _, _, let f), .pureToken(_, let f), .group(_, _, _, _, let f): return f
            }
        }

        func adding(_ extra: Flags) -> Argument {
            switch self {
            case .value(let n, let t, let tok, let f): return .value(name: n, type: t, token: tok, flags: f.union(extra))
            case .pureToken(let t, let f): return .pureToken(t, flags: f.union(extra))
            case .group(let k, let n, let tok, let c, let f): return .group(kind: k, name: n, token: tok, children: c, flags: f.union(extra))
            }
        }

        var name: String {
            switch self {
            case .value(let n, _, _, _), .group(_, let n, _, _, _): return n
            case .pureToken(let t, _): return t.lowercased()
            }
        }
    }

    /// The parsed arguments of `command`, or nil when no usage is known.
    static func arguments(of command: String) -> [Argument]? {
        guard let line = usage[command] else { return nil }
        var parser = Parser(tokens: tokenize(line))
        return parser.sequence(until: nil)
    }

    static func tokenize(_ line: String) -> [String] {
        var tokens: [String] = []
        var word = ""
        for ch in line {
            if "[]()|".contains(ch) || ch == " " {
                if !word.isEmpty { tokens.append(word); word = "" }
                if ch != " " { tokens.append(String(ch)) }
            } else {
                word.append(ch)
            }
        }
        if !word.isEmpty { tokens.append(word) }
        return tokens
    }

    private struct Parser {
        var tokens: [String]
        var position = 0

        var next: String? { position < tokens.count ? tokens[position] : nil }

        static func isLiteral(_ word: String) -> Bool {
            word != "..." && word.contains(where: \.isLetter) && !word.contains(where: \.isLowercase)
        }

        mutating func sequence(until closer: String?) -> [Argument] {
            var items: [Argument] = []
            while let t = next, t != closer {
                if t == "[" && repeats(&items) {
                    continue
                }
                items.append(alternatives(until: closer))
            }
            if next == closer { position += 1 }
            return items
        }

        /// `[x y ...]` right after `x y`: marks those as repeatable (as one block if several).
        mutating func repeats(_ items: inout [Argument]) -> Bool {
            guard let end = tokens[position...].firstIndex(of: "]"), tokens[end - 1] == "..." else { return false }
            let inner = Array(tokens[(position + 1)..<(end - 1)])
            var probe = Parser(tokens: inner)
            let repeated = probe.sequence(until: nil)
            guard repeated.count >= 1, repeated.count <= items.count,
                  zip(items.suffix(repeated.count), repeated).allSatisfy({ $0.name == $1.name }) else { return false }
            position = end + 1
            if repeated.count == 1 {
                items[items.count - 1] = items[items.count - 1].adding(.multiple)
            } else {
                let block = Array(items.suffix(repeated.count))
                items.removeLast(repeated.count)
                items.append(.group(kind: "block", name: block.map(\.name).joined(separator: "_"), token: nil,
                                    children: block, flags: .multiple))
            }
            return true
        }

        mutating func alternatives(until closer: String?) -> Argument {
            var options = [primary(until: closer)]
            while next == "|" {
                position += 1
                options.append(primary(until: closer))
            }
            if options.count == 1 { return options[0] }
            return .group(kind: "oneof", name: options.map(\.name).joined(separator: "_"), token: nil, children: options, flags: [])
        }

        mutating func primary(until closer: String?) -> Argument {
            let t = tokens[position]
            position += 1
            switch t {
            case "[":
                let inner = sequence(until: "]")
                if inner.count == 1 { return inner[0].adding(.optional) }
                return .group(kind: "block", name: inner.map(\.name).joined(separator: "_"), token: nil, children: inner, flags: .optional)
            case "(":
                let inner = sequence(until: ")")
                if inner.count == 1 { return inner[0] }
                return .group(kind: "block", name: inner.map(\.name).joined(separator: "_"), token: nil, children: inner, flags: [])
            default:
                guard Parser.isLiteral(t) else { return .value(name: t, type: CommandSyntax.type(of: t), token: nil, flags: []) }
                if next == "(" {
                    // A literal introducing a group: TYPE (NORMAL|MASTER)
                    position += 1
                    let inner = sequence(until: ")")
                    if inner.count == 1, case .group(let kind, let name, _, let children, let flags) = inner[0] {
                        return .group(kind: kind, name: name, token: t, children: children, flags: flags)
                    }
                    return .group(kind: "block", name: t.lowercased(), token: t, children: inner, flags: [])
                }
                if let value = next, !"[]()|".contains(value), value != "...", !Parser.isLiteral(value) {
                    position += 1
                    return .value(name: value, type: CommandSyntax.type(of: value), token: t, flags: [])
                }
                return .pureToken(t, flags: [])
            }
        }
    }

    /// Redis's argument type, guessed from the argument's name.
    static func type(of name: String) -> String {
        if ["key", "key1", "key2", "newkey", "source", "destination"].contains(name) { return "key" }
        if name.hasPrefix("unix-time") { return "unix-time" }
        if name == "pattern" { return "pattern" }
        let integers = ["seconds", "milliseconds", "count", "offset", "start", "end", "increment", "decrement", "index",
                        "index1", "index2", "db", "destination-db", "cursor", "min-match-len", "timeout", "numkeys",
                        "protover", "client-id"]
        return integers.contains(name) ? "integer" : "string"
    }

    /// Writes `arguments` as COMMAND DOCS does (an array of maps).
    static func write(_ arguments: [Argument], _ resp: RESPVersion, _ out: inout ByteBuffer) {
        out.writeArrayHeader(arguments.count)
        for a in arguments { write(a, resp, &out) }
    }

    private static func write(_ a: Argument, _ resp: RESPVersion, _ out: inout ByteBuffer) {
        var fields: [(String, (inout ByteBuffer) -> Void)] = []
        func text(_ k: String, _ v: String) { fields.append((k, { $0.writeBulk(string: v) })) }
        switch a {
        case .value(let name, let type, let token, _):
            text("name", name)
            text("type", type)
            if type == "key" { fields.append(("key_spec_index", { $0.writeInteger(0) })) }
            if let token { text("token", token) }
        case .pureToken(let token, _):
            text("name", token.lowercased())
            text("type", "pure-token")
            text("token", token)
        case .group(let kind, let name, let token, _, _):
            text("name", name)
            text("type", kind)
            if let token { text("token", token) }
        }
        var flagNames: [String] = []
        if a.flags.contains(.optional) { flagNames.append("optional") }
        if a.flags.contains(.multiple) { flagNames.append("multiple") }
        if !flagNames.isEmpty {
            fields.append(("flags", { out in
                out.writeSetHeader(flagNames.count, resp)
                for f in flagNames { out.writeSimple(string: f) }
            }))
        }
        if case .group(_, _, _, let children, _) = a {
            fields.append(("arguments", { out in write(children, resp, &out) }))
        }
        out.writeMapHeader(fields.count, resp)
        for (key, value) in fields {
            out.writeBulk(string: key)
            value(&out)
        }
    }
}
