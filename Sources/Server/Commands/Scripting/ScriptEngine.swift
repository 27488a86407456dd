import CShim
import RESP
import Shards

/// One worker's Lua interpreter (vk_lua.c: Redis 7.0's sandbox and redis.* library) and
/// the scripts it has compiled. Created by the worker's first script and touched only on
/// its thread, so it needs no lock; a SCRIPT FLUSH anywhere makes the next script on this
/// worker start a fresh one (ScriptCache.generation).
final class ScriptEngine {
    /// What a script's shebang line says (`#!lua flags=no-writes,...`).
    struct Flags: OptionSet {
        let rawValue: UInt8
        /// No shebang: Redis's compatibility mode (anything goes).
        static let compatible = Flags(rawValue: 1)
        static let noWrites = Flags(rawValue: 2)
        static let allowOOM = Flags(rawValue: 4)
        static let allowStale = Flags(rawValue: 8)
        static let noCluster = Flags(rawValue: 16)
        static let allowCrossSlotKeys = Flags(rawValue: 32)

        static let names: [(String, Flags)] = [("no-writes", .noWrites), ("allow-oom", .allowOOM),
                                               ("allow-stale", .allowStale), ("no-cluster", .noCluster),
                                               ("allow-cross-slot-keys", .allowCrossSlotKeys)]
    }

    struct Compiled {
        let flags: Flags
        /// "f_<sha>" as a C string: the function's name in the interpreter's registry.
        let name: [CChar]
        /// Its body may run commands (says `call` somewhere: redis.call, redis.pcall). One
        /// that cannot touches no key: without declared keys it need not lock every shard.
        var mayCall = true
        /// Names only its declared keys (ScriptKeyScan): its single-shard runs need no undo log.
        var declaredKeysOnly = false
    }

    /// Whether a script body may run commands: it names `call` (redis.call, redis.pcall,
    /// or anything reaching them by a name that contains it). A script that does not can
    /// only compute and return: it touches no key.
    static func bodyMayCall(_ body: UnsafeRawBufferPointer) -> Bool {
        guard body.count >= 4 else { return false }
        for i in 0...(body.count - 4)
        where body[i] == UInt8(ascii: "c") && body[i + 1] == UInt8(ascii: "a") && body[i + 2] == UInt8(ascii: "l")
            && body[i + 3] == UInt8(ascii: "l") {
            return true
        }
        return false
    }

    let lua: OpaquePointer
    let generation: Int
    private var scripts: [String: Compiled] = [:]
    /// What redis.call needs while a script runs (reused: no allocation per script).
    let run: ScriptRun
    private var reply = vk_buf()
    private var pointers = ScriptArgumentVector()

    private init?(worker: Worker, generation: Int) {
        guard let lua = vk_lua_create(scriptCommandHook, scriptLogHook, ServerInfo.redisVersion, Self.versionNumber)
        else { return nil }
        self.lua = lua
        self.generation = generation
        run = ScriptRun(worker: worker)
    }

    deinit {
        vk_lua_destroy(lua)
        if let functionsLua { vk_lua_destroy(functionsLua) }
        vk_buf_free(&reply)
    }

    /// A fresh interpreter with this server's hooks (FUNCTION LOAD's scratch one).
    static func newInterpreter() -> OpaquePointer? {
        vk_lua_create(scriptCommandHook, scriptLogHook, ServerInfo.redisVersion, versionNumber)
    }

    // MARK: Functions

    /// Functions run in an interpreter of their own, as Redis's function engine has its own
    /// Lua state: every library of `catalog`, loaded when this worker first needs them after
    /// a change (FunctionRegistry.generation).
    private var functionsLua: OpaquePointer?
    private var functionsGeneration = -1
    private var functionCatalog = FunctionCatalog(generation: -1, libraries: [:])
    private var functionNames: [String: Compiled] = [:]

    /// The registry's current libraries (refreshed when it changed; no lock otherwise).
    var catalog: FunctionCatalog {
        if functionCatalog.generation != FunctionRegistry.shared.generation {
            functionCatalog = FunctionRegistry.shared.catalog
        }
        return functionCatalog
    }

    /// The function `name` (lowercased: functionKey), compiled in this worker's functions interpreter.
    func function(named name: String) -> Compiled? {
        let catalog = self.catalog
        if functionsGeneration != catalog.generation {
            if let functionsLua { vk_lua_destroy(functionsLua) }
            functionsLua = nil
            functionNames = [:]
            guard let lua = Self.newInterpreter() else { return nil }
            functionsLua = lua
            functionsGeneration = catalog.generation
            for library in catalog.libraries.values {
                // Compiled once already when it was loaded: it cannot fail differently here.
                guard case .success(let meta) = FunctionRegistry.metadata(library.code),
                      case .success = FunctionRegistry.run(library.code, name: meta.name, body: meta.body, in: lua,
                                                          timeoutMs: 0, quiet: true)
                else { continue }
                for f in library.functions {
                    functionNames[functionKey(f.name)] = Compiled(flags: f.flags, name: Array(f.name.utf8CString))
                }
            }
        }
        return functionNames[name]
    }

    /// REDIS_VERSION_NUM: 0x00MMmmpp of ServerInfo.redisVersion.
    static let versionNumber: Int32 = {
        let parts = ServerInfo.redisVersion.split(separator: ".").map { Int32($0) ?? 0 }
        return parts.prefix(3).reduce(0) { $0 << 8 | $1 }
    }()

    /// The worker's interpreter: created on first use, replaced after a SCRIPT FLUSH.
    static func of(_ w: Worker) -> ScriptEngine? {
        let generation = ScriptCache.shared.generation
        if let engine = w.scripting, engine.generation == generation { return engine }
        w.scripting = nil  // the old interpreter closes before the new one opens
        w.scripting = ScriptEngine(worker: w, generation: generation)
        return w.scripting
    }

    // MARK: Compiling

    /// The script `sha` if this interpreter has compiled it.
    func compiled(_ sha: String) -> Compiled? { scripts[sha] }

    /// evalExtractShebangFlags: the flags of a `#!` first line and its length (the line
    /// feed stays, so line numbers in errors are the user's), or Redis's error.
    static func shebang(_ body: UnsafeRawBufferPointer) -> Result<(Flags, Int), ScriptError> {
        guard body.count >= 2, body[0] == UInt8(ascii: "#"), body[1] == UInt8(ascii: "!") else {
            return .success((.compatible, 0))
        }
        guard let end = body.firstIndex(of: UInt8(ascii: "\n")) else { return .failure(.init("ERR Invalid script shebang")) }
        let line = String(decoding: body[0..<end], as: UTF8.self)
        let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
        guard let engine = parts.first else { return .failure(.init("ERR Invalid engine in script shebang")) }
        guard engine == "#!lua" else { return .failure(.init("ERR Unexpected engine in script shebang: \(engine)")) }
        var flags: Flags = []
        for part in parts.dropFirst() {
            guard part.hasPrefix("flags=") else { return .failure(.init("ERR Unknown lua shebang option: \(part)")) }
            for name in part.dropFirst(6).split(separator: ",", omittingEmptySubsequences: false) {
                guard let flag = Flags.names.first(where: { $0.0 == name })?.1 else {
                    return .failure(.init("ERR Unexpected flag in script shebang: \(name)"))
                }
                flags.insert(flag)
            }
        }
        return .success((flags, end))
    }

    /// The compiled script `sha`, compiling `body` if this interpreter has not yet.
    func compile(sha: String, body: UnsafeRawBufferPointer) -> Result<Compiled, ScriptError> {
        if let known = scripts[sha] { return .success(known) }
        let flags: Flags
        let skip: Int
        switch Self.shebang(body) {
        case .failure(let error): return .failure(error)
        case .success(let parsed): (flags, skip) = parsed
        }
        let name = Array("f_\(sha)".utf8CString)
        var error = vk_buf()
        defer { vk_buf_free(&error) }
        let status = name.withUnsafeBufferPointer { n in
            vk_lua_define(lua, n.baseAddress, body.baseAddress.map { $0.assumingMemoryBound(to: CChar.self) + skip },
                          body.count - skip, &error)
        }
        guard status == 0 else {
            let message = error.data.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: error.len), as: UTF8.self) } ?? ""
            return .failure(.init("ERR Error compiling script (new function): \(message)"))
        }
        let script = Compiled(flags: flags, name: name, mayCall: Self.bodyMayCall(body),
                              declaredKeysOnly: ScriptKeyScan.touchesOnlyDeclaredKeys(body, table: CommandTable.shared))
        if flags.contains(.allowCrossSlotKeys) {
            // EVALSHA of it is routed before any interpreter looks at its flags.
            Array(sha.utf8).withUnsafeBytes { ScriptsAcrossShards.shared.learn(ScriptsAcrossShards.key(sha: $0)) }
            ScriptsAcrossShards.shared.learn(ScriptsAcrossShards.key(body: body))
        }
        scripts[sha] = script
        return .success(script)
    }

    // MARK: Running

    /// Runs a compiled script on this worker's shard (`ctx`), answering into `out`. Its
    /// writes form one replication group (MULTI/EXEC to replicas when there are several).
    /// `function`: a library function (FCALL), named by `sha`, run in the functions interpreter.
    func execute(_ script: Compiled, sha: String, function: Bool = false, readOnlyCommand: Bool, ctx: ShardContext,
                 args: Arguments, numkeys: Int, _ out: inout ByteBuffer) {
        // A replica whose link is down with replica-serve-stale-data no: a script without
        // shebang meets scriptPrepareForRun's MASTERDOWN, one with a shebang (a function)
        // processCommand's unless it says allow-stale (evalGetCommandFlags drops CMD_STALE).
        let stale = AdmissionRule.staleReplica.isArmed(run.worker.context)
        if script.flags.contains(.compatible) {
            if stale {
                out.writeError(string: AdmissionRule.staleReplica.error)
                return
            }
        } else {
            let writes = !script.flags.contains(.noWrites)
            // A shebang script without no-writes is a write command for processCommand's
            // refusals (Redis 7.0's evalGetCommandFlags), and *_RO may not run it.
            if writes, let refusal = run.commandWriteRefusal() {
                out.writeError(string: refusal)
                return
            }
            if stale && !script.flags.contains(.allowStale) {
                out.writeError(string: AdmissionRule.staleReplica.error)
                return
            }
            if writes && readOnlyCommand {
                out.writeError("ERR Can not execute a script with write flag using *_ro command.")
                return
            }
        }
        let w = run.worker
        var marks = ScriptRerun.Marks()
        if run.mayAbandon {
            // A flagged script may reach other shards: a run that may be abandoned goes to the
            // multi-shard path before it starts (an EVALSHA whose flag routing did not know).
            if script.flags.contains(.allowCrossSlotKeys) {
                ScriptRerun.abandoned(args, sha: sha, function: function, into: &out)
                return
            }
            // One that names only its declared keys cannot be abandoned once it has done
            // anything visible (ScriptKeyScan): nothing to roll back.
            if !script.declaredKeysOnly { marks.take(ctx.shard) }
        }
        // A script spanning shards writes in its operation's group, closed by the coordinator.
        let ownGroup = run.lockedShards == nil
        let tag = !ownGroup ? ctx.tag : w.propagation != nil ? w.newPropagationTag() : 0
        run.begin(ctx: ctx, readOnly: readOnlyCommand || script.flags.contains(.noWrites), tag: tag,
                  savesForUndo: !script.declaredKeysOnly)
        pointers.set(args, from: 3, count: args.count - 3)
        let context = Unmanaged.passUnretained(run).toOpaque()
        reply.len = 0
        let keys = pointers.pointers
        let lens = pointers.lengths
        if function, let functionsLua {
            run.watchForBusy(functionsLua, name: sha, function: true)
        } else {
            run.watchForBusy(lua, name: sha, function: false)
        }
        _ = script.name.withUnsafeBufferPointer { name in
            if function, let functionsLua {
                return vk_lua_call_function(functionsLua, name.baseAddress, context,
                                            Int32(numkeys), keys, lens,
                                            Int32(args.count - 3 - numkeys), keys + numkeys, lens + numkeys,
                                            Int32(ctx.resp.rawValue), &reply)
            }
            return sha.withCString { shaText in
                vk_lua_run(lua, name.baseAddress, shaText, context,
                           Int32(numkeys), keys, lens,
                           Int32(args.count - 3 - numkeys), keys + numkeys, lens + numkeys,
                           Int32(ctx.resp.rawValue), &reply)
            }
        }
        run.end()
        if run.mayAbandon && (run.abandoned || run.saved)
            && marks.settle(run, ctx.shard, tag: tag, args, sha: sha, function: function, into: &out) {
            return  // abandoned: nothing of this run may be seen, its reply is the rerun marker
        }
        if tag != 0 && ownGroup { w.propagation?.complete(tag: tag) }
        if let data = reply.data { out.append(UnsafeRawBufferPointer(start: data, count: reply.len)) }
    }
}

/// A script-level error reply ("ERR ..." or "NOSCRIPT ..."), as text.
struct ScriptError: Error {
    let text: String
    init(_ text: String) { self.text = text }
}

/// C pointer and length arrays for a script's KEYS and ARGV, grown as needed.
struct ScriptArgumentVector {
    private(set) var pointers: UnsafeMutablePointer<UnsafePointer<CChar>?>
    private(set) var lengths: UnsafeMutablePointer<Int>
    private var capacity = 16

    init() {
        pointers = .allocate(capacity: capacity)
        lengths = .allocate(capacity: capacity)
    }

    mutating func set(_ args: Arguments, from first: Int, count: Int) {
        if count > capacity {
            pointers.deallocate()
            lengths.deallocate()
            capacity = max(count, capacity * 2)
            pointers = .allocate(capacity: capacity)
            lengths = .allocate(capacity: capacity)
        }
        for i in 0..<count {
            let a = args[first + i]
            pointers[i] = a.baseAddress?.assumingMemoryBound(to: CChar.self) ?? emptyCString
            lengths[i] = a.count
        }
    }
}

/// A valid pointer for empty arguments (a zero-length span may have no base address).
nonisolated(unsafe) private let emptyCString: UnsafePointer<CChar> = {
    let p = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
    p.pointee = 0
    return UnsafePointer(p)
}()

/// redis.log: Redis's levels are Log's.
private let scriptLogHook: vk_lua_log_hook = { level, message, length in
    guard let message else { return }
    let text = String(decoding: UnsafeRawBufferPointer(start: message, count: length), as: UTF8.self)
    switch level {
    case 0: Log.debug(text)
    case 1: Log.verbose(text)
    case 2: Log.notice(text)
    default: Log.warning(text)
    }
}

/// redis.call/pcall: the run in progress executes the command (ScriptRun.swift).
private let scriptCommandHook: vk_lua_command_hook = { context, resp, argc, argv, lens, reply, replyLength in
    let run = Unmanaged<ScriptRun>.fromOpaque(context!).takeUnretainedValue()
    return run.call(resp: resp, argc: Int(argc), argv: argv!, lens: lens!, reply: reply!, replyLength: replyLength!)
}
