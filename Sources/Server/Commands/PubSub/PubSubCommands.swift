import RESP
import Shards

/// Pub/sub (Redis 7.0's pubsub.c): SUBSCRIBE and its family, PUBLISH, SPUBLISH and PUBSUB.
/// Subscriptions live on the subscriber's worker (Subscriptions.swift); a PUBLISH reaches
/// the other workers' subscribers in one ring message per worker (PublishDelivery.swift).
/// PUBSUB asks every worker and merges the answers.
enum PubSubCommands {
    static let specs: [CommandSpec] = [
        CommandSpec("subscribe", arity: -2, flags: [.pubsub, .noscript, .loading, .stale], group: "pubsub",
                    summary: "Subscribes this connection to channels.", run: .client(subscribe))
            .described(since: "2.0.0", acl: [.pubsub, .slow], arguments: [.string("channel").multiple]),
        CommandSpec("psubscribe", arity: -2, flags: [.pubsub, .noscript, .loading, .stale], group: "pubsub",
                    summary: "Subscribes this connection to the channels matching glob patterns.", run: .client(psubscribe))
            .described(since: "2.0.0", acl: [.pubsub, .slow], arguments: [.block("pattern", [.pattern("pattern")]).multiple]),
        CommandSpec("ssubscribe", arity: -2, flags: [.pubsub, .noscript, .loading, .stale], keys: (1, -1, 1),
                    group: "pubsub", summary: "Subscribes this connection to shard channels.", run: .client(ssubscribe))
            .described(since: "7.0.0", acl: [.pubsub, .slow], keySpecs: [KeySpec(["not_key"], index: 1, lastKey: -1)],
                       arguments: [.string("shardchannel").multiple]),
        CommandSpec("unsubscribe", arity: -1, flags: [.pubsub, .noscript, .loading, .stale], group: "pubsub",
                    summary: "Ends this connection's subscriptions to channels (all of them if none given).",
                    run: .client(unsubscribe))
            .described(since: "2.0.0", acl: [.pubsub, .slow], arguments: [.string("channel").optional.multiple]),
        CommandSpec("punsubscribe", arity: -1, flags: [.pubsub, .noscript, .loading, .stale], group: "pubsub",
                    summary: "Ends this connection's pattern subscriptions (all of them if none given).",
                    run: .client(punsubscribe))
            .described(since: "2.0.0", acl: [.pubsub, .slow], arguments: [.pattern("pattern").optional.multiple]),
        CommandSpec("sunsubscribe", arity: -1, flags: [.pubsub, .noscript, .loading, .stale], keys: (1, -1, 1),
                    group: "pubsub", summary: "Ends this connection's shard channel subscriptions (all if none given).",
                    run: .client(sunsubscribe))
            .described(since: "7.0.0", acl: [.pubsub, .slow], keySpecs: [KeySpec(["not_key"], index: 1, lastKey: -1)],
                       arguments: [.string("shardchannel").optional.multiple]),
        CommandSpec("publish", arity: 3, flags: [.pubsub, .loading, .stale, .fast], group: "pubsub",
                    summary: "Sends a message to a channel's subscribers; replies how many received it.", run: .client(publish))
            .described(since: "2.0.0", acl: [.pubsub, .fast], arguments: [.string("channel"), .string("message")]),
        CommandSpec("spublish", arity: 3, flags: [.pubsub, .loading, .stale, .fast], keys: (1, 1, 1), group: "pubsub",
                    summary: "Sends a message to a shard channel's subscribers; replies how many received it.",
                    run: .client(spublish))
            .described(since: "7.0.0", acl: [.pubsub, .fast], keySpecs: [KeySpec(["not_key"], index: 1)],
                       arguments: [.string("shardchannel"), .string("message")]),
        CommandSpec("pubsub", arity: -2, group: "pubsub", summary: "Inspects the pub/sub state of the server.",
                    run: .container, subcommands: [
                        sub("channels", -2, "Channels with subscribers, optionally those matching a pattern.", channels)
                            .described(since: "2.8.0", acl: [.pubsub, .slow], arguments: [.pattern("pattern").optional]),
                        CommandSpec("pubsub|help", arity: 2, flags: [.loading, .stale], group: "pubsub",
                                    summary: "Lists the subcommands and what they do.", run: .client(help))
                            .described(since: "6.2.0", acl: [.slow]),
                        sub("numpat", 2, "How many distinct patterns have subscribers.", numpat)
                            .described(since: "2.8.0", acl: [.pubsub, .slow]),
                        sub("shardchannels", -2, "Shard channels with subscribers, optionally those matching a pattern.",
                            shardchannels)
                            .described(since: "7.0.0", acl: [.pubsub, .slow], arguments: [.pattern("pattern").optional]),
                        sub("numsub", -2, "Each channel given with its number of subscribers.", numsub)
                            .described(since: "2.8.0", acl: [.pubsub, .slow], arguments: [.string("channel").optional.multiple]),
                        sub("shardnumsub", -2, "Each shard channel given with its number of subscribers.", shardnumsub)
                            .described(since: "7.0.0", acl: [.pubsub, .slow],
                                       arguments: [.string("shardchannel").optional.multiple]),
                    ])
            .described(since: "2.8.0", acl: [.slow]),
    ]

    private static func sub(_ name: String, _ arity: Int, _ summary: String, _ handler: @escaping ClientHandler) -> CommandSpec {
        CommandSpec("pubsub|" + name, arity: arity, flags: [.pubsub, .loading, .stale], group: "pubsub", summary: summary,
                    run: .client(handler))
    }

    /// The commands a RESP2 client in subscribed mode may run (Redis's processCommand).
    static let allowedInPubSubMode: Set<String> = [
        "ping", "subscribe", "ssubscribe", "unsubscribe", "sunsubscribe", "psubscribe", "punsubscribe", "quit", "reset",
    ]

    // MARK: Subscribing

    /// Redis sends (un)subscribe confirmations as CLIENT_PUSHING: CLIENT REPLY OFF or SKIP
    /// does not silence them (outside EXEC, whose reply is one whole).
    private static func pushing(_ c: Client, _ call: borrowing CommandCall) {
        if call.nesting == nil { c.muted = false }
    }

    static func subscribe(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        subscribe(w, c, args, .channel, call, &out)
    }

    static func psubscribe(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        subscribe(w, c, args, .pattern, call, &out)
    }

    static func ssubscribe(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        // Redis 7.0: MULTI denies blocking, and SSUBSCRIBE refuses such a client (SUBSCRIBE
        // makes an exception for MULTI).
        if call.nesting != nil {
            out.writeError("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client")
            return
        }
        subscribe(w, c, args, .shardChannel, call, &out)
    }

    private static func subscribe(_ w: Worker, _ c: Client, _ args: Arguments, _ kind: SubscriptionKind,
                                  _ call: borrowing CommandCall, _ out: inout ByteBuffer) {
        pushing(c, call)
        for i in 1..<args.count {
            let name = [UInt8](args[i])
            w.subscribe(c, name, kind)
            writeConfirmation(kind.subscribeWord, name: args[i], count: c.subscriptions!.confirmationCount(kind), c.resp, &out)
        }
        w.updatePubSubMode(c)
    }

    static func unsubscribe(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        unsubscribe(w, c, args, .channel, call, &out)
    }

    static func punsubscribe(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        unsubscribe(w, c, args, .pattern, call, &out)
    }

    static func sunsubscribe(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        unsubscribe(w, c, args, .shardChannel, call, &out)
    }

    /// One confirmation per name given; without names, one per subscription dropped, or a
    /// single one with a null name when there was none (pubsubUnsubscribeAllChannels).
    private static func unsubscribe(_ w: Worker, _ c: Client, _ args: Arguments, _ kind: SubscriptionKind,
                                    _ call: borrowing CommandCall, _ out: inout ByteBuffer) {
        pushing(c, call)
        if args.count > 1 {
            for i in 1..<args.count {
                w.unsubscribe(c, [UInt8](args[i]), kind)
                writeConfirmation(kind.unsubscribeWord, name: args[i], count: c.subscriptions?.confirmationCount(kind) ?? 0,
                                  c.resp, &out)
            }
        } else {
            let names = c.subscriptions?[kind].items ?? []
            for name in names {
                w.unsubscribe(c, name, kind)
                name.withUnsafeBytes {
                    writeConfirmation(kind.unsubscribeWord, name: $0, count: c.subscriptions?.confirmationCount(kind) ?? 0,
                                      c.resp, &out)
                }
            }
            if names.isEmpty {
                writeConfirmation(kind.unsubscribeWord, name: nil, count: c.subscriptions?.confirmationCount(kind) ?? 0,
                                  c.resp, &out)
            }
        }
        w.updatePubSubMode(c)
    }

    /// addReplyPubsubSubscribed / Unsubscribed: a push of three (an array in RESP2).
    private static func writeConfirmation(_ word: StaticString, name: UnsafeRawBufferPointer?, count: Int,
                                          _ resp: RESPVersion, _ out: inout ByteBuffer) {
        out.append(resp == .resp3 ? ">3\r\n" : "*3\r\n")
        out.writeBulk(UnsafeRawBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount))
        if let name { out.writeBulk(name) } else { out.writeNull(resp) }
        out.writeInteger(count)
    }

    // MARK: Publishing

    static func publish(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        w.publishFromClient(c, .channel, channel: args[1], message: args[2], call: call, out: &out)
    }

    static func spublish(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        w.publishFromClient(c, .shardChannel, channel: args[1], message: args[2], call: call, out: &out)
    }

    // MARK: PUBSUB

    static func help(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        writeHelp("PUBSUB", [
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ], &out)
    }

    static func channels(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        names(w, c, args, .channel, call, &out)
    }

    static func shardchannels(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        names(w, c, args, .shardChannel, call, &out)
    }

    /// CHANNELS / SHARDCHANNELS: the names with subscribers on any worker, matching the pattern.
    private static func names(_ w: Worker, _ c: Client, _ args: Arguments, _ kind: SubscriptionKind, _ call: CommandCall,
                              _ out: inout ByteBuffer) {
        guard args.count <= 3 else { writeSubcommandSyntaxError(args, &out); return }
        let pattern: [UInt8]? = args.count == 3 ? [UInt8](args[2]) : nil
        w.askEveryWorker(c, call: call, out: &out, ask: { worker -> [[UInt8]] in
            worker.subscriptions[kind].keys.filter { name in
                guard let pattern else { return true }
                return pattern.withUnsafeBytes { p in name.withUnsafeBytes { Glob.matches(p, $0) } }
            }
        }, finish: { _, _, answers, out in
            var seen = Set<[UInt8]>()
            var all: [[UInt8]] = []
            for list in answers { for name in list where seen.insert(name).inserted { all.append(name) } }
            out.writeArrayHeader(all.count)
            for name in all { out.writeBulk(name) }
        })
    }

    static func numsub(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        counts(w, c, args, .channel, call, &out)
    }

    static func shardnumsub(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        counts(w, c, args, .shardChannel, call, &out)
    }

    /// NUMSUB / SHARDNUMSUB: each name given, then its subscribers summed over the workers.
    private static func counts(_ w: Worker, _ c: Client, _ args: Arguments, _ kind: SubscriptionKind, _ call: CommandCall,
                               _ out: inout ByteBuffer) {
        let names = (2..<max(2, args.count)).map { [UInt8](args[$0]) }
        w.askEveryWorker(c, call: call, out: &out, ask: { worker -> [Int] in
            names.map { worker.subscriptions[kind][$0]?.count ?? 0 }
        }, finish: { _, _, answers, out in
            out.writeArrayHeader(names.count * 2)
            for (i, name) in names.enumerated() {
                out.writeBulk(name)
                out.writeInteger(answers.reduce(0) { $0 + $1[i] })
            }
        })
    }

    /// NUMPAT: distinct patterns with subscribers (dictSize(server.pubsub_patterns)).
    static func numpat(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        w.askEveryWorker(c, call: call, out: &out, ask: { worker -> [[UInt8]] in
            Array(worker.subscriptions[.pattern].keys)
        }, finish: { _, _, answers, out in
            out.writeInteger(Set(answers.joined()).count)
        })
    }
}

