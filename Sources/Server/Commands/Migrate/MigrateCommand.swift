#if canImport(Glibc)
import Glibc
#endif
import RESP
import Shards
import Values

/// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH pw] [AUTH2 user pw]
/// [KEYS key...] (Redis 7.0's migrateCommand), as one operation holding its keys' locks:
/// 1. `__migrate_dump` on each key's shard serializes the keys (DUMP's payload, the TTL left);
/// 2. a thread of its own connects to the target and sends AUTH, SELECT and the RESTOREs
///    (MigrateTransfer), while the locks make other clients' commands on the keys wait and
///    no worker blocks on the network; its outcome comes back to this worker through the
///    sequencer (`SequencerEvent.toWorker`);
/// 3. without COPY, `__migrate_del` deletes the keys the target stored, and replicas get
///    DEL for them, as Redis rewrites MIGRATE. Connections to targets are cached as in Redis
///    (MigrateConnections).
enum MigrateCommand {
    static let specs: [CommandSpec] = [
        CommandSpec("migrate", arity: -6, flags: [.write, .movableKeys], keys: (3, 3, 1), group: "generic",
                    summary: "Moves keys to another server (DUMP here, RESTORE there, DEL here).",
                    run: .client(migrate))
            .described(since: "2.6.0", acl: [.keyspace, .write, .slow, .dangerous], tips: ["nondeterministic_output"],
                       keySpecs: [KeySpec(["RW", "access", "delete"], index: 3),
                                  KeySpec(["RW", "access", "delete", "incomplete"], index: -2, lastKey: -1, keyword: "KEYS")],
                       arguments: [
                           .string("host"), .integer("port"),
                           .oneOf("key_or_empty_string", [.key("key"), .token("", name: "empty_string")]),
                           .integer("destination-db"), .integer("timeout"),
                           .token("COPY").optional, .token("REPLACE").optional,
                           .oneOf("authentication", [
                               .string("password", token: "AUTH").optional,
                               .block("username_password", token: "AUTH2", [.string("username"), .string("password")]).optional,
                           ]).optional,
                           .key("key", spec: 1, token: "KEYS").optional.multiple,
                       ]),
        CommandSpec(part: .migrateDump, arity: -2, group: "generic",
                    run: .keyed(dumpPart, split: nil, crossShard: nil)),
        CommandSpec(part: .migrateDelete, propagation: .marked, arity: -2, group: "generic",
                    run: .keyed(deletePart, split: nil, crossShard: nil)),
    ]

    private static let dumpIndex = CommandTable.shared.index(of: .migrateDump)
    private static let deleteIndex = CommandTable.shared.index(of: .migrateDelete)

    /// What the operation carries between its steps (and to and from the thread).
    final class State: @unchecked Sendable {
        var request: MigrateTransfer.Request?
        var outcome = MigrateTransfer.Outcome()
    }

    static func migrate(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        var copy = false, replace = false
        var username: [UInt8]?, password: [UInt8]?
        var firstKey = 3, keyCount = 1
        var j = 6
        while j < args.count {
            let more = args.count - 1 - j
            if argIs(args[j], "copy") {
                copy = true
            } else if argIs(args[j], "replace") {
                replace = true
            } else if argIs(args[j], "auth") {
                guard more > 0 else { out.writeError(Errors.syntax); return }
                j += 1
                password = Array(args[j])
            } else if argIs(args[j], "auth2") {
                guard more >= 2 else { out.writeError(Errors.syntax); return }
                username = Array(args[j + 1])
                password = Array(args[j + 2])
                j += 2
            } else if argIs(args[j], "keys") {
                guard args[3].isEmpty else {
                    out.writeError("ERR When using MIGRATE KEYS option, the key argument must be set to the empty string")
                    return
                }
                firstKey = j + 1
                keyCount = args.count - j - 1
                break
            } else {
                out.writeError(Errors.syntax)
                return
            }
            j += 1
        }
        guard var timeout = parseStrictInt(args[5]), let db = parseStrictInt(args[4]) else {
            out.writeError(Errors.notInteger)
            return
        }
        if timeout <= 0 { timeout = 1000 }
        let host = args.string(1)
        let port = Int32(truncatingIfNeeded: atoi(host: args[2]))

        let state = State()
        // `args` lives only during this call: the steps after it use these copies.
        let keys = (firstKey..<(firstKey + keyCount)).map { Array(args[$0]) }
        var shardOrder: [Int] = []
        var positionsOfShard: [Int: [Int]] = [:]
        for (position, i) in (firstKey..<(firstKey + keyCount)).enumerated() {
            let s = w.shardOf(args[i])
            if positionsOfShard[s] == nil { shardOrder.append(s) }
            positionsOfShard[s, default: []].append(position)
            call.locks.append((s, IntentLocks.lockKey(args[i])))
        }
        // Replicas get DEL for what left (the delete parts record it), never MIGRATE itself.
        call.propagateAs = nil
        let worker = w
        let op = MultiShardOperation(client: c) { op, out in
            switch op.state {
            case 0:
                // The keys as the parts serialized them, back in argument order.
                var found: [Int: (ttl: Int, payload: [UInt8])] = [:]
                for (p, s) in shardOrder.enumerated() {
                    guard let blob = SortAcrossShards.bulkBody(op.reply(p)) else { out.append(op.reply(p)); return true }
                    var r = BlobReader(blob)
                    for position in positionsOfShard[s]! where r.byte() == 1 {
                        let ttl = r.int()
                        found[position] = (ttl, r.bytes())
                    }
                }
                let items = keys.indices.compactMap { i in
                    found[i].map { MigrateTransfer.Item(key: keys[i], ttl: $0.ttl, payload: $0.payload) }
                }
                guard !items.isEmpty else { out.append("+NOKEY\r\n"); return true }
                let request = MigrateTransfer.Request(host: host, port: port, timeoutMs: timeout, db: db, username: username,
                                                      password: password, replace: replace, items: items)
                state.request = request
                op.state = 1
                op.remaining += 1  // the transfer, answered through the sequencer
                let context = worker.context, home = worker.index
                let box = OperationBox(op)
                ServerMain.spawnThread {
                    let outcome = MigrateTransfer.run(request)
                    context.postToSequencer(.toWorker(home, { w in
                        let op = box.op
                        guard w.operations[op.slot] === op else { return }
                        state.outcome = outcome
                        op.remaining -= 1
                        w.continueOperation(slot: op.slot, op)
                    }))
                }
                return false
            case 1:
                let stored = state.outcome.stored.map { state.request!.items[$0].key }
                if !copy && !stored.isEmpty {
                    op.state = 2
                    var byShard: [Int: [[UInt8]]] = [:]
                    for k in stored { byShard[k.withUnsafeBytes { worker.shardOf($0) }, default: []].append(k) }
                    let name = op.store(string: InternalCommand.migrateDelete.name)
                    for (s, keys) in byShard.sorted(by: { $0.key < $1.key }) {
                        op.addPart(shard: s, command: deleteIndex, spanIndices: [name] + keys.map { k in k.withUnsafeBytes { op.store($0) } })
                    }
                    return false
                }
                fallthrough
            default:
                if let error = state.outcome.error { out.writeError(string: error) } else { out.writeOK() }
                return true
            }
        }
        op.forceLocks = true    // the keys stay locked while the thread talks to the target
        op.pausesClient = true
        let name = op.store(string: InternalCommand.migrateDump.name)
        for s in shardOrder {
            op.addPart(shard: s, command: dumpIndex, spanIndices: [name] + positionsOfShard[s]!.map { op.store(args[firstKey + $0]) })
        }
        w.start(op, client: c, call: &call, out: &out)
    }

    /// C's atoi on the port argument: leading blanks, a sign, digits, anything after ignored.
    static func atoi(host p: UnsafeRawBufferPointer) -> Int {
        var bytes = Array(p)
        bytes.append(0)
        return bytes.withUnsafeBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { Int(Glibc.atoi($0.baseAddress!)) }
        }
    }

    // MARK: Parts

    /// `__migrate_dump key...` (lookupKeyRead each): per key 0 (missing) or 1, the TTL left in
    /// milliseconds (0: none; at least 1) and DUMP's payload, in one bulk blob.
    static func dumpPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var blob = BlobWriter()
        for i in 1..<args.count {
            guard let e = ctx.shard.lookupForRead(db: ctx.db, key: args[i]) else { blob.byte(0); continue }
            let payload: [UInt8]
            if e.kind == .string {
                payload = RDBWriter.dumpPayload(string: e.value, object: nil)
            } else if let value = e.object as? (any ValueType) {
                payload = RDBWriter.dumpPayload(string: nil, object: value)
            } else {
                blob.byte(0)
                continue
            }
            blob.byte(1)
            blob.int(e.expireAt == 0 ? 0 : max(1, Int(e.expireAt - ctx.shard.now)))
            payload.withUnsafeBytes { blob.bytes($0) }
        }
        out.writeBulk(blob.data)
    }

    /// `__migrate_del key...`: deletes the keys the target stored; replicas get DEL.
    static func deletePart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var deleted: [PropagatedArgument] = [.text("DEL")]
        for i in 1..<args.count where ctx.shard.delete(db: ctx.db, key: args[i]) {
            ctx.notify(KeyspaceEvent.generic, "del", args[i])
            deleted.append(.bytes(args[i]))
        }
        if deleted.count > 1 && ctx.replicating { ctx.propagate(deleted) }
        out.writeInteger(deleted.count - 1)
    }
}

/// An operation handed to the transfer thread, which only sends it back to its worker.
final class OperationBox: @unchecked Sendable {
    let op: MultiShardOperation
    init(_ op: MultiShardOperation) { self.op = op }
}
