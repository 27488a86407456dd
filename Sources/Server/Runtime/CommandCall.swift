import RESP
import Shards

/// What dispatch knows about the command it runs, for the multi-shard operation its handler
/// may start (its keys, its bytes, the EXEC it runs in). Dispatch builds one per client or
/// cross-shard handler and passes it down (`inout`: the first operation takes what it
/// needs), through the handler's helpers, to `Worker.start`. Nothing of it is kept on the
/// worker: a command's call lives exactly as long as its handler runs.
struct CommandCall {
    /// The EXEC a command queued in MULTI runs in: its operation's slot, and the command's
    /// place among the replies.
    typealias Nesting = (transaction: UInt64, slot: Int, item: Int)

    /// Keys the operation must lock (a cross-shard command's keys), with their shards.
    var locks: [(shard: Int, key: UInt64)] = []
    /// The write to propagate in place of the operation's parts: the command as sent.
    var propagateAs: (db: Int, command: [UInt8])?
    /// Set while a command queued in MULTI runs inside EXEC: the operation it starts joins
    /// that EXEC (its locks, its replication group, its reply).
    var nesting: Nesting?

    init(nesting: Nesting? = nil) {
        self.nesting = nesting
    }

    /// What an operation starting now takes from the command (once: a second operation of
    /// the same command starts without them).
    mutating func takeForOperation() -> (locks: [(shard: Int, key: UInt64)], propagateAs: (db: Int, command: [UInt8])?) {
        defer {
            locks = []
            propagateAs = nil
        }
        return (locks, propagateAs)
    }
}

extension Worker {
    /// The call of a command about to run: a write propagates as itself while this server
    /// replicates, and the operation locks `lockingKeysOf`'s keys if given.
    @inline(__always)
    func commandCall(_ c: Client, _ args: Arguments, index: UInt16, lockingKeysOf route: CommandTable.Route? = nil,
                     nesting: CommandCall.Nesting? = nil) -> CommandCall {
        var call = CommandCall(nesting: nesting)
        if propagation != nil, table.specs[Int(index)].flags.contains(.write) {
            var bytes = ByteBuffer(capacity: 64)
            bytes.writeArrayHeader(args.count)
            for i in 0..<args.count { bytes.writeBulk(args[i]) }
            call.propagateAs = (c.db, Array(bytes.readable))
        }
        if let route {
            call.locks = lockListScratch  // its capacity, given back by start()
            lockListScratch = []
            let last = min(route.lastKeyIndex(argumentCount: args.count), args.count - 1)
            var i = Int(route.firstKey)
            while i <= last {
                call.locks.append((shardOf(args, i), IntentLocks.lockKey(args[i])))
                i += max(1, Int(route.step))
            }
        }
        return call
    }
}
