import RESP
import Testing
@testable import Server

/// Every command and subcommand of the table is checked (existence, subcommand, arity)
/// before it runs or is queued, as Redis's processCommand checks it.
@Suite struct CommandResolutionTests {
    let table = CommandTable.shared

    /// A request as dispatch sees it.
    func withArguments<R>(_ words: [String], _ body: (Arguments) -> R) -> R {
        var bytes: [UInt8] = []
        var spans: [ArgSpan] = []
        for w in words {
            spans.append(ArgSpan(offset: bytes.count, count: w.utf8.count))
            bytes += Array(w.utf8)
        }
        return bytes.withUnsafeBytes { b in
            spans.withUnsafeBufferPointer { s in
                body(Arguments(base: b.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, spans: s.baseAddress!,
                               count: words.count))
            }
        }
    }

    /// Every name a client can send: top-level commands, and each subcommand under its parent.
    struct Case {
        let index: UInt16
        let prefix: [String]  // the command (and subcommand) words
        let arity: Int
        var name: String
    }

    var cases: [Case] {
        var all: [Case] = []
        for spec in table.publicCommands {
            let top = table.index(of: spec.name)!
            all.append(Case(index: top, prefix: [spec.name.uppercased()], arity: spec.arity, name: spec.name))
            for sub in spec.subcommands {
                let word = String(sub.name.split(separator: "|").last!)
                // Mixed case: names are case-insensitive.
                let typed = word.enumerated().map { $0.offset % 2 == 0 ? $0.element.uppercased() : String($0.element) }.joined()
                all.append(Case(index: table.index(of: sub.name)!, prefix: [spec.name, typed], arity: sub.arity,
                                name: sub.name))
            }
        }
        return all
    }

    /// Argument counts (name included) the arity accepts and refuses, as far as `prefix` allows.
    func counts(_ c: Case) -> (good: [Int], bad: [Int]) {
        let minimum = c.prefix.count
        // A command with subcommands runs as itself only alone (COMMAND); more words name a subcommand.
        if table.routes[Int(c.index)].hasSubcommands { return (table.routes[Int(c.index)].arityOK(1) ? [1] : [], []) }
        if c.arity >= 0 {
            return ([c.arity].filter { $0 >= minimum }, [c.arity - 1, c.arity + 1].filter { $0 >= minimum })
        }
        return ([-c.arity, -c.arity + 2].filter { $0 >= minimum }, [-c.arity - 1].filter { $0 >= minimum })
    }

    func words(_ c: Case, count: Int) -> [String] {
        c.prefix + (0..<max(0, count - c.prefix.count)).map { "a\($0)" }
    }

    @Test func everyCommandAndSubcommandIsResolvedWithItsArity() {
        #expect(cases.count > table.publicCommands.count)  // subcommands are enumerated too
        for c in cases {
            // A container alone is refused by its arity; with a subcommand it is that subcommand.
            if table.routes[Int(c.index)].kind == .container { #expect(c.arity == -2, "\(c.name)"); continue }
            let (good, bad) = counts(c)
            for n in good {
                let r = withArguments(words(c, count: n)) { table.resolve($0) }
                #expect(r == .command(c.index), "\(c.name) with \(n) arguments")
            }
            for n in bad {
                let r = withArguments(words(c, count: n)) { table.resolve($0) }
                #expect(r == .wrongArity(c.index), "\(c.name) with \(n) arguments")
                var out = ByteBuffer(capacity: 64)
                withArguments(words(c, count: n)) { table.writeRefusal(r, $0, into: &out) }
                #expect(String(decoding: out.readable, as: UTF8.self)
                        == "-ERR wrong number of arguments for '\(c.name)' command\r\n")
            }
        }
    }

    /// The name index in every letter case, and names that differ from a command's only by
    /// a byte the case folding must not merge (`@` and `` ` ``, `[` and `{`), a NUL or length.
    @Test func namesAreFoundInAnyCaseAndOnlyExactly() {
        for spec in table.publicCommands {
            let name = spec.name
            let mixed = String(name.enumerated().map { $0.offset % 2 == 0 ? Character($0.element.uppercased()) : $0.element })
            for form in [name, name.uppercased(), mixed] {
                #expect(Array(form.utf8).withUnsafeBytes { table.lookup($0) } == table.index(of: name), "\(form)")
            }
            for near in [name + "\0", name + "x", String(name.dropLast()), "\0" + name] where table.index(of: near) == nil {
                #expect(Array(near.utf8).withUnsafeBytes { table.lookup($0) } == nil, "\(near.debugDescription)")
            }
        }
        for bytes: [UInt8] in [[0x40, 0x45, 0x54], [0x47, 0x45, 0x54 ^ 0x20 ^ 0x80], [0x5B, 0x45, 0x54], [0x7B, 0x65, 0x74]] {
            #expect(bytes.withUnsafeBytes { table.lookup($0) } == nil, "\(bytes)")
        }
    }

    @Test func unknownCommandsAndSubcommandsAreRefusedAsRedisRefusesThem() {
        for spec in table.publicCommands where !spec.subcommands.isEmpty {
            let index = table.index(of: spec.name)!
            let r = withArguments([spec.name, "no-such\r\nsub"]) { table.resolve($0) }
            #expect(r == .unknownSubcommand(container: index), "\(spec.name)")
            var out = ByteBuffer(capacity: 64)
            withArguments([spec.name, "no-such\r\nsub"]) { table.writeRefusal(r, $0, into: &out) }
            #expect(String(decoding: out.readable, as: UTF8.self)
                    == "-ERR unknown subcommand 'no-such  sub'. Try \(spec.name.uppercased()) HELP.\r\n")
        }
        #expect(withArguments(["nosuch", "x"]) { table.resolve($0) } == .unknownCommand)
        // Internal parts are not reachable by name.
        for spec in table.specs where spec.flags.contains(.internal) {
            #expect(withArguments([spec.name, "a", "b", "c"]) { table.resolve($0) } == .unknownCommand, "\(spec.name)")
        }
        // COMMAND runs alone, and its subcommands are checked as a container's are.
        #expect(withArguments(["command"]) { table.resolve($0) } == .command(table.index(of: "command")!))
        #expect(withArguments(["command", "count", "x"]) { table.resolve($0) } == .wrongArity(table.index(of: "command|count")!))
        #expect(withArguments(["command", "="]) { table.resolve($0) } == .unknownSubcommand(container: table.index(of: "command")!))
    }

    /// Through the real dispatch, inside MULTI: a refused request is answered with its error
    /// and fails the transaction without being queued; an accepted one is queued, not run.
    @Test func multiQueuesOnlyWhatPassesTheChecks() {
        let worker = Worker(index: 0, context: ServerContext(config: Config(), port: 0))
        let control: Set<String> = ["multi", "exec", "discard", "watch", "quit", "reset"]
        for c in cases where !control.contains(c.name) && table.routes[Int(c.index)].kind != .container {
            let (good, bad) = counts(c)
            for (n, accepted) in good.map({ ($0, true) }) + bad.map({ ($0, false) }) {
                let client = Client(fd: -1, id: 1, peer: "", local: "", now: 0, maxBulk: 1 << 20)
                client.transaction = TransactionQueue()
                withArguments(words(c, count: n)) { worker.execute(client, $0) }
                let reply = String(decoding: client.output.readable, as: UTF8.self)
                let tx = client.transaction!
                if !accepted {
                    #expect(reply == "-ERR wrong number of arguments for '\(c.name)' command\r\n", "\(c.name) \(n)")
                    #expect(tx.failed && tx.commands.isEmpty, "\(c.name) \(n)")
                } else if table.specs[Int(c.index)].flags.contains(.protected) {
                    // DEBUG with enable-debug-command no (the default): refused after the arity check.
                    #expect(reply == "-" + DebugCommands.notAllowed + "\r\n", "\(c.name) \(n)")
                    #expect(tx.failed && tx.commands.isEmpty, "\(c.name) \(n)")
                } else if table.routes[Int(c.index)].noMulti {
                    #expect(reply == "-ERR Command not allowed inside a transaction\r\n", "\(c.name) \(n)")
                    #expect(tx.failed && tx.commands.isEmpty, "\(c.name) \(n)")
                } else {
                    #expect(reply == "+QUEUED\r\n", "\(c.name) \(n)")
                    #expect(!tx.failed && tx.commands.map(\.index) == [c.index], "\(c.name) \(n)")
                }
            }
        }
    }
}
