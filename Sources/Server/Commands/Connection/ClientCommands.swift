import RESP
import Shards

/// CLIENT subcommands (Redis 7.0's clientCommand in networking.c, plus 7.2's SETINFO, which
/// redis-py sends on connect; not 7.2's NO-TOUCH, unknown to 7.0). Connections live on
/// several workers: LIST and KILL ask every worker about its own connections
/// (`Worker.askEveryWorker`) and reply when all have answered.
enum ClientCommands {
    static let specs: [CommandSpec] = [
        sub("id", 2, [.noscript, .loading, .stale], "This connection's ID.", id)
            .described(since: "5.0.0", acl: [.slow, .connection]),
        sub("info", 2, [.noscript, .loading, .stale], "One CLIENT LIST line about this connection.", info)
            .described(since: "6.2.0", acl: [.slow, .connection], tips: ["nondeterministic_output"]),
        sub("list", -2, [.admin, .noscript, .loading, .stale], "One line per open connection, optionally filtered by type or ID.", list)
            .described(since: "2.4.0", acl: [.admin, .slow, .dangerous, .connection],
                       tips: ["nondeterministic_output"],
                       arguments: [
                           .oneOf("normal_master_replica_pubsub", token: "TYPE", [
                               .token("NORMAL"),
                               .token("MASTER"),
                               .token("REPLICA"),
                               .token("PUBSUB"),
                           ]).optional,
                           .block("id", token: "ID", [.integer("client-id").multiple]).optional,
                       ]),
        sub("kill", -3, [.admin, .noscript, .loading, .stale], "Closes the connections matching the filters.", kill)
            .described(since: "2.4.0", acl: [.admin, .slow, .dangerous, .connection],
                       arguments: [
                           .oneOf("filter", [
                               .string("ip:port"),
                               .oneOf("new-format", [
                                   .integer("client-id", token: "ID").optional,
                                   .oneOf("normal_master_slave_pubsub", token: "TYPE", [
                                       .token("NORMAL"),
                                       .token("MASTER"),
                                       .token("SLAVE"),
                                       .token("REPLICA"),
                                       .token("PUBSUB"),
                                   ]).optional,
                                   .string("username", token: "USER").optional,
                                   .string("ip:port", token: "ADDR").optional,
                                   .string("ip:port", token: "LADDR").optional,
                                   .string("yes/no", token: "SKIPME").optional,
                               ]).multiple,
                           ]),
                       ]),
        sub("setname", 3, [.noscript, .loading, .stale], "Names this connection.", setname)
            .described(since: "2.6.9", acl: [.slow, .connection], arguments: [.string("connection-name")]),
        sub("getname", 2, [.noscript, .loading, .stale], "This connection's name.", getname)
            .described(since: "2.6.9", acl: [.slow, .connection]),
        sub("setinfo", 4, [.noscript, .loading, .stale], "Records the client library's name or version for CLIENT LIST.", setinfo)
            .described(since: "7.2.0", acl: [.slow, .connection],
                       arguments: [.oneOf("attr", [.string("libname", token: "LIB-NAME"), .string("libver", token: "LIB-VER")])]),
        sub("no-evict", 3, [.admin, .noscript, .loading, .stale], "Exempts this connection from client eviction, or not.", noEvict)
            .described(since: "7.0.0", acl: [.admin, .slow, .dangerous, .connection],
                       arguments: [.oneOf("enabled", [.token("ON"), .token("OFF")])]),
        sub("reply", 3, [.noscript, .loading, .stale], "Turns replies to this connection's commands on or off, or skips the next one.", reply)
            .described(since: "3.2.0", acl: [.slow, .connection],
                       arguments: [.oneOf("on_off_skip", [.token("ON"), .token("OFF"), .token("SKIP")])]),
        sub("getredir", 2, [.noscript, .loading, .stale], "Where this connection's tracking notifications go.", getredir)
            .described(since: "6.0.0", acl: [.slow, .connection]),
        sub("trackinginfo", 2, [.noscript, .loading, .stale], "Client-side caching state of this connection.", trackinginfo)
            .described(since: "6.2.0", acl: [.slow, .connection]),
        sub("caching", 3, [.noscript, .loading, .stale], "Whether the keys of the next command are tracked.", caching)
            .described(since: "6.0.0", acl: [.slow, .connection],
                       arguments: [.oneOf("mode", [.token("YES"), .token("NO")])]),
        sub("unblock", -3, [.admin, .noscript, .loading, .stale], "Wakes another connection waiting in a blocking command.", unblock)
            .described(since: "5.0.0", acl: [.admin, .slow, .dangerous, .connection],
                       arguments: [
                           .integer("client-id"),
                           .oneOf("timeout_error", [.token("TIMEOUT"), .token("ERROR")]).optional,
                       ]),
        sub("unpause", 2, [.admin, .noscript, .loading, .stale], "Lets paused connections run commands again.", { _, _, _, _, out in out.writeOK() })
            .described(since: "6.2.0", acl: [.admin, .slow, .dangerous, .connection]),
        sub("help", 2, [.loading, .stale], "Lists the subcommands and what they do.", help)
            .described(since: "5.0.0", acl: [.slow, .connection]),
    ]

    private static func sub(_ name: String, _ arity: Int, _ flags: CommandFlags, _ summary: String,
                            _ handler: @escaping ClientHandler) -> CommandSpec {
        CommandSpec("client|" + name, arity: arity, flags: flags, group: "connection", summary: summary, run: .client(handler))
    }

    static func id(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        out.writeInteger(Int(c.id))
    }

    static func info(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        let line = infoLine(c, now: w.nowMs, argvMemory: argumentBytes(args), output: OutputState(out))
        out.writeVerbatim(line + "\n", c.resp)
    }

    /// A connection's reply buffer as CLIENT LIST shows it. The running command's own
    /// connection is described from the buffer its reply is being written to (`out`):
    /// its `output` is being written and must not be read meanwhile.
    struct OutputState: Sendable {
        var capacity: Int
        var pending: Int

        init(capacity: Int, pending: Int) {
            self.capacity = capacity
            self.pending = pending
        }

        init(_ buffer: borrowing ByteBuffer) {
            capacity = buffer.capacity
            pending = 0
        }
    }

    // MARK: CLIENT LIST

    /// One connection's line in CLIENT LIST / CLIENT INFO, in Redis 7.0's format.
    /// `blocked`: the connection waits in a blocking command or WAIT (flag 'b'), which only
    /// its worker knows (`Worker.isBlocked`).
    static func infoLine(_ c: Client, now: Int64, argvMemory: Int, output: OutputState? = nil,
                         blocked: Bool = false) -> String {
        var flags = ""
        if c.isMaster { flags += "M" }
        if c.inPubSubMode { flags += "P" }
        if c.transaction != nil { flags += "x" }
        if blocked { flags += "b" }
        if c.closeAfterReply { flags += "c" }
        if c.closeASAP { flags += "A" }
        if c.noEvict { flags += "e" }
        if flags.isEmpty { flags = "N" }
        let queryBuffer = c.input.count, queryFree = c.input.capacity - c.input.count
        let reply = output ?? OutputState(capacity: c.output.capacity, pending: c.pendingOutputBytes)
        let memory = ReplyMemory(pending: reply.pending)
        let totalMemory = c.input.capacity + reply.capacity + argvMemory + clientOverheadBytes
        return "id=\(c.id) addr=\(c.peer) laddr=\(c.local) fd=\(c.fd) name=\(c.name ?? "")"
            + " age=\(now / 1000 - c.createdAt / 1000) idle=\(now / 1000 - c.lastInteraction / 1000)"
            + " flags=\(flags) db=\(c.db) sub=\(c.subscriptions?[.channel].count ?? 0) psub=\(c.subscriptions?[.pattern].count ?? 0) ssub=\(c.subscriptions?[.shardChannel].count ?? 0) multi=\(c.transaction.map { $0.commands.count } ?? -1) qbuf=\(queryBuffer) qbuf-free=\(queryFree)"
            + " argv-mem=\(argvMemory) multi-mem=0 rbs=\(reply.capacity) rbp=\(reply.capacity) obl=\(memory.bufferedBytes)"
            + " oll=\(memory.blocks) omem=\(memory.listBytes) tot-mem=\(totalMemory) events=\(c.wantsWrite ? "rw" : "r") cmd=\(c.lastCommand)"
            + " user=default redir=-1 resp=\(c.resp.rawValue)"
    }

    /// The Client object, parser and reply slots, roughly (tot-mem's fixed part).
    static let clientOverheadBytes = 1024

    static func argumentBytes(_ args: Arguments) -> Int {
        var n = 0
        for i in 0..<args.count { n += args[i].count }
        return n
    }

    /// Redis's client types (getClientType): the master link, a subscribed client, or normal.
    enum ClientType: Sendable {
        case normal, master, replica, pubsub

        init?(_ name: String) {
            switch name.lowercased() {
            case "normal": self = .normal
            case "slave", "replica": self = .replica
            case "pubsub": self = .pubsub
            case "master": self = .master
            default: return nil
            }
        }
    }

    static func type(of c: Client) -> ClientType { c.isMaster ? .master : c.inPubSubMode ? .pubsub : .normal }

    struct Line: Sendable {
        var id: UInt64
        var text: String
    }

    /// This worker's connections' lines (the caller's with its own argument memory).
    static func lines(on w: Worker, type: ClientType?, ids: Set<UInt64>?, caller: UInt64, callerArgv: Int,
                      callerOutput: OutputState) -> [Line] {
        var lines: [Line] = []
        for c in w.clients.open where !c.isClosed {
            if let type, ClientCommands.type(of: c) != type { continue }
            if let ids, !ids.contains(c.id) { continue }
            let isCaller = c.id == caller
            lines.append(Line(id: c.id, text: infoLine(c, now: w.nowMs, argvMemory: isCaller ? callerArgv : 0,
                                                       output: isCaller ? callerOutput : nil,
                                                       blocked: w.isBlocked(c))))
        }
        return lines
    }

    static func list(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        var type: ClientType?
        var ids: [UInt64]?
        if args.count == 4 && argIs(args[2], "type") {
            guard let t = ClientType(args.string(3)) else {
                out.writeError(quoting: args[3], "ERR Unknown client type '", "'")
                return
            }
            type = t
        } else if args.count > 3 && argIs(args[2], "id") {
            var wanted: [UInt64] = []
            for i in 3..<args.count {
                guard let v = args.integer(i) else { out.writeError("ERR Invalid client ID"); return }
                wanted.append(UInt64(bitPattern: Int64(v)))
            }
            ids = wanted
        } else if args.count != 2 {
            out.writeError(Errors.syntax)
            return
        }
        let idSet = ids.map(Set.init), wantedType = type
        let caller = c.id, callerArgv = argumentBytes(args), callerOutput = OutputState(out)
        // The reply is written later, after the client's next (pipelined) commands may have
        // run: it takes the protocol of when the command was sent (a HELLO may follow).
        let resp = c.resp
        w.askEveryWorker(c, call: call, out: &out, ask: { worker in
            lines(on: worker, type: wantedType, ids: idSet, caller: caller, callerArgv: callerArgv, callerOutput: callerOutput)
        }, finish: { _, _, answers, out in
            let all = answers.flatMap { $0 }
            var text = ""
            if let ids {
                // Redis lists the requested ids in the order given.
                let byID = Dictionary(all.map { ($0.id, $0.text) }, uniquingKeysWith: { a, _ in a })
                for id in ids { if let line = byID[id] { text += line + "\n" } }
            } else {
                for line in all.sorted(by: { $0.id < $1.id }) { text += line.text + "\n" }
            }
            out.writeVerbatim(text, resp)
        })
    }

    // MARK: CLIENT KILL

    struct KillFilter: Sendable {
        var address: String?
        var localAddress: String?
        var id: UInt64?
        var type: ClientType?
        var skipCaller = true
        var caller: UInt64 = 0

        func matches(_ c: Client) -> Bool {
            if let address, c.peer != address { return false }
            if let localAddress, c.local != localAddress { return false }
            if let id, c.id != id { return false }
            if let type, ClientCommands.type(of: c) != type { return false }
            return true
        }
    }

    struct Killed: Sendable {
        var count = 0
        var includesCaller = false
    }

    /// Closes this worker's matching connections; the caller is only reported, so that
    /// it can be closed after its reply.
    static func killMatching(on w: Worker, _ filter: KillFilter) -> Killed {
        var result = Killed()
        var victims: [Client] = []
        for c in w.clients.open where !c.isClosed && filter.matches(c) {
            if c.id == filter.caller {
                if filter.skipCaller { continue }
                result.includesCaller = true
            } else {
                victims.append(c)
            }
            result.count += 1
        }
        for c in victims { w.closeClient(c) }
        return result
    }

    static func kill(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        var filter = KillFilter(caller: c.id)
        let oldForm = args.count == 3
        if oldForm {
            filter.address = args.string(2)
            filter.skipCaller = false   // with the old form a client may kill itself
        } else {
            var i = 2
            while i < args.count {
                guard i + 1 < args.count else { out.writeError(Errors.syntax); return }
                let option = args[i], value = args.string(i + 1)
                if argIs(option, "id") {
                    guard let v = args.integer(i + 1), v >= 1 else {
                        out.writeError("ERR client-id should be greater than 0")
                        return
                    }
                    filter.id = UInt64(v)
                } else if argIs(option, "type") {
                    guard let t = ClientType(value) else {
                        out.writeError(quoting: args[i + 1], "ERR Unknown client type '", "'")
                        return
                    }
                    filter.type = t
                } else if argIs(option, "addr") {
                    filter.address = value
                } else if argIs(option, "laddr") {
                    filter.localAddress = value
                } else if argIs(option, "user") {
                    guard value == "default" else { out.writeError(quoting: args[i + 1], "ERR No such user '", "'"); return }
                } else if argIs(option, "skipme") {
                    if argIs(args[i + 1], "yes") {
                        filter.skipCaller = true
                    } else if argIs(args[i + 1], "no") {
                        filter.skipCaller = false
                    } else {
                        out.writeError(Errors.syntax)
                        return
                    }
                } else {
                    out.writeError(Errors.syntax)
                    return
                }
                i += 2
            }
        }
        if filter.type == .replica {
            // Replica connections belong to the sequencer thread (ReplicationMaster).
            let n = w.context.replication.status.withLock { $0.replicas.count }
            if n > 0 { w.context.postToSequencer(.killReplicas) }
            out.writeInteger(n)
            return
        }
        let chosen = filter
        w.askEveryWorker(c, call: call, out: &out, ask: { worker in killMatching(on: worker, chosen) }, finish: { _, client, answers, out in
            let killed = answers.reduce(0) { $0 + $1.count }
            if oldForm {
                if killed == 0 { out.writeError("ERR No such client") } else { out.writeOK() }
            } else {
                out.writeInteger(killed)
            }
            // Closed only after this reply is out (Redis's CLIENT_CLOSE_AFTER_REPLY).
            if answers.contains(where: { $0.includesCaller }) { client.closeAfterReply = true }
        })
    }

    // MARK: Names and modes

    /// Sets (or, with an empty name, clears) the connection name; false after an error reply.
    static func setName(_ c: Client, _ name: UnsafeRawBufferPointer, _ out: inout ByteBuffer) -> Bool {
        guard isValidAttribute(name) else {
            out.writeError("ERR Client names cannot contain spaces, newlines or special characters.")
            return false
        }
        c.name = name.isEmpty ? nil : String(decoding: name, as: UTF8.self)
        return true
    }

    /// Redis accepts names of printable ASCII without spaces ('!'...'~').
    static func isValidAttribute(_ value: UnsafeRawBufferPointer) -> Bool {
        value.allSatisfy { $0 >= 33 && $0 <= 126 }
    }

    static func setname(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        if setName(c, args[2], &out) { out.writeOK() }
    }

    static func getname(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        if let name = c.name { out.writeBulk(string: name) } else { out.writeNull(c.resp) }
    }

    static func setinfo(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        let attribute = args.string(2)
        let isName = argIs(args[2], "lib-name")
        guard isName || argIs(args[2], "lib-ver") else {
            out.writeError(quoting: args[2], "ERR Unrecognized option '", "'")
            return
        }
        guard isValidAttribute(args[3]) else {
            out.writeError(string: "ERR \(attribute) cannot contain spaces, newlines or special characters.")
            return
        }
        let value = args[3].isEmpty ? nil : args.string(3)
        if isName { c.libraryName = value } else { c.libraryVersion = value }
        out.writeOK()
    }

    /// ON/OFF switches (NO-EVICT); nil after a syntax error reply.
    private static func onOff(_ arg: UnsafeRawBufferPointer, _ out: inout ByteBuffer) -> Bool? {
        if argIs(arg, "on") { return true }
        if argIs(arg, "off") { return false }
        out.writeError(Errors.syntax)
        return nil
    }

    static func noEvict(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard let on = onOff(args[2], &out) else { return }
        c.noEvict = on
        out.writeOK()
    }

    /// REPLY ON answers +OK; OFF and SKIP answer nothing (their own reply is dropped).
    static func reply(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        if argIs(args[2], "on") {
            c.repliesOff = false
            c.skipNextReply = false
            c.muted = false
            out.writeOK()
        } else if argIs(args[2], "off") {
            c.repliesOff = true
            c.muted = true
        } else if argIs(args[2], "skip") {
            if !c.repliesOff { c.skipNextReply = true }
            c.muted = true
        } else {
            out.writeError(Errors.syntax)
        }
    }

    // MARK: Tracking and blocking (no client-side caching, no blocking commands yet)

    static func getredir(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        out.writeInteger(-1)
    }

    static func trackinginfo(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        out.writeMapHeader(3, c.resp)
        out.writeBulk(string: "flags")
        out.writeSetHeader(1, c.resp)
        out.writeBulk(string: "off")
        out.writeBulk(string: "redirect")
        out.writeInteger(-1)
        out.writeBulk(string: "prefixes")
        out.writeArrayHeader(0)
    }

    static func caching(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        out.writeError("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled")
    }

    static func unblock(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard args.count <= 4 else {
            writeSubcommandSyntaxError(args, &out)
            return
        }
        if args.count == 4 && !argIs(args[3], "timeout") && !argIs(args[3], "error") {
            out.writeError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
            return
        }
        guard let id = args.integer(2) else { out.writeError(Errors.notInteger); return }
        let error = args.count == 4 && argIs(args[3], "error")
        let target = UInt64(bitPattern: Int64(id))
        w.askEveryWorker(c, call: call, out: &out, ask: { worker in worker.unblockClient(target, error: error) },
                         finish: { _, _, unblocked, out in out.writeInteger(unblocked.contains(true) ? 1 : 0) })
    }

    static func help(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        writeHelp("CLIENT", [
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
        ], &out)
    }
}

/// Redis's addReplyHelp: a header naming the command, the lines, and the HELP footer.
func writeHelp(_ command: String, _ lines: [String], _ out: inout ByteBuffer) {
    out.writeArrayHeader(lines.count + 3)
    out.writeSimple(string: "\(command) <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
    for line in lines { out.writeSimple(string: line) }
    out.writeSimple("HELP")
    out.writeSimple("    Prints this help.")
}

extension Worker {
    /// Closes connections idle for longer than `timeout` seconds (Redis's
    /// clientsCronHandleTimeout); checked on the worker's timer tick.
    func closeIdleClients() {
        let timeout = LiveConfig.idleTimeoutSeconds.load(ordering: .relaxed)
        guard timeout > 0 else { return }
        let now = nowMs / 1000
        var idle: [Client] = []
        for c in clients.open where !c.isClosed && !c.isMaster && !c.hasOutstandingReplies && now - c.lastInteraction / 1000 > timeout {
            idle.append(c)
        }
        for c in idle {
            Log.verbose("Closing idle client")
            closeClient(c)
        }
    }
}
