import RESP
import Shards

/// Connection commands: PING, ECHO, QUIT, SELECT, HELLO, RESET, CLIENT.
enum ConnectionCommands {
    static let specs: [CommandSpec] = [
        CommandSpec("ping", arity: -1, flags: [.fast, .stale], group: "connection",
                    summary: "Returns the server's liveliness response.", run: .client(ping)),
        CommandSpec("echo", arity: 2, flags: [.fast], group: "connection",
                    summary: "Returns the given string.", run: .client(echo)),
        CommandSpec("quit", arity: -1, flags: [.noscript, .loading, .stale, .fast, .noAuth, .allowBusy], group: "connection",
                    summary: "Closes the connection.", run: .client(quit)),
        CommandSpec("select", arity: 2, flags: [.loading, .stale, .fast], group: "connection",
                    summary: "Changes the selected database.", run: .client(select)),
        CommandSpec("hello", arity: -1, flags: [.noscript, .loading, .stale, .fast, .noAuth, .allowBusy], group: "connection",
                    summary: "Handshakes with the Redis server.", run: .client(hello)),
        CommandSpec("reset", arity: 1, flags: [.noscript, .loading, .stale, .fast, .noAuth, .allowBusy], group: "connection",
                    summary: "Resets the connection.", run: .client(reset)),
    ]

    static func ping(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        if args.count > 2 {
            out.writeError("ERR wrong number of arguments for 'ping' command")
        } else if args.count == 2 {
            out.writeBulk(args[1])
        } else {
            out.append("+PONG\r\n")
        }
    }

    static func echo(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        out.writeBulk(args[1])
    }

    static func quit(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        out.writeOK()
        c.closeAfterReply = true
    }

    static func select(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let db = args.integer(1), db >= Int(Int32.min), db <= Int(Int32.max) else {
            out.writeError(Errors.notInteger)
            return
        }
        guard db >= 0 && db < w.context.databases else { out.writeError(Errors.dbIndexOutOfRange); return }
        c.db = db
        out.writeOK()
    }

    static func hello(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        var version = c.resp
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
        var newName: String?
        while i < args.count {
            let remaining = args.count - i - 1
            if argIs(args[i], "auth") && remaining >= 2 {
                let user = args.string(i + 1), pass = args.string(i + 2)
                let required = w.context.config.withLock { $0.value("requirepass") }
                if user != "default" || (!required.isEmpty && pass != required) {
                    out.writeError("WRONGPASS invalid username-password pair or user is disabled.")
                    return
                }
                i += 3
            } else if argIs(args[i], "setname") && remaining >= 1 {
                let name = args.string(i + 1)
                guard isValidClientName(args[i + 1]) else {
                    out.writeError("ERR Client names cannot contain spaces, newlines or special characters.")
                    return
                }
                newName = name
                i += 2
            } else {
                out.writeError(string: "ERR Syntax error in HELLO option '\(args.string(i))'")
                return
            }
        }
        if let newName { c.name = newName.isEmpty ? nil : newName }
        c.resp = version
        out.writeMapHeader(7, version)
        out.writeBulk(string: "server"); out.writeBulk(string: "redis")
        out.writeBulk(string: "version"); out.writeBulk(string: ServerInfo.redisVersion)
        out.writeBulk(string: "proto"); out.writeInteger(Int(version.rawValue))
        out.writeBulk(string: "id"); out.writeInteger(Int(c.id))
        out.writeBulk(string: "mode"); out.writeBulk(string: "standalone")
        out.writeBulk(string: "role"); out.writeBulk(string: "master")
        out.writeBulk(string: "modules"); out.writeArrayHeader(0)
    }

    static func reset(_ w: Worker, _ c: Client, _ args: Arguments, _ out: inout ByteBuffer) {
        c.db = 0
        c.resp = .resp2
        out.append("+RESET\r\n")
    }

    /// Redis accepts client names of printable ASCII without spaces (33...126).
    static func isValidClientName(_ name: UnsafeRawBufferPointer) -> Bool {
        name.allSatisfy { $0 >= 33 && $0 <= 126 }
    }
}
