import RESP
import Shards

/// FUNCTION and FCALL / FCALL_RO (Redis 7.0's functions.c).
///
/// Libraries live in the shared FunctionRegistry; each worker runs them in its own
/// functions interpreter (ScriptEngine.function(named:)), rebuilt when the registry's
/// generation moves. FCALL routes like EVAL: the whole call runs on its keys' shard owner.
/// FUNCTION LOAD/DELETE/FLUSH/RESTORE change the registry on the client's worker and are
/// recorded for replicas and the AOF as they came, as Redis propagates them.
enum FunctionCommands {
    static let specs: [CommandSpec] = [
        fcallRow("fcall", readOnly: false),
        fcallRow("fcall_ro", readOnly: true),
        CommandSpec("function", arity: -2, group: "scripting", summary: "Manage the server's function libraries.",
                    run: .container, subcommands: [
                        CommandSpec("function|load", arity: -3, flags: [.write, .denyOOM, .noscript], group: "scripting",
                                    summary: "Load a library of functions (its shebang names it).",
                                    run: .client(load))
                            .described(since: "7.0.0", acl: [.write, .slow, .scripting],
                                       tips: ["request_policy:all_shards", "response_policy:all_succeeded"],
                                       arguments: [.token("REPLACE", name: "replace").optional, .string("function-code")]),
                        CommandSpec("function|delete", arity: 3, flags: [.write, .noscript], group: "scripting",
                                    summary: "Remove a library and its functions.", run: .client(delete))
                            .described(since: "7.0.0", acl: [.write, .slow, .scripting],
                                       tips: ["request_policy:all_shards", "response_policy:all_succeeded"],
                                       arguments: [.string("library-name")]),
                        CommandSpec("function|list", arity: -2, flags: [.noscript], group: "scripting",
                                    summary: "Describe the libraries and their functions.", run: .client(list))
                            .described(since: "7.0.0", acl: [.slow, .scripting], tips: ["nondeterministic_output_order"],
                                       arguments: [.string("library-name-pattern", token: "LIBRARYNAME").optional,
                                                   .token("WITHCODE", name: "withcode").optional]),
                        CommandSpec("function|flush", arity: -2, flags: [.write, .noscript], group: "scripting",
                                    summary: "Remove every library.", run: .client(flush))
                            .described(since: "7.0.0", acl: [.write, .slow, .scripting],
                                       tips: ["request_policy:all_shards", "response_policy:all_succeeded"],
                                       arguments: [.oneOf("async", [.token("ASYNC"), .token("SYNC")]).optional]),
                        CommandSpec("function|restore", arity: -3, flags: [.write, .denyOOM, .noscript], group: "scripting",
                                    summary: "Load the libraries of a FUNCTION DUMP payload.", run: .client(restore))
                            .described(since: "7.0.0", acl: [.write, .slow, .scripting],
                                       tips: ["request_policy:all_shards", "response_policy:all_succeeded"],
                                       arguments: [.string("serialized-value"),
                                                   .oneOf("policy", [.token("FLUSH"), .token("APPEND"), .token("REPLACE")]).optional]),
                        CommandSpec("function|dump", arity: 2, flags: [.noscript], group: "scripting",
                                    summary: "Serialize every library as a payload for FUNCTION RESTORE.", run: .client(dump))
                            .described(since: "7.0.0", acl: [.slow, .scripting]),
                        CommandSpec("function|help", arity: 2, flags: [.loading, .stale], group: "scripting",
                                    summary: "List the FUNCTION subcommands.", run: .client(help))
                            .described(since: "7.0.0", acl: [.slow, .scripting]),
                        CommandSpec("function|kill", arity: 2, flags: [.noscript, .allowBusy], group: "scripting",
                                    summary: "Stop the function that is running, if it has not written.", run: .client(kill))
                            .described(since: "7.0.0", acl: [.slow, .scripting],
                                       tips: ["request_policy:all_shards", "response_policy:one_succeeded"]),
                        CommandSpec("function|stats", arity: 2, flags: [.noscript, .allowBusy], group: "scripting",
                                    summary: "The running function, if any, and the libraries per engine.", run: .client(stats))
                            .described(since: "7.0.0", acl: [.slow, .scripting],
                                       tips: ["nondeterministic_output", "request_policy:all_shards", "response_policy:special"]),
                    ])
            .described(since: "7.0.0", acl: [.slow]),
    ]

    private static func fcallRow(_ name: String, readOnly: Bool) -> CommandSpec {
        var flags: CommandFlags = [.noscript, .stale, .skipMonitor, .noMandatoryKeys, .movableKeys]
        if readOnly { flags.insert(.readonly) }
        let notes = readOnly ? "We cannot tell how the keys will be used so we assume the worst, RO and ACCESS"
            : "We cannot tell how the keys will be used so we assume the worst, RW and UPDATE"
        let keyFlags = readOnly ? ["RO", "access"] : ["RW", "access", "update"]
        return CommandSpec(name, arity: -3, flags: flags, group: "scripting",
                           summary: readOnly ? "Call a library function that may only read." : "Call a library function.",
                           run: .client(fcall))
            .described(since: "7.0.0", acl: [.slow, .scripting],
                       keySpecs: [KeySpec(keyFlags, index: 2, keyCountAt: 0, firstKeyAt: 1, notes: notes)],
                       arguments: [.string("function"), .integer("numkeys"), .key("key").optional.multiple,
                                   .string("arg").optional.multiple])
    }

    // MARK: FCALL

    /// fcallCommandGeneric's checks, in its order, then the call on its keys' shard.
    static func fcall(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard let engine = ScriptEngine.of(w) else {
            out.writeError("ERR Lua interpreter unavailable")
            return
        }
        guard let function = engine.catalog.functions[functionKey(args[1])] else {
            out.writeError("ERR Function not found")
            return
        }
        guard let numkeys = ScriptCommands.numkeys(args, notInteger: "ERR Bad number of keys provided", &out) else {
            return
        }
        ScriptCommands.runOnHome(w, c, args, numkeys: numkeys,
                                 reachesOtherShards: function.flags.contains(.allowCrossSlotKeys), &call, &out)
    }

    /// The owner's side (from `__eval`): runs the function in this worker's interpreter.
    static func fcallHere(_ engine: ScriptEngine, _ ctx: ShardContext, _ args: Arguments, numkeys: Int, _ out: inout ByteBuffer) {
        guard let function = engine.function(named: functionKey(args[1])) else {
            out.writeError("ERR Function not found")  // deleted since the client's worker looked
            return
        }
        // Errors name the function as it was registered (vk_lua_call_function uses its name).
        engine.execute(function, sha: "", function: true, readOnlyCommand: args[0].count == 8, ctx: ctx, args: args,
                       numkeys: numkeys, &out)
    }

    // MARK: Changes

    /// A change to the libraries: counted as a write (save rules) and recorded for replicas
    /// and the AOF as the command came.
    private static func changed(_ w: Worker, _ c: Client, _ args: Arguments) {
        if let shard = w.shard { shard.countChanges(1, since: shard.changes) }
        if let log = w.propagation, log.recordsOwnWrites { log.command(db: c.db, args) }
    }

    private static func load(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        var replace = false
        var position = 2
        while position < args.count - 1 {
            guard argIs(args[position], "replace") else {
                out.writeError(quoting: args[position], "ERR Unknown option given: ", "")
                return
            }
            replace = true
            position += 1
        }
        guard position < args.count else {
            out.writeError("ERR Function code is missing")
            return
        }
        // Commands from the master (or the AOF) are obeyed whatever they take.
        let timeout = c.isMaster || c.loadsAOF ? 0 : FunctionRegistry.loadTimeoutMs
        switch FunctionRegistry.shared.load(Array(args[position]), replace: replace, timeoutMs: timeout) {
        case .failure(let error): out.writeError(string: error.text)
        case .success(let name):
            changed(w, c, args)
            out.writeBulk(string: name)
        }
    }

    private static func delete(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard FunctionRegistry.shared.delete(String(decoding: args[2], as: UTF8.self)) else {
            out.writeError("ERR Library not found")
            return
        }
        changed(w, c, args)
        out.writeOK()
    }

    private static func flush(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        if args.count > 3 {
            writeSubcommandSyntaxError(args, &out)
            return
        }
        guard args.count == 2 || argIs(args[2], "sync") || argIs(args[2], "async") else {
            out.writeError("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
            return
        }
        FunctionRegistry.shared.flush()
        changed(w, c, args)
        out.writeOK()
    }

    private static func restore(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        if args.count > 4 {
            writeSubcommandSyntaxError(args, &out)
            return
        }
        var policy = FunctionRegistry.RestorePolicy.append
        if args.count == 4 {
            if argIs(args[3], "append") {
                policy = .append
            } else if argIs(args[3], "replace") {
                policy = .replace
            } else if argIs(args[3], "flush") {
                policy = .flush
            } else {
                out.writeError("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
                return
            }
        }
        guard RDBReader.dumpPayloadIsValid(args[2]) else {
            out.writeError("ERR DUMP payload version or checksum are wrong")
            return
        }
        let codes: [[UInt8]]
        switch RDBReader.functionPayload(args[2]) {
        case .failure(let error):
            out.writeError(string: error.text)
            return
        case .success(let found): codes = found
        }
        let libraries: [FunctionLibrary]
        switch FunctionRegistry.compileAll(codes) {
        case .failure(let error):
            out.writeError(string: error.text)
            return
        case .success(let compiled): libraries = compiled
        }
        if let error = FunctionRegistry.shared.restore(libraries, policy: policy) {
            out.writeError(string: error.text)
            return
        }
        changed(w, c, args)
        out.writeOK()
    }

    // MARK: Reading

    private static func list(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        var withCode = false
        var pattern: [UInt8]?
        var i = 2
        while i < args.count {
            if !withCode && argIs(args[i], "withcode") {
                withCode = true
            } else if pattern == nil && argIs(args[i], "libraryname") {
                guard i < args.count - 1 else {
                    out.writeError("ERR library name argument was not given")
                    return
                }
                i += 1
                pattern = Array(args[i])
            } else {
                out.writeError(quoting: args[i], "ERR Unknown argument ", "")
                return
            }
            i += 1
        }
        let libraries = FunctionRegistry.shared.catalog.ordered.filter { library in
            guard let pattern else { return true }
            return pattern.withUnsafeBytes { p in
                Array(library.name.utf8).withUnsafeBytes { Glob.matches(p, $0, caseInsensitive: true) }
            }
        }
        let resp = c.resp
        out.writeArrayHeader(libraries.count)
        for library in libraries {
            out.writeMapHeader(withCode ? 4 : 3, resp)
            out.writeBulk(string: "library_name")
            out.writeBulk(string: library.name)
            out.writeBulk(string: "engine")
            out.writeBulk(string: "LUA")
            out.writeBulk(string: "functions")
            out.writeArrayHeader(library.functions.count)
            for f in library.functions {
                out.writeMapHeader(3, resp)
                out.writeBulk(string: "name")
                out.writeBulk(string: f.name)
                out.writeBulk(string: "description")
                if let d = f.description { out.writeBulk(d) } else { out.writeNull(resp) }
                out.writeBulk(string: "flags")
                let names = ScriptEngine.Flags.names.filter { f.flags.contains($0.1) }
                out.writeSetHeader(names.count, resp)
                for (name, _) in names { out.writeSimple(string: name) }
            }
            if withCode {
                out.writeBulk(string: "library_code")
                out.writeBulk(library.code)
            }
        }
    }

    /// functionDumpCommand: RDB function2 records, then the RDB version and a CRC-64.
    private static func dump(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        out.writeBulk(RDBWriter.functionsPayload(FunctionRegistry.shared.catalog.ordered.map(\.code)))
    }

    private static func stats(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        let catalog = FunctionRegistry.shared.catalog
        let resp = c.resp
        out.writeMapHeader(2, resp)
        out.writeBulk(string: "running_script")
        out.writeNull(resp)  // scripts cannot run long yet: none is running when this is read
        out.writeBulk(string: "engines")
        out.writeMapHeader(1, resp)
        out.writeBulk(string: "LUA")
        out.writeMapHeader(2, resp)
        out.writeBulk(string: "libraries_count")
        out.writeInteger(catalog.libraries.count)
        out.writeBulk(string: "functions_count")
        out.writeInteger(catalog.functionCount)
    }

    /// Kills a busy function that has not written (BusyScript.swift), as SCRIPT KILL does
    /// for scripts.
    private static func kill(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        if let error = BusyScripts.shared.kill(function: true, from: w.index) {
            out.writeError(string: error)
        } else {
            out.writeOK()
        }
        w.refreshArmedAdmission()  // the killed function has ended: the killer's next command runs
    }

    private static func help(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        writeHelp("FUNCTION", [
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ], &out)
    }
}
