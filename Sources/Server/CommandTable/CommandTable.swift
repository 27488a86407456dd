import RESP
import Shards

/// What a shard-side handler sees: the shard (owned by the executing thread), the
/// client's database and protocol version.
struct ShardContext {
    /// Held strongly: the context is built once per command (one count taken and dropped),
    /// and a handler's every use of `shard` is then free. Held unowned(unsafe), each use took
    /// and dropped a count of its own (an INCR two, a 10-key EXISTS ~25).
    let shard: Shard
    let db: Int
    let resp: RESPVersion
    /// The client the command came from (WATCH registers it).
    var clientID: UInt64 = 0
    /// Where a later reply for this request goes (a blocked stream read), and the worker it came from.
    var sink: ReplySink? = nil
    var origin = -1
    /// The worker running the command, for a handler that runs others in turn (a
    /// transaction sent whole to its shard's owner). Set where requests from other workers
    /// run; that worker outlives the call.
    unowned(unsafe) var worker: Worker? = nil
    /// The multi-shard operation whose locks the request runs under, and its replication
    /// group (0: none): a script spanning shards sends its remote calls under them.
    var transaction: UInt64 = 0
    var tag: UInt64 = 0

    /// Records a keyspace notification (Redis's notifyKeyspaceEvent; nothing unless configured).
    @inline(__always) func notify(_ type: Int, _ event: StaticString, _ key: UnsafeRawBufferPointer) {
        if shard.notifyFlags & type != 0 { shard.recordNotification(event, db: db, key: key) }
    }

    /// True while this shard's writes are recorded for replicas (guards building a rewrite).
    @inline(__always) var replicating: Bool { shard.recordsWrites }

    /// Propagates the command's effect in this form instead of the command as it came
    /// (Redis's rewriteClientCommandVector): absolute deadlines, DEL for a deletion...
    func propagate(_ parts: PropagatedArgument...) { propagate(parts) }

    func propagate(_ parts: [PropagatedArgument]) {
        guard let log = shard.propagation, log.recordsOwnWrites else { return }
        log.command(db: db, arguments: parts)
    }

    /// `propagate` for a form with a variable number of arguments.
    func propagate(arguments parts: [PropagatedArgument]) {
        guard let log = shard.propagation, log.recordsOwnWrites else { return }
        log.command(db: db, arguments: parts)
    }
}

typealias ShardHandler = @Sendable (ShardContext, Arguments, inout ByteBuffer) -> Void
typealias ClientHandler = @Sendable (Worker, Client, Arguments, inout CommandCall, inout ByteBuffer) -> Void

/// How the replies of a command split per key are put back together.
enum SplitCombine: Sendable {
    case sumIntegers      // DEL, UNLINK, EXISTS, TOUCH
    case array            // MGET
    case ok               // MSET
}

enum CommandRun: Sendable {
    /// Runs on the client's worker with the client (connection and server commands,
    /// and commands that coordinate several shards themselves).
    case client(ClientHandler)
    /// Runs on the shard that owns the keys. If the keys span shards, `split` says how
    /// to run it per key (`part` is a shard command taking `stride` keyed arguments);
    /// without a split, `crossShard` (a client handler) takes over, if any.
    /// The split `part` is nil when the command itself runs per key (DEL, EXISTS...).
    case keyed(ShardHandler, split: (part: InternalCommand?, stride: Int, combine: SplitCombine)?, crossShard: ClientHandler?)
    /// A container: the real command is the subcommand in argument 1 (a command with
    /// subcommands that also runs alone, as COMMAND, is `.client` with `subcommands`).
    case container
}

struct CommandFlags: OptionSet, Sendable {
    let rawValue: UInt32
    static let write = CommandFlags(rawValue: 1 << 0)
    static let readonly = CommandFlags(rawValue: 1 << 1)
    static let denyOOM = CommandFlags(rawValue: 1 << 2)
    static let admin = CommandFlags(rawValue: 1 << 3)
    static let noscript = CommandFlags(rawValue: 1 << 4)
    static let loading = CommandFlags(rawValue: 1 << 5)
    static let stale = CommandFlags(rawValue: 1 << 6)
    static let fast = CommandFlags(rawValue: 1 << 7)
    static let noAuth = CommandFlags(rawValue: 1 << 8)
    static let blocking = CommandFlags(rawValue: 1 << 9)
    static let noMulti = CommandFlags(rawValue: 1 << 10)
    static let allowBusy = CommandFlags(rawValue: 1 << 11)
    static let movableKeys = CommandFlags(rawValue: 1 << 12)
    static let pubsub = CommandFlags(rawValue: 1 << 16)
    static let skipMonitor = CommandFlags(rawValue: 1 << 17)
    static let noMandatoryKeys = CommandFlags(rawValue: 1 << 18)
    static let skipSlowlog = CommandFlags(rawValue: 1 << 13)
    static let noAsyncLoading = CommandFlags(rawValue: 1 << 14)
    /// Allowed only as a config says (Redis's CMD_PROTECTED: DEBUG and enable-debug-command);
    /// COMMAND INFO does not show it, as in Redis.
    static let protected = CommandFlags(rawValue: 1 << 15)
    /// Internal part of a split command: not reachable by name from clients.
    static let `internal` = CommandFlags(rawValue: 1 << 31)

    /// In the order of Redis 7.0's addReplyCommandFlags, which COMMAND INFO prints.
    static let names: [(CommandFlags, String)] = [
        (.write, "write"), (.readonly, "readonly"), (.denyOOM, "denyoom"), (.admin, "admin"), (.pubsub, "pubsub"),
        (.noscript, "noscript"), (.blocking, "blocking"), (.loading, "loading"), (.stale, "stale"),
        (.skipMonitor, "skip_monitor"), (.skipSlowlog, "skip_slowlog"), (.fast, "fast"), (.noAuth, "no_auth"),
        (.noMandatoryKeys, "no_mandatory_keys"), (.noAsyncLoading, "no_async_loading"), (.noMulti, "no_multi"),
        (.movableKeys, "movablekeys"), (.allowBusy, "allow_busy"),
    ]
}

/// What a command does inside MULTI (Redis's processCommand: MULTI, EXEC, DISCARD, WATCH,
/// QUIT and RESET are not queued). Commands MULTI refuses have the `noMulti` flag.
enum InMulti: Sendable {
    case queued
    case runsAtOnce
}

/// How a shard command reaches replicas when it changed something (Redis's dirty counter).
enum Propagation: UInt8, Sendable {
    case none
    /// A write command: as it came, unless the handler propagated a rewritten form itself.
    case asItself
    /// An internal part: only marks its operation as changing data (the operation
    /// propagates as the command that started it: RENAME, MOVE, COPY, FLUSHALL, SWAPDB...);
    /// `alwaysMarked` even without a change (Redis forces FLUSHALL, FLUSHDB and SWAPDB).
    case marked, alwaysMarked
}

/// One row of the command table, as Redis's src/commands/*.json: name, arity, flags, key
/// positions, how it runs and propagates, and what COMMAND INFO/DOCS say about it.
struct CommandSpec: Sendable {
    let name: String             // lowercase; "client|setname" style full name for subcommands
    let arity: Int               // exact if positive, minimum |arity| if negative (name included)
    let flags: CommandFlags
    let firstKey: Int            // 0: no keys
    let lastKey: Int             // -1: last argument, -2: the one before...
    let step: Int
    let group: String            // COMMAND DOCS group ("string", "generic", "server", "connection")
    let summary: String
    let inMulti: InMulti
    /// Write commands propagate as themselves; internal parts say how (default: not at all).
    private(set) var propagation: Propagation
    let run: CommandRun
    var subcommands: [CommandSpec] = []
    /// What clients read about the command (COMMAND INFO, DOCS, GETKEYS), set by `described`.
    private(set) var since = ""
    private(set) var acl: [ACLCategory] = []
    private(set) var tips: [String] = []
    private(set) var keySpecs: [KeySpec] = []
    private(set) var arguments: [CommandArgument] = []

    init(_ name: String, arity: Int, flags: CommandFlags = [], keys: (Int, Int, Int) = (0, 0, 0),
         inMulti: InMulti = .queued, group: String, summary: String = "", run: CommandRun,
         subcommands: [CommandSpec] = []) {
        self.name = name
        self.arity = arity
        self.flags = flags
        firstKey = keys.0
        lastKey = keys.1
        step = keys.2
        self.inMulti = inMulti
        self.group = group
        self.summary = summary
        propagation = flags.contains(.write) ? .asItself : .none
        self.run = run
        self.subcommands = subcommands
    }

    /// An internal part's row: named by `part`, unreachable by clients.
    /// `blocking`: the part may block its request (counted in flight, BlockingPartsInFlight).
    init(part: InternalCommand, propagation: Propagation = .none, arity: Int, keys: (Int, Int, Int) = (0, 0, 0),
         blocking: Bool = false, group: String, run: CommandRun) {
        name = part.name
        self.arity = arity
        flags = blocking ? [.internal, .blocking] : .internal
        firstKey = keys.0
        lastKey = keys.1
        step = keys.2
        inMulti = .queued
        self.group = group
        summary = ""
        self.propagation = propagation
        self.run = run
    }

    /// The row with what COMMAND INFO and COMMAND DOCS report beyond how it runs: the version
    /// that introduced it, ACL categories (in Redis's order), tips, key specifications and arguments.
    func described(since: String, acl: [ACLCategory], tips: [String] = [], keySpecs: [KeySpec] = [],
                   arguments: [CommandArgument] = []) -> CommandSpec {
        var spec = self
        spec.since = since
        spec.acl = ACLCategory.allCases.filter(acl.contains)
        spec.tips = tips
        spec.keySpecs = keySpecs
        spec.arguments = arguments
        return spec
    }

    /// A read command that propagates as itself when it changed data (Redis's PFCOUNT,
    /// which writes the cardinality it computed into the string's cache).
    func propagatingAsItself() -> CommandSpec {
        var spec = self
        spec.propagation = .asItself
        return spec
    }

    /// Index of the last key argument for `argc` arguments.
    func lastKeyIndex(argumentCount argc: Int) -> Int {
        lastKey >= 0 ? lastKey : argc + lastKey
    }

    func arityOK(_ argc: Int) -> Bool { arity >= 0 ? argc == arity : argc >= -arity }

    /// The display name for errors: "get", or "client|setname" for subcommands.
    var displayName: String { name }
}

/// The command table: every command family contributes its rows; lookups by name
/// compare bytes case-insensitively without allocating.
final class CommandTable: Sendable {
    let specs: [CommandSpec]
    /// Plain-data copies of what dispatch reads per command, so the hot path copies no
    /// strings or arrays (and so does no reference counting) to route a command.
    let routes: [Route]
    let shardHandlers: [ShardHandler?]
    let clientHandlers: [ClientHandler?]
    /// `shardHandlers` for dispatch's hot path. In a struct the closure keeps its own calling
    /// convention (an array of optional closures holds reabstracted ones, each call going
    /// through a thunk), and a buffer of its own is read without retaining the array.
    /// Written once here, read-only after.
    nonisolated(unsafe) private let directShardHandlers: UnsafeMutableBufferPointer<DirectShardHandler>

    struct DirectShardHandler {
        let call: ShardHandler
    }

    /// The shard handler of row `index`, which dispatch knows is a keyed command's.
    @inline(__always)
    func shardHandler(_ index: UInt16) -> ShardHandler {
        directShardHandlers.baseAddress.unsafelyUnwrapped[Int(index)].call
    }

    /// The shard handler of row `index`, if it is a keyed command's: from the direct buffer,
    /// so calling it neither goes through a reabstraction thunk nor counts the thunk's
    /// context, which every worker shares (each count moved its cache line between cores).
    @inline(__always)
    func shardHandlerIfKeyed(_ index: UInt16) -> ShardHandler? {
        routes[Int(index)].kind == .keyed ? shardHandler(index) : nil
    }

    struct Route {
        enum Kind: UInt8 { case client, keyed, container }
        let kind: Kind
        /// Argument 1 names a subcommand (containers, and COMMAND given arguments).
        let hasSubcommands: Bool
        let arity: Int32
        let firstKey: Int16
        let lastKey: Int16
        let step: Int16
        let hasSplit: Bool
        let splitStride: Int16
        /// Runs at once even inside MULTI (MULTI, EXEC, DISCARD, WATCH, QUIT, RESET).
        let transactionControl: Bool
        let noMulti: Bool
        /// The admission rules that concern it (bit i: AdmissionRule.rules[i]).
        let admission: UInt8
        /// An admin command: the server state admission reads may have changed after it.
        let isAdmin: Bool
        /// May block its client (XREAD BLOCK...): its reply can take any time.
        let mayBlock: Bool
        /// May run while a RESP2 client is subscribed (the subscribe family, PING, QUIT, RESET).
        let allowedInPubSubMode: Bool
        /// May write (a write command, EXEC, a script): with appendfsync always its client's
        /// replies wait for the fsync (Runtime/DurableReplies.swift).
        let awaitsFsync: Bool
        /// A command flagged readonly that never writes: it may run beside an operation
        /// that holds its keys only to read them (IntentLocks' shared requests), and an
        /// operation made of such commands asks for shared locks.
        let readOnly: Bool

        @inline(__always) func arityOK(_ argc: Int) -> Bool { arity >= 0 ? argc == Int(arity) : argc >= -Int(arity) }
        @inline(__always) func lastKeyIndex(argumentCount argc: Int) -> Int {
            lastKey >= 0 ? Int(lastKey) : argc + Int(lastKey)
        }
    }
    /// Table index of each spec's split part command (if any).
    let splitPart: [UInt16]
    /// Top-level names to rows, for the lookup every request starts with.
    private let byRequestName: CommandNameIndex
    /// For containers: subcommand name → spec index, by container index.
    private let subcommandIndex: [Int: [String: UInt16]]
    /// Every row by its full name (COMMAND INFO/DOCS look names up here).
    private let byName: [String: UInt16]
    /// The row of each internal part, by `InternalCommand.rawValue`.
    private let internalIndex: [UInt16]

    /// Every family's rows: adding a family is one line here.
    static let families: [[CommandSpec]] = [
        ConnectionCommands.specs, StringCommands.specs, [StringLCS.spec], KeyCommands.specs, KeyDumpCommands.specs, MigrateCommand.specs, StreamCommands.specs, StreamGroupCommands.specs,
        HashCommands.specs, SortedSetCommands.specs, SetCommands.specs, ListCommands.specs, PubSubCommands.specs, BitmapCommands.specs, HyperLogLogCommands.specs, GeoCommands.specs, SortCommands.specs, ServerCommands.specs, [Lolwut.spec], [MemoryCommand.spec], [ModuleCommand.spec], DebugCommands.specs, TransactionCommands.specs,
        TransactionCommands.onOwnerSpecs, PersistenceCommands.specs, ReplicationCommands.specs,
        ReplicaCommands.specs,
        ScriptCommands.specs,
        FunctionCommands.specs,
    ]

    static let shared: CommandTable = {
        do { return try CommandTable(families: families) } catch { fatalError("command table: \(error)") }
    }()

    /// Why rows cannot form a table: found when the table is built, at start-up.
    enum RowError: Error, Equatable {
        case duplicateName(String)
        case missingInternalPart(String)
    }

    init(families: [[CommandSpec]]) throws {
        var specs: [CommandSpec] = []
        var subIndex: [Int: [String: UInt16]] = [:]
        for family in families {
            for spec in family {
                let containerIndex = specs.count
                specs.append(spec)
                if !spec.subcommands.isEmpty {
                    var subs: [String: UInt16] = [:]
                    for sub in spec.subcommands {
                        let subName = String(sub.name.split(separator: "|").last!)
                        subs[subName] = UInt16(specs.count)
                        specs.append(sub)
                    }
                    subIndex[containerIndex] = subs
                }
            }
        }
        var byName: [String: UInt16] = [:]
        for (i, s) in specs.enumerated() {
            guard byName.updateValue(UInt16(i), forKey: s.name) == nil else { throw RowError.duplicateName(s.name) }
        }
        internalIndex = try InternalCommand.allCases.map { part in
            guard let i = byName[part.name] else { throw RowError.missingInternalPart(part.name) }
            return i
        }
        let internalIndex = self.internalIndex
        let requestNames = specs.enumerated().filter { !$0.element.name.contains("|") && !$0.element.flags.contains(.internal) }
        byRequestName = CommandNameIndex(requestNames.map { (name: $0.element.name, row: UInt16($0.offset)) })
        splitPart = specs.enumerated().map { i, spec in
            guard case .keyed(_, let split?, _) = spec.run else { return 0 }
            return split.part.map { internalIndex[$0.rawValue] } ?? UInt16(i)
        }
        self.specs = specs
        routes = specs.map { spec in
            var kind = Route.Kind.client
            var split: (part: InternalCommand?, stride: Int, combine: SplitCombine)?
            switch spec.run {
            case .client: kind = .client
            case .keyed(_, let s, _): kind = .keyed; split = s
            case .container: kind = .container
            }
            return Route(kind: kind, hasSubcommands: !spec.subcommands.isEmpty, arity: Int32(spec.arity), firstKey: Int16(spec.firstKey),
                         lastKey: Int16(spec.lastKey), step: Int16(spec.step), hasSplit: split != nil,
                         splitStride: Int16(split?.stride ?? 0),
                         transactionControl: spec.inMulti == .runsAtOnce,
                         noMulti: spec.flags.contains(.noMulti),
                         admission: AdmissionRule.mask(for: spec),
                         isAdmin: spec.flags.contains(.admin), mayBlock: spec.flags.contains(.blocking),
                         allowedInPubSubMode: PubSubCommands.allowedInPubSubMode.contains(spec.name),
                         awaitsFsync: spec.flags.contains(.write) || ["exec", "eval", "evalsha", "fcall"].contains(spec.name),
                         // Not PFCOUNT (flagged readonly, but it writes its cache and
                         // propagates), nor scripts (EVAL_RO: they lock whole shards and
                         // hold their worker while calling the others).
                         readOnly: spec.flags.contains(.readonly) && spec.propagation == .none
                             && spec.group != "scripting")
        }
        shardHandlers = specs.map { if case .keyed(let h, _, _) = $0.run { return h }; return nil }
        propagation = specs.map(\.propagation)
        clientHandlers = specs.map { if case .client(let h) = $0.run { return h }; return nil }
        directShardHandlers = .allocate(capacity: specs.count)
        _ = directShardHandlers.initialize(from: specs.map { spec in
            if case .keyed(let h, _, _) = spec.run { return DirectShardHandler(call: h) }
            return DirectShardHandler(call: { _, _, _ in })
        })
        self.byName = byName
        subcommandIndex = subIndex
    }

    let propagation: [Propagation]

    /// Runs a shard handler; while replicating, records the write for the stream. Every
    /// place that runs a shard command goes through here (the check costs one load when
    /// nothing replicates).
    @inline(__always)
    /// `tag`: the replication group of a multi-shard operation's part (0: a command of its own).
    static func run(_ command: UInt16, _ handler: ShardHandler, _ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer,
                    tag: UInt64 = 0) {
        if ctx.shard.recordsWrites {
            runRecording(command, handler, ctx, args, &out, tag: tag)
        } else if !ctx.shard.expiryDeletesOnAccess {
            runOnReplica(handler, ctx, args, &out)
        } else {
            handler(ctx, args, &out)
        }
    }

    /// A replica's shard: the master's commands see keys past their deadline as present
    /// (Redis's expireIfNeeded for the master client), so its DEL of an expired key removes
    /// it and its other writes apply as they did on the master.
    @inline(never)
    private static func runOnReplica(_ handler: ShardHandler, _ ctx: ShardContext, _ args: Arguments,
                                     _ out: inout ByteBuffer) {
        let fromMaster = ctx.clientID != 0 && ctx.clientID == ReplicaMode.masterClientID.load(ordering: .relaxed)
        ctx.shard.applyingMasterStream = fromMaster
        handler(ctx, args, &out)
        ctx.shard.applyingMasterStream = false
    }

    /// The table's propagation modes where the data path reads them without reference counting
    /// (written once here, read-only after).
    nonisolated(unsafe) private static let propagationModes: UnsafeMutableBufferPointer<Propagation> = {
        let modes = UnsafeMutableBufferPointer<Propagation>.allocate(capacity: shared.propagation.count)
        _ = modes.initialize(from: shared.propagation)
        return modes
    }()

    @inline(never)
    private static func runRecording(_ command: UInt16, _ handler: ShardHandler, _ ctx: ShardContext, _ args: Arguments,
                                     _ out: inout ByteBuffer, tag: UInt64) {
        // A replica with an AOF records too; its master's commands still see keys as a replica does.
        let replica = !ctx.shard.expiryDeletesOnAccess
        guard let log = ctx.shard.propagation else {
            if replica { runOnReplica(handler, ctx, args, &out) } else { handler(ctx, args, &out) }
            return
        }
        let mode = propagationModes[Int(command)]
        guard mode != .none else {
            if replica { runOnReplica(handler, ctx, args, &out) } else { handler(ctx, args, &out) }
            return
        }
        let before = ctx.shard.changes
        log.propagatedExplicitly = false
        log.tag = tag
        if replica { runOnReplica(handler, ctx, args, &out) } else { handler(ctx, args, &out) }
        if (mode == .alwaysMarked || ctx.shard.changes != before) && !log.propagatedExplicitly {
            if mode == .asItself { log.command(db: ctx.db, args) } else { log.touched() }
        }
        log.tag = 0
    }

    /// Index of the command named by `name` (any case), or nil.
    func lookup(_ name: UnsafeRawBufferPointer) -> UInt16? {
        byRequestName.row(of: name)
    }

    /// The row of a full name ("get", "client|list", "__keys"), or nil.
    func index(of name: String) -> UInt16? {
        byName[name]
    }

    /// The row of an internal part (resolved when the table was built).
    @inline(__always)
    func index(of part: InternalCommand) -> UInt16 {
        internalIndex[part.rawValue]
    }

    func subcommand(of container: UInt16, named name: String) -> UInt16? {
        subcommandIndex[Int(container)]?[name.lowercased()]
    }

    /// What a request names, checked as Redis's processCommand checks it before running or
    /// queueing anything (commandCheckExistence, commandCheckArity): the command (for a
    /// command with subcommands given an argument, the subcommand), or why it is refused.
    enum Resolution: Equatable {
        case command(UInt16)
        case unknownCommand
        case unknownSubcommand(container: UInt16)
        case wrongArity(UInt16)
    }

    @inline(__always)
    func resolve(_ args: Arguments) -> Resolution {
        guard var index = lookup(args[0]) else { return .unknownCommand }
        if routes[Int(index)].hasSubcommands && args.count >= 2 {
            guard let sub = subcommandIndex[Int(index)]?[lowercased(args[1])] else {
                return .unknownSubcommand(container: index)
            }
            index = sub
        }
        return routes[Int(index)].arityOK(args.count) ? .command(index) : .wrongArity(index)
    }

    /// Redis's reply to a request `resolve` refused (nothing for `.command`).
    func writeRefusal(_ resolution: Resolution, _ args: Arguments, into out: inout ByteBuffer) {
        switch resolution {
        case .command:
            return
        case .unknownCommand:
            writeUnknownCommand(args, into: &out)
        case .unknownSubcommand(let container):
            var text = ErrorText("ERR unknown subcommand '")
            text.append(argument: args[1], limit: 128)
            text.append("'. Try \(specs[Int(container)].name.uppercased()) HELP.")
            out.writeError(text)
        case .wrongArity(let index):
            out.writeError(string: "ERR wrong number of arguments for '\(specs[Int(index)].name)' command")
        }
    }

    /// Top-level commands (not subcommands, not internal parts).
    var publicCommands: [CommandSpec] {
        specs.filter { !$0.name.contains("|") && !$0.flags.contains(.internal) }
    }
}

/// Lowercased ASCII text of an argument (option names).
func lowercased(_ bytes: UnsafeRawBufferPointer) -> String {
    String(decoding: bytes.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
}

/// True if `bytes` equals `word` (given lowercase) in any case.
@inline(__always)
func argIs(_ bytes: UnsafeRawBufferPointer, _ word: StaticString) -> Bool {
    guard bytes.count == word.utf8CodeUnitCount else { return false }
    let w = word.utf8Start
    for i in 0..<bytes.count {
        var c = bytes[i]
        if c >= 65 && c <= 90 { c += 32 }
        if c != w[i] { return false }
    }
    return true
}
