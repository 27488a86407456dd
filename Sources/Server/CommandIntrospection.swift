import RESP
import Shards

/// COMMAND and its subcommands (Redis 7.0's commandCommand family in server.c): the
/// command table described as Redis describes its own.
enum CommandIntrospection {
    static func command(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        let table = w.table
        guard args.count >= 2 else {
            writeInfos(table.publicCommands, table, c.resp, &out)
            return
        }
        switch lowercased(args[1]) {
        case "count":
            guard args.count == 2 else { return arityError("count", &out) }
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
            guard args.count >= 4 else { return arityError(lowercased(args[1]), &out) }
            getKeys(table, args.dropFirst(2), withFlags: argIs(args[1], "getkeysandflags"), c.resp, &out)
        case "help":
            guard args.count == 2 else { return arityError("help", &out) }
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

    private static func arityError(_ sub: String, _ out: inout ByteBuffer) {
        out.writeError(string: "ERR wrong number of arguments for 'command|\(sub)' command")
    }

    /// A command by its full name ("get", "config|get"), any case.
    static func lookup(fullName: String, _ table: CommandTable) -> CommandSpec? {
        let parts = fullName.lowercased().split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count <= 2, let top = table.index(of: String(parts[0])),
              !table.specs[Int(top)].flags.contains(.internal) else { return nil }
        if parts.count == 1 { return table.specs[Int(top)] }
        return table.subcommand(of: top, named: String(parts[1])).map { table.specs[Int($0)] }
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
        out.writeSetHeader(0, resp)  // tips
        writeKeySpecs(spec, resp, &out)
        out.writeSetHeader(spec.subcommands.count, resp)
        for sub in spec.subcommands { writeInfo(sub, resp, &out) }
    }

    /// The key specification implied by the legacy (first, last, step) range.
    private static func writeKeySpecs(_ spec: CommandSpec, _ resp: RESPVersion, _ out: inout ByteBuffer) {
        guard spec.firstKey > 0 else { out.writeSetHeader(0, resp); return }
        out.writeSetHeader(1, resp)
        out.writeMapHeader(3, resp)
        out.writeBulk(string: "flags")
        let flags = keyFlags(spec)
        out.writeSetHeader(flags.count, resp)
        for f in flags { out.writeSimple(string: f) }
        out.writeBulk(string: "begin_search")
        out.writeMapHeader(2, resp)
        out.writeBulk(string: "type"); out.writeBulk(string: "index")
        out.writeBulk(string: "spec")
        out.writeMapHeader(1, resp)
        out.writeBulk(string: "index"); out.writeInteger(spec.firstKey)
        out.writeBulk(string: "find_keys")
        out.writeMapHeader(2, resp)
        out.writeBulk(string: "type"); out.writeBulk(string: "range")
        out.writeBulk(string: "spec")
        out.writeMapHeader(3, resp)
        out.writeBulk(string: "lastkey"); out.writeInteger(spec.lastKey >= 0 ? spec.lastKey - spec.firstKey : spec.lastKey)
        out.writeBulk(string: "keystep"); out.writeInteger(spec.step)
        out.writeBulk(string: "limit"); out.writeInteger(0)
    }

    /// Key access flags as Redis's key specs word them, from the command's flags.
    static func keyFlags(_ spec: CommandSpec) -> [String] {
        if spec.flags.contains(.readonly) { return ["RO", "access"] }
        if spec.flags.contains(.write) { return ["RW", "update"] }
        return ["RW", "access", "update"]
    }

    /// ACL categories in Redis's table order, derived from the flags and the group.
    static func aclCategories(_ spec: CommandSpec) -> [String] {
        var cats: Set<String> = []
        if spec.group == "generic" { cats.insert("keyspace") }
        if spec.flags.contains(.readonly) { cats.insert("read") }
        if spec.flags.contains(.write) { cats.insert("write") }
        let byGroup = ["string": "string", "list": "list", "hash": "hash", "set": "set", "sorted-set": "sortedset",
                       "sorted_set": "sortedset", "bitmap": "bitmap", "hyperloglog": "hyperloglog", "geo": "geo",
                       "stream": "stream", "pubsub": "pubsub", "connection": "connection", "transactions": "transaction",
                       "scripting": "scripting"]
        if let cat = byGroup[spec.group] { cats.insert(cat) }
        if spec.flags.contains(.admin) { cats.formUnion(["admin", "dangerous"]) }
        cats.insert(spec.flags.contains(.fast) ? "fast" : "slow")
        if spec.flags.contains(.blocking) { cats.insert("blocking") }
        let order = ["keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap", "hyperloglog",
                     "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection",
                     "transaction", "scripting"]
        return order.filter(cats.contains).map { "@" + $0 }
    }

    // MARK: DOCS

    /// summary, group, arguments (for redis-cli's hints) and subcommands.
    static func writeDocs(_ spec: CommandSpec, _ resp: RESPVersion, _ out: inout ByteBuffer) {
        let hasSummary = !spec.summary.isEmpty
        let arguments = CommandSyntax.arguments(of: spec.name) ?? []
        out.writeMapHeader(1 + (hasSummary ? 1 : 0) + (arguments.isEmpty ? 0 : 1) + (spec.subcommands.isEmpty ? 0 : 1), resp)
        if hasSummary {
            out.writeBulk(string: "summary"); out.writeBulk(string: spec.summary)
        }
        out.writeBulk(string: "group"); out.writeBulk(string: spec.group)
        if !arguments.isEmpty {
            out.writeBulk(string: "arguments")
            CommandSyntax.write(arguments, resp, &out)
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

    private static func getKeys(_ table: CommandTable, _ inner: Arguments, withFlags: Bool, _ resp: RESPVersion,
                                _ out: inout ByteBuffer) {
        guard var index = table.lookup(inner[0]) else { out.writeError("ERR Invalid command specified"); return }
        if case .container = table.specs[Int(index)].run {
            guard inner.count >= 2, let sub = table.subcommand(of: index, named: lowercased(inner[1])) else {
                out.writeError("ERR Invalid command specified")
                return
            }
            index = sub
        }
        let spec = table.specs[Int(index)]
        guard spec.firstKey > 0 else { out.writeError("ERR The command has no key arguments"); return }
        guard spec.arityOK(inner.count) else { out.writeError("ERR Invalid number of arguments specified for command"); return }
        let last = spec.lastKeyIndex(argumentCount: inner.count)
        guard last >= spec.firstKey, last < inner.count else {
            out.writeError("ERR Invalid arguments specified for command")
            return
        }
        let positions = Array(stride(from: spec.firstKey, through: last, by: max(spec.step, 1)))
        out.writeArrayHeader(positions.count)
        for k in positions {
            if withFlags {
                out.writeArrayHeader(2)
                out.writeBulk(inner[k])
                let flags = keyFlags(spec)
                out.writeSetHeader(flags.count, resp)
                for f in flags { out.writeSimple(string: f) }
            } else {
                out.writeBulk(inner[k])
            }
        }
    }
}
