import RESP
import Shards

/// Connection commands (Redis's networking.c/server.c/acl.c): PING, ECHO, QUIT, SELECT,
/// AUTH, HELLO, RESET and the CLIENT container.
enum ConnectionCommands {
    static let specs: [CommandSpec] = [
        CommandSpec("ping", arity: -1, flags: [.fast], group: "connection",
                    summary: "Checks the connection: PONG, or the message given.", run: .client(ping))
            .described(since: "1.0.0", acl: [.fast, .connection],
                       tips: ["request_policy:all_shards", "response_policy:all_succeeded"],
                       arguments: [.string("message").optional]),
        CommandSpec("echo", arity: 2, flags: [.loading, .stale, .fast], group: "connection",
                    summary: "Replies with its argument.", run: .client(echo))
            .described(since: "1.0.0", acl: [.fast, .connection], arguments: [.string("message")]),
        CommandSpec("quit", arity: -1, flags: [.noscript, .loading, .stale, .fast, .noAuth, .allowBusy], inMulti: .runsAtOnce, group: "connection",
                    summary: "Says OK and closes this connection.", run: .client(quit))
            .described(since: "1.0.0", acl: [.fast, .connection]),
        CommandSpec("select", arity: 2, flags: [.loading, .stale, .fast], group: "connection",
                    summary: "Switches this connection to another database.", run: .client(select))
            .described(since: "1.0.0", acl: [.fast, .connection], arguments: [.integer("index")]),
        CommandSpec("auth", arity: -2, flags: [.noscript, .loading, .stale, .fast, .noAuth, .allowBusy], group: "connection",
                    summary: "Logs this connection in with a password.", run: .client(auth))
            .described(since: "1.0.0", acl: [.fast, .connection],
                       arguments: [.string("username").optional, .string("password")]),
        CommandSpec("hello", arity: -1, flags: [.noscript, .loading, .stale, .fast, .noAuth, .allowBusy], group: "connection",
                    summary: "Chooses the protocol version, optionally authenticating and naming the connection.", run: .client(hello))
            .described(since: "6.0.0", acl: [.fast, .connection],
                       arguments: [
                           .block("arguments", [
                               .integer("protover"),
                               .block("username_password", token: "AUTH", [
                                   .string("username"),
                                   .string("password"),
                               ]).optional,
                               .string("clientname", token: "SETNAME").optional,
                           ]).optional,
                       ]),
        CommandSpec("reset", arity: 1, flags: [.noscript, .loading, .stale, .fast, .noAuth, .allowBusy], inMulti: .runsAtOnce, group: "connection",
                    summary: "Returns this connection to its initial state.", run: .client(reset))
            .described(since: "6.2.0", acl: [.fast, .connection]),
        CommandSpec("client", arity: -2, group: "connection",
                    summary: "Inspects and manages connections.", run: .container, subcommands: ClientCommands.specs)
            .described(since: "2.4.0", acl: [.slow]),
    ]

    static func ping(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        if args.count > 2 {
            out.writeError("ERR wrong number of arguments for 'ping' command")
        } else if c.inPubSubMode && c.resp == .resp2 {
            // Subscribed RESP2 clients get PING's answer as a message-shaped array.
            out.writeArrayHeader(2)
            out.writeBulk(string: "pong")
            if args.count == 2 { out.writeBulk(args[1]) } else { out.writeBulk(string: "") }
        } else if args.count == 2 {
            out.writeBulk(args[1])
        } else {
            out.append("+PONG\r\n")
        }
    }

    static func echo(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        out.writeBulk(args[1])
    }

    static func quit(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        out.writeOK()
        c.closeAfterReply = true
    }

    /// SELECT: getIntFromObjectOrReply's two errors, then the range check.
    static func select(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard let db = args.integer(1) else { out.writeError(Errors.notInteger); return }
        guard db >= Int(Int32.min) && db <= Int(Int32.max) else {
            out.writeError("ERR value is out of range, value must between -2147483648 and 2147483647")
            return
        }
        guard db >= 0 && db < w.context.databases else { out.writeError(Errors.dbIndexOutOfRange); return }
        c.db = db
        out.writeOK()
    }

    /// The only user is "default"; its password is requirepass (none: any password works).
    static func passwordMatches(_ w: Worker, user: String, password: String) -> Bool {
        guard user == "default" else { return false }
        let required = w.context.config.withLock { $0.value("requirepass") }
        return required.isEmpty || password == required
    }

    static func auth(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        guard args.count <= 3 else { out.writeError(Errors.syntax); return }
        if args.count == 2 && !LiveConfig.passwordRequired.load(ordering: .relaxed) {
            out.writeError("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
            return
        }
        let user = args.count == 2 ? "default" : args.string(1)
        guard passwordMatches(w, user: user, password: args.string(args.count - 1)) else {
            out.writeError("WRONGPASS invalid username-password pair or user is disabled.")
            return
        }
        c.authenticated = true
        out.writeOK()
    }

    static func hello(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        var version: RESPVersion?
        var i = 1
        if args.count >= 2 {
            guard let v = args.integer(1) else {
                out.writeError("ERR Protocol version is not an integer or out of range")
                return
            }
            guard v == 2 || v == 3 else { out.writeError("NOPROTO unsupported protocol version"); return }
            version = v == 3 ? .resp3 : .resp2
            i = 2
        }
        while i < args.count {
            let remaining = args.count - i - 1
            if argIs(args[i], "auth") && remaining >= 2 {
                guard passwordMatches(w, user: args.string(i + 1), password: args.string(i + 2)) else {
                    out.writeError("WRONGPASS invalid username-password pair or user is disabled.")
                    return
                }
                c.authenticated = true
                i += 3
            } else if argIs(args[i], "setname") && remaining >= 1 {
                guard ClientCommands.setName(c, args[i + 1], &out) else { return }
                i += 2
            } else {
                out.writeError(quoting: args[i], "ERR Syntax error in HELLO option '", "'")
                return
            }
        }
        if !c.authenticated && LiveConfig.passwordRequired.load(ordering: .relaxed) {
            out.writeError("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
            return
        }
        if let version { c.resp = version }
        out.writeMapHeader(7, c.resp)
        out.writeBulk(string: "server"); out.writeBulk(string: "redis")
        out.writeBulk(string: "version"); out.writeBulk(string: ServerInfo.redisVersion)
        out.writeBulk(string: "proto"); out.writeInteger(Int(c.resp.rawValue))
        out.writeBulk(string: "id"); out.writeInteger(Int(c.id))
        out.writeBulk(string: "mode"); out.writeBulk(string: "standalone")
        out.writeBulk(string: "role"); out.writeBulk(string: w.context.replication.isReplica.load(ordering: .relaxed) ? "replica" : "master")
        out.writeBulk(string: "modules"); out.writeArrayHeader(0)
    }

    /// RESET: back to a fresh connection's state (Redis's clearClientConnectionState).
    static func reset(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        c.transaction = nil
        w.unwatchAll(c)
        w.unsubscribeAll(c)
        c.db = 0
        c.resp = .resp2
        c.name = nil
        c.noEvict = false
        c.repliesOff = false
        c.skipNextReply = false
        c.muted = false
        c.authenticated = !LiveConfig.passwordRequired.load(ordering: .relaxed)
        out.append("+RESET\r\n")
    }
}
