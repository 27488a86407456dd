import CShim
import RESP
import Shards
#if canImport(Glibc)
import Glibc
#endif

/// Server commands (Redis's server.c/config.c/debug.c): INFO, CONFIG, COMMAND, DBSIZE,
/// FLUSHDB/FLUSHALL, TIME, SHUTDOWN, DEBUG, FUNCTION.
enum ServerCommands {
    static let specs: [CommandSpec] = [
        CommandSpec("info", arity: -1, flags: [.loading, .stale], group: "server",
                    summary: "Server state and statistics, by section.", run: .client(info))
            .described(since: "1.0.0", acl: [.slow, .dangerous],
                       tips: ["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
                       arguments: [.string("section").optional.multiple]),
        CommandSpec("dbsize", arity: 1, flags: [.readonly, .fast], group: "server",
                    summary: "Number of keys in the selected database.", run: .client(dbsize))
            .described(since: "1.0.0", acl: [.keyspace, .read, .fast],
                       tips: ["request_policy:all_shards", "response_policy:agg_sum"]),
        CommandSpec(part: .dbsize, arity: -1, group: "server",
                    run: .keyed({ ctx, _, out in out.writeInteger(ctx.shard.keyCount(db: ctx.db)) }, split: nil, crossShard: nil)),
        CommandSpec("flushdb", arity: -1, flags: [.write], group: "server",
                    summary: "Empties the selected database.", run: .client(flushdb))
            .described(since: "1.0.0", acl: [.keyspace, .write, .slow, .dangerous],
                       tips: ["request_policy:all_shards", "response_policy:all_succeeded"],
                       arguments: [.oneOf("async", [.token("ASYNC"), .token("SYNC")]).optional]),
        CommandSpec(part: .flushdb, propagation: .alwaysMarked, arity: -1, group: "server",
                    run: .keyed({ ctx, _, out in ctx.shard.flush(db: ctx.db); out.writeOK() }, split: nil, crossShard: nil)),
        CommandSpec("flushall", arity: -1, flags: [.write], group: "server",
                    summary: "Empties every database.", run: .client(flushall))
            .described(since: "1.0.0", acl: [.keyspace, .write, .slow, .dangerous],
                       tips: ["request_policy:all_shards", "response_policy:all_succeeded"],
                       arguments: [.oneOf("async", [.token("ASYNC"), .token("SYNC")]).optional]),
        CommandSpec(part: .flushall, propagation: .alwaysMarked, arity: -1, group: "server",
                    run: .keyed({ ctx, _, out in ctx.shard.flushAll(); out.writeOK() }, split: nil, crossShard: nil)),
        CommandSpec("time", arity: 1, flags: [.loading, .stale, .fast], group: "server",
                    summary: "The server's clock: seconds and microseconds.", run: .client(time))
            .described(since: "2.6.0", acl: [.fast], tips: ["nondeterministic_output"]),
        CommandSpec("shutdown", arity: -1, flags: [.admin, .noscript, .loading, .stale, .noMulti, .allowBusy], group: "server",
                    summary: "Stops the server, saving first unless told otherwise.", run: .client(shutdown))
            .described(since: "1.0.0", acl: [.admin, .slow, .dangerous],
                       arguments: [
                           .oneOf("nosave_save", [.token("NOSAVE"), .token("SAVE")]).optional,
                           .token("NOW").optional,
                           .token("FORCE").optional,
                           .token("ABORT").optional,
                       ]),
        ConfigCommands.spec,
        CommandSpec("command", arity: -1, flags: [.loading, .stale], group: "server",
                    summary: "Describes every command the server knows.", run: .client(CommandIntrospection.command),
                    subcommands: CommandIntrospection.subcommands)
            .described(since: "2.8.13", acl: [.slow, .connection], tips: ["nondeterministic_output_order"]),
    ]

    /// INFO [section ...]: every worker reports its own part, then the sum is rendered.
    /// With the replication section, once master_repl_offset includes every acknowledged write.
    static func info(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        let sections = ServerInfo.selectSections((1..<args.count).map { lowercased(args[$0]) })
        let caller = c.id
        let resp = c.resp  // as sent: the client's next commands may run before the reply is written
        let gather: Worker.OffsetReply = { w, c, call, out in
            w.askEveryWorker(c, call: call, out: &out, ask: { worker in worker.report(caller: caller) }, finish: { home, _, reports, out in
                let total = WorkerReport.total(reports, databases: home.context.databases, commands: home.table.specs.count)
                let text = ServerInfo.render(home.context, table: home.table, report: total, sections: sections)
                out.writeVerbatim(bytes: text, resp)
            })
        }
        if sections.contains("replication") {
            w.withCurrentReplicationOffset(c, call: call, out: &out, gather)
        } else {
            gather(w, c, call, &out)
        }
    }

    static func dbsize(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        w.fanOut(c, args, part: .dbsize, call: &call, out: &out) { op, out in
            out.writeInteger(op.sumOfIntegers() ?? 0)
            return true
        }
    }

    /// FLUSHDB/FLUSHALL take an optional ASYNC or SYNC.
    private static func flushOptionOK(_ args: Arguments, _ out: inout ByteBuffer) -> Bool {
        if args.count > 2 || (args.count == 2 && !argIs(args[1], "async") && !argIs(args[1], "sync")) {
            out.writeError(Errors.syntax)
            return false
        }
        return true
    }

    static func flushdb(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard flushOptionOK(args, &out) else { return }
        w.fanOut(c, args, part: .flushdb, call: &call, out: &out) { _, out in out.writeOK(); return true }
    }

    static func flushall(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard flushOptionOK(args, &out) else { return }
        w.fanOut(c, args, part: .flushall, call: &call, out: &out) { _, out in out.writeOK(); return true }
    }

    static func time(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        let us = Clock.unixMicroseconds()
        out.writeArrayHeader(2)
        out.writeBulkDecimal(Int(us / 1_000_000))
        out.writeBulkDecimal(Int(us % 1_000_000))
    }

    static func shutdown(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        var save: Bool?
        for i in 1..<args.count {
            if argIs(args[i], "nosave") { save = false }
            if argIs(args[i], "save") { save = true }
            let a = args[i]
            if !(argIs(a, "nosave") || argIs(a, "save") || argIs(a, "now") || argIs(a, "force") || argIs(a, "abort")) {
                out.writeError(Errors.syntax)
                return
            }
            if argIs(a, "abort") {
                out.writeError("ERR No shutdown in progress.")
                return
            }
        }
        if save != false && BusyScripts.shared.anyBusy {
            out.writeError(string: BusyScripts.shared.busyError)  // only NOSAVE ends a busy script
            return
        }
        w.shutdown(client: c, save: save, call: &call, out: &out)
    }
}
