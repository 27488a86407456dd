import RESP
import Shards

/// COMMAND and its subcommands (Redis 7.0's commandCommand family in server.c): the
/// command table described as Redis describes its own.
enum CommandIntrospection {
    /// COMMAND alone, and its subcommands (dispatch has checked the subcommand and its arity).
    static func command(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        let table = w.table
        guard args.count >= 2 else {
            writeInfos(table.publicCommands, table, c.resp, &out)
            return
        }
        switch lowercased(args[1]) {
        case "count":
            out.writeInteger(table.publicCommands.count)
        case "info":
            if args.count == 2 { return writeInfos(table.publicCommands, table, c.resp, &out) }
            out.writeArrayHeader(args.count - 2)
            for i in 2..<args.count {
                if let spec = lookup(fullName: args.string(i), table) { writeInfo(spec, c.resp, &out) } else { out.writeNull(c.resp) }
            }
        case "docs":
            let chosen = args.count == 2 ? table.publicCommands : (2..<args.count).compactMap { lookup(fullName: args.string($0), table) }
            out.writeMapHeader(chosen.count, c.resp)
            for spec in chosen {
                out.writeBulk(string: spec.name)
                writeDocs(spec, c.resp, &out)
            }
        case "list":
            list(table, args, c.resp, &out)
        case "getkeys", "getkeysandflags":
            getKeys(table, args.dropFirst(2), withFlags: argIs(args[1], "getkeysandflags"), c.resp, &out)
        case "help":
            writeHelp("COMMAND", [
                "(no subcommand)",
                "    Return details about all Redis commands.",
                "COUNT",
                "    Return the total number of commands in this Redis server.",
                "LIST",
                "    Return a list of all commands in this Redis server.",
                "INFO [<command-name> ...]",
                "    Return details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "DOCS [<command-name> ...]",
                "    Return documentation details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "GETKEYS <full-command>",
                "    Return the keys from a full Redis command.",
                "GETKEYSANDFLAGS <full-command>",
                "    Return the keys and the access flags from a full Redis command.",
            ], &out)
        default:
            var text = ErrorText("ERR unknown subcommand '")
            text.append(argument: args[1], limit: 128)
            text.append("'. Try COMMAND HELP.")
            out.writeError(text)
        }
    }

    /// A command by its full name ("get", "config|get"), any case.
    static func lookup(fullName: String, _ table: CommandTable) -> CommandSpec? {
        let name = fullName.lowercased()
        let parts = name.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count <= 2, let top = table.index(of: String(parts[0])),
              !table.specs[Int(top)].flags.contains(.internal) else { return nil }
        let spec = table.specs[Int(top)]
        if parts.count == 1 { return spec }
        return spec.subcommands.first { $0.name == name }
    }

    /// COMMAND's subcommands: dispatch checks them as a container's; the handler above runs them.
    static let subcommands: [CommandSpec] = [
        sub("count", 2, "Number of commands this server knows.")
            .described(since: "2.8.13", acl: [.slow, .connection]),
        sub("docs", -2, "Documentation of the named commands, or of every command: group, version and arguments.")
            .described(since: "7.0.0", acl: [.slow, .connection], tips: ["nondeterministic_output_order"],
                       arguments: [.string("command-name").optional.multiple]),
        sub("getkeys", -4, "Names the keys a full command line would touch.")
            .described(since: "2.8.13", acl: [.slow, .connection]),
        sub("getkeysandflags", -4, "Names the keys a full command line would touch, with how each is accessed.")
            .described(since: "7.0.0", acl: [.slow, .connection]),
        sub("help", 2, "Lists the subcommands and what they do.")
            .described(since: "5.0.0", acl: [.slow, .connection]),
        sub("info", -2, "Arity, flags, key positions and ACL categories of the named commands, or of all.")
            .described(since: "2.8.13", acl: [.slow, .connection], tips: ["nondeterministic_output_order"],
                       arguments: [.string("command-name").optional.multiple]),
        sub("list", -2, "Full names of the commands, optionally filtered.")
            .described(since: "7.0.0", acl: [.slow, .connection], tips: ["nondeterministic_output_order"],
                       arguments: [
                           .oneOf("filterby", token: "FILTERBY", [
                               .string("module-name", token: "MODULE"),
                               .string("category", token: "ACLCAT"),
                               .pattern("pattern", token: "PATTERN"),
                           ]).optional,
                       ]),
    ]

    private static func sub(_ name: String, _ arity: Int, _ summary: String) -> CommandSpec {
        CommandSpec("command|" + name, arity: arity, flags: [.loading, .stale], group: "server", summary: summary,
                    run: .client(command))
    }

    // MARK: INFO

    private static func writeInfos(_ specs: [CommandSpec], _ table: CommandTable, _ resp: RESPVersion, _ out: inout ByteBuffer) {
        out.writeArrayHeader(specs.count)
        for spec in specs { writeInfo(spec, resp, &out) }
    }

    /// The ten fields of a COMMAND INFO entry.
    static func writeInfo(_ spec: CommandSpec, _ resp: RESPVersion, _ out: inout ByteBuffer) {
        out.writeArrayHeader(10)
        out.writeBulk(string: spec.name)
        out.writeInteger(spec.arity)
        let flags = CommandFlags.names.filter { spec.flags.contains($0.0) }.map(\.1)
        out.writeSetHeader(flags.count, resp)
        for f in flags { out.writeSimple(string: f) }
        out.writeInteger(spec.firstKey)
        out.writeInteger(spec.firstKey == 0 ? 0 : spec.lastKey)
        out.writeInteger(spec.firstKey == 0 ? 0 : spec.step)
        let categories = aclCategories(spec)
        out.writeSetHeader(categories.count, resp)
        for cat in categories { out.writeSimple(string: cat) }
        out.writeSetHeader(spec.tips.count, resp)
        for tip in spec.tips { out.writeBulk(string: tip) }
        out.writeSetHeader(spec.keySpecs.count, resp)
        for keySpec in spec.keySpecs { writeKeySpec(keySpec, resp, &out) }
        out.writeSetHeader(spec.subcommands.count, resp)
        for sub in spec.subcommands { writeInfo(sub, resp, &out) }
    }

    private static func writeKeySpec(_ keySpec: KeySpec, _ resp: RESPVersion, _ out: inout ByteBuffer) {
        out.writeMapHeader(keySpec.notes == nil ? 3 : 4, resp)
        if let notes = keySpec.notes {
            out.writeBulk(string: "notes"); out.writeBulk(string: notes)
        }
        out.writeBulk(string: "flags")
        out.writeSetHeader(keySpec.flags.count, resp)
        for f in keySpec.flags { out.writeSimple(string: f) }
        out.writeBulk(string: "begin_search")
        out.writeMapHeader(2, resp)
        if keySpec.unknown {
            out.writeBulk(string: "type"); out.writeBulk(string: "unknown")
            out.writeBulk(string: "spec"); out.writeMapHeader(0, resp)
            out.writeBulk(string: "find_keys")
            out.writeMapHeader(2, resp)
            out.writeBulk(string: "type"); out.writeBulk(string: "unknown")
            out.writeBulk(string: "spec"); out.writeMapHeader(0, resp)
            return
        }
        if let keyword = keySpec.keyword {
            out.writeBulk(string: "type"); out.writeBulk(string: "keyword")
            out.writeBulk(string: "spec")
            out.writeMapHeader(2, resp)
            out.writeBulk(string: "keyword"); out.writeBulk(string: keyword)
            out.writeBulk(string: "startfrom"); out.writeInteger(keySpec.index)
        } else {
            out.writeBulk(string: "type"); out.writeBulk(string: "index")
            out.writeBulk(string: "spec")
            out.writeMapHeader(1, resp)
            out.writeBulk(string: "index"); out.writeInteger(keySpec.index)
        }
        out.writeBulk(string: "find_keys")
        out.writeMapHeader(2, resp)
        if let countAt = keySpec.keyCountAt {
            out.writeBulk(string: "type"); out.writeBulk(string: "keynum")
            out.writeBulk(string: "spec")
            out.writeMapHeader(3, resp)
            out.writeBulk(string: "keynumidx"); out.writeInteger(countAt)
            out.writeBulk(string: "firstkey"); out.writeInteger(keySpec.firstKeyAt)
            out.writeBulk(string: "keystep"); out.writeInteger(keySpec.keyStep)
            return
        }
        out.writeBulk(string: "type"); out.writeBulk(string: "range")
        out.writeBulk(string: "spec")
        out.writeMapHeader(3, resp)
        out.writeBulk(string: "lastkey"); out.writeInteger(keySpec.lastKey)
        out.writeBulk(string: "keystep"); out.writeInteger(keySpec.keyStep)
        out.writeBulk(string: "limit"); out.writeInteger(keySpec.limit)
    }

    /// ACL categories as COMMAND INFO names them.
    static func aclCategories(_ spec: CommandSpec) -> [String] {
        spec.acl.map { "@" + $0.rawValue }
    }

    // MARK: DOCS

    /// summary, since, group, arguments (for redis-cli's hints) and subcommands.
    static func writeDocs(_ spec: CommandSpec, _ resp: RESPVersion, _ out: inout ByteBuffer) {
        let hasSummary = !spec.summary.isEmpty
        let hasSince = !spec.since.isEmpty
        out.writeMapHeader(1 + (hasSummary ? 1 : 0) + (hasSince ? 1 : 0) + (spec.arguments.isEmpty ? 0 : 1)
                           + (spec.subcommands.isEmpty ? 0 : 1), resp)
        if hasSummary {
            out.writeBulk(string: "summary"); out.writeBulk(string: spec.summary)
        }
        if hasSince {
            out.writeBulk(string: "since"); out.writeBulk(string: spec.since)
        }
        out.writeBulk(string: "group"); out.writeBulk(string: spec.group)
        if !spec.arguments.isEmpty {
            out.writeBulk(string: "arguments")
            writeArguments(spec.arguments, resp, &out)
        }
        if !spec.subcommands.isEmpty {
            out.writeBulk(string: "subcommands")
            out.writeMapHeader(spec.subcommands.count, resp)
            for sub in spec.subcommands {
                out.writeBulk(string: sub.name)
                writeDocs(sub, resp, &out)
            }
        }
    }

    /// Arguments as COMMAND DOCS lists them: a map per argument, fields in Redis's order.
    static func writeArguments(_ arguments: [CommandArgument], _ resp: RESPVersion, _ out: inout ByteBuffer) {
        out.writeArrayHeader(arguments.count)
        for a in arguments {
            let flags = CommandArgument.Flags.names.filter { a.flags.contains($0.0) }.map(\.1)
            out.writeMapHeader(2 + (a.keySpecIndex == nil ? 0 : 1) + (a.token == nil ? 0 : 1) + (flags.isEmpty ? 0 : 1)
                               + (a.children.isEmpty ? 0 : 1), resp)
            out.writeBulk(string: "name"); out.writeBulk(string: a.name)
            out.writeBulk(string: "type"); out.writeBulk(string: a.kind.rawValue)
            if let index = a.keySpecIndex {
                out.writeBulk(string: "key_spec_index"); out.writeInteger(index)
            }
            if let token = a.token {
                out.writeBulk(string: "token"); out.writeBulk(string: token)
            }
            if !flags.isEmpty {
                out.writeBulk(string: "flags")
                out.writeSetHeader(flags.count, resp)
                for f in flags { out.writeSimple(string: f) }
            }
            if !a.children.isEmpty {
                out.writeBulk(string: "arguments")
                writeArguments(a.children, resp, &out)
            }
        }
    }

    // MARK: LIST

    /// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]: full names,
    /// subcommands included.
    private static func list(_ table: CommandTable, _ args: Arguments, _ resp: RESPVersion, _ out: inout ByteBuffer) {
        var keep: (CommandSpec) -> Bool = { _ in true }
        var i = 2
        while i < args.count {
            guard argIs(args[i], "filterby") && args.count - 1 - i == 2 else { out.writeError(Errors.syntax); return }
            let value = args.string(i + 2)
            if argIs(args[i + 1], "module") {
                keep = { _ in false }
            } else if argIs(args[i + 1], "aclcat") {
                let category = "@" + value.lowercased()
                keep = { aclCategories($0).contains(category) }
            } else if argIs(args[i + 1], "pattern") {
                keep = { Glob.matches(value, $0.name, caseInsensitive: true) }
            } else {
                out.writeError(Errors.syntax)
                return
            }
            i += 3
        }
        var names: [String] = []
        for spec in table.publicCommands {
            if keep(spec) { names.append(spec.name) }
            for sub in spec.subcommands where keep(sub) { names.append(sub.name) }
        }
        out.writeArrayHeader(names.count)
        for n in names { out.writeBulk(string: n) }
    }

    // MARK: GETKEYS

    /// The key flags of a command whose key spec says "variable_flags" (only SET here, as
    /// Redis's setGetKeys): with GET it reads the old value, else it only overwrites.
    private static func variableKeyFlags(_ inner: Arguments) -> [String] {
        for i in 3..<max(inner.count, 3) where argIs(inner[i], "get") { return ["RW", "access", "update"] }
        return ["OW", "update"]
    }

    private static func getKeys(_ table: CommandTable, _ inner: Arguments, withFlags: Bool, _ resp: RESPVersion,
                                _ out: inout ByteBuffer) {
        guard var index = table.lookup(inner[0]) else { out.writeError("ERR Invalid command specified"); return }
        // Redis's lookupCommand: a command with subcommands given an argument (GETKEYS's arity
        // guarantees one) means the subcommand.
        if table.routes[Int(index)].hasSubcommands {
            guard let sub = table.subcommand(of: index, named: lowercased(inner[1])) else {
                out.writeError("ERR Invalid command specified")
                return
            }
            index = sub
        }
        let spec = table.specs[Int(index)]
        guard !spec.keySpecs.isEmpty else { out.writeError("ERR The command has no key arguments"); return }
        guard spec.arityOK(inner.count) else { out.writeError("ERR Invalid number of arguments specified for command"); return }
        // Each key specification finds its keys in turn (RENAME: the source, then the destination).
        var found: [(position: Int, flags: [String])] = []
        let procedure = movableKeys(spec.name, inner)
        if let procedure {
            found = procedure
            guard !found.isEmpty else { out.writeError("ERR Invalid arguments specified for command"); return }
        }
        for keySpec in spec.keySpecs where !keySpec.unknown && procedure == nil {
            // Redis's getKeysUsingKeySpecs skips a spec whose keyword is absent (GEORADIUS
            // without STORE): its keys are optional. The last argument is never searched.
            if let keyword = keySpec.keyword,
               !(keySpec.index..<max(inner.count - 1, keySpec.index)).contains(where: { lowercased(inner[$0]) == keyword.lowercased() }) {
                continue
            }
            guard let (first, last) = keyRange(keySpec, inner), last >= first, last < inner.count else {
                // A command that may run without keys (EVAL, FCALL with numkeys 0) has none.
                if spec.flags.contains(.noMandatoryKeys) { continue }
                out.writeError("ERR Invalid arguments specified for command")
                return
            }
            let flags = keySpec.flags.contains("variable_flags") ? variableKeyFlags(inner) : keySpec.flags
            for k in stride(from: first, through: last, by: max(keySpec.keyStep, 1)) {
                found.append((k, flags))
            }
        }
        guard !found.isEmpty || spec.flags.contains(.noMandatoryKeys) else {
            out.writeError("ERR Invalid arguments specified for command")
            return
        }
        out.writeArrayHeader(found.count)
        for key in found {
            if withFlags {
                out.writeArrayHeader(2)
                out.writeBulk(inner[key.position])
                out.writeSetHeader(key.flags.count, resp)
                for f in key.flags { out.writeSimple(string: f) }
            } else {
                out.writeBulk(inner[key.position])
            }
        }
    }

    /// Redis's getkeys procedures for the commands whose key specifications cannot say
    /// where their keys are: sortGetKeys (the last STORE's key) and migrateGetKeys (KEYS).
    private static func movableKeys(_ name: String, _ args: Arguments) -> [(position: Int, flags: [String])]? {
        switch name {
        case "sort":
            var keys = [(1, ["RO", "access"])]
            var store: Int?
            var i = 2
            while i < args.count {
                if argIs(args[i], "limit") { i += 2 } else if argIs(args[i], "get") || argIs(args[i], "by") { i += 1 }
                else if argIs(args[i], "store") && i + 1 < args.count { store = i + 1 }
                i += 1
            }
            if let store { keys.append((store, ["OW", "update"])) }
            return keys
        case "migrate":
            var first = 3, count = 1
            var i = 6
            while i < args.count {
                if argIs(args[i], "keys") {
                    guard args[3].isEmpty else { return [] }
                    first = i + 1
                    count = args.count - first
                    break
                }
                if argIs(args[i], "auth") { i += 1 } else if argIs(args[i], "auth2") { i += 2 }
                i += 1
            }
            return (first..<(first + count)).map { ($0, ["RW", "access", "delete"]) }
        default:
            return nil
        }
    }

    /// The arguments a key specification names in `args` (Redis's getKeysUsingKeySpecs).
    private static func keyRange(_ keySpec: KeySpec, _ args: Arguments) -> (Int, Int)? {
        var first = keySpec.index
        if let keyword = keySpec.keyword {
            // A negative start searches backwards from the end (MIGRATE's KEYS).
            let positions = keySpec.index >= 0 ? Array(keySpec.index..<args.count)
                : Array(stride(from: args.count + keySpec.index, through: 1, by: -1))
            guard let at = positions.first(where: { lowercased(args[$0]) == keyword.lowercased() })
            else { return nil }
            first = at + 1
        }
        if let countAt = keySpec.keyCountAt {
            guard first + countAt < args.count, let n = parseStrictInt(args[first + countAt]), n >= 0,
                  n <= args.count else { return nil }
            let start = first + keySpec.firstKeyAt
            return (start, start + (n - 1) * max(keySpec.keyStep, 1))
        }
        var last = keySpec.lastKey >= 0 ? first + keySpec.lastKey : args.count + keySpec.lastKey
        if keySpec.limit > 1 { last = first + (last - first + 1) / keySpec.limit - 1 }
        return (first, last)
    }
}
