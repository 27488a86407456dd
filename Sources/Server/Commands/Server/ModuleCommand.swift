import RESP

/// MODULE LIST and HELP (moduleCommand of Redis 7.0's module.c). ValKeyper loads no modules,
/// so LIST is always empty: clients call it to detect modules (redis-py's module_list, Redis
/// Stack probes) and read an empty list as "none", where an unknown command is an error.
/// LOAD, LOADEX and UNLOAD are not built.
enum ModuleCommand {
    static let spec = CommandSpec("module", arity: -2, group: "server", summary: "Loaded modules.",
                                  run: .container, subcommands: [
        CommandSpec("module|list", arity: 2, flags: [.admin, .noscript], group: "server",
                    summary: "The loaded modules: none.", run: .client(list))
            .described(since: "4.0.0", acl: [.admin, .slow, .dangerous], tips: ["nondeterministic_output_order"]),
        CommandSpec("module|help", arity: 2, flags: [.loading, .stale], group: "server",
                    summary: "Lists the subcommands and what they do.", run: .client(help))
            .described(since: "5.0.0", acl: [.slow]),
    ])
        .described(since: "4.0.0", acl: [.slow])

    static func list(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        out.writeArrayHeader(0)
    }

    /// Redis 7.0's MODULE HELP, line for line (it names the subcommands ValKeyper lacks too).
    static func help(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        writeHelp("MODULE", [
            "LIST",
            "    Return a list of loaded modules.",
            "LOAD <path> [<arg> ...]",
            "    Load a module library from <path>, passing to it any optional arguments.",
            "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
            "    Load a module library from <path>, while passing it module configurations and optional arguments.",
            "UNLOAD <name>",
            "    Unload a module.",
        ], &out)
    }
}
