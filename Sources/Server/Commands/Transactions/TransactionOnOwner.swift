import RESP
import Shards

/// EXEC of a transaction whose keys all live on one shard that another worker owns: the
/// whole transaction goes to that worker as one request (`__exec`) and runs there in one
/// go, as EXEC runs inline on its own shard. Nothing else can interleave on the owner's
/// thread, which is all the atomicity one shard needs: no locks, no numbering, no release
/// message. This is the common transaction on a sharded server (keys sharing a {tag} land
/// on one shard; with N workers, N-1 of N clients are on another worker).
///
/// Ordering is a single command's: the request travels in the worker's batch for the
/// owner, behind the client's earlier commands there, and on the owner it waits like a
/// single command while a granted lock may hold one of its keys (every argument is
/// checked as a key, which can only make it wait when it need not) or while the client
/// has queued work there.
///
/// The request's arguments: 1 is a header of 6 bytes per queued command (table index
/// u16, argument count u32, little-endian), then every queued command's arguments.
extension TransactionCommands {
    static let onOwnerSpecs: [CommandSpec] = [
        CommandSpec(part: .execHere, arity: -2, keys: (1, -1, 1), group: "transactions",
                    run: .keyed(execHere, split: nil, crossShard: nil)),
    ]

    private static let headerBytesPerCommand = 6

    /// Sends the transaction to its shard's owner if it fits (every command keyed, with at
    /// least one key, all on one shard of another worker; no WATCH); false otherwise.
    static func runOnOwner(_ w: Worker, _ c: Client, _ tx: TransactionQueue) -> Bool {
        guard c.watchedShards.isEmpty, !tx.commands.isEmpty else { return false }
        var home = -1
        for command in tx.commands {
            let route = w.table.routes[Int(command.index)]
            guard route.kind == .keyed, route.firstKey > 0, !route.mayBlock, command.shard >= 0,
                  w.table.shardHandlers[Int(command.index)] != nil else { return false }
            if home < 0 { home = command.shard } else if home != command.shard { return false }
        }
        guard home >= 0 else { return false }
        let owner = w.context.owner(ofShard: home)
        guard owner != w.index, tx.commands.count <= Int(UInt16.max) else { return false }
        let ticket = c.takeTicket(quick: true)
        w.batch(forWorker: owner).add(command: w.table.index(of: .execHere), db: c.db, resp: c.resp,
                                      transaction: tx, headerBytesPerCommand: headerBytesPerCommand,
                                      sink: ReplySink(kind: .client, index: c.fd, id: c.id, ticket: ticket))
        return true
    }

    /// The owner's side: runs the queued commands in order on this shard, as one
    /// replication group (MULTI ... EXEC to replicas), and answers EXEC's array.
    private static func execHere(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let w = ctx.worker, args.count >= 2, args[1].count % headerBytesPerCommand == 0 else {
            out.writeError("ERR internal transaction request malformed")
            return
        }
        let header = args[1]
        let n = header.count / headerBytesPerCommand
        out.writeArrayHeader(n)
        let tag = w.propagation != nil ? w.newPropagationTag() : 0
        var next = 2
        for i in 0..<n {
            let h = i * headerBytesPerCommand
            let index = UInt16(header[h]) | UInt16(header[h + 1]) << 8
            var count = 0
            for b in 0..<4 { count |= Int(header[h + 2 + b]) << (8 * b) }
            guard next + count <= args.count else { break }  // never: the coordinator wrote both
            let nested = Arguments(base: args.base, spans: args.spans + next, count: count)
            next += count
            let start = out.count
            if let handler = w.table.shardHandlerIfKeyed(index) {
                // No sink: a blocking command acts as its non-blocking form, as inside EXEC.
                CommandTable.run(index, handler, ShardContext(shard: ctx.shard, db: ctx.db, resp: ctx.resp,
                                                              clientID: ctx.clientID),
                                 nested, &out, tag: tag)
            }
            countRun(w, index, reply: UnsafeRawBufferPointer(start: out.base + start, count: out.count - start))
        }
        if tag != 0 { w.propagation?.complete(tag: tag) }
    }
}
