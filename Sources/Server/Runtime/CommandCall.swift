import RESP
import Shards

/// What the command now running on this worker hands to the multi-shard operation it may
/// start: set by dispatch around the handler (`withCall`), taken by `Worker.start`. Handlers
/// start operations deep inside their own helpers; this keeps what dispatch knows about the
/// command (its keys, its bytes, the EXEC it runs in) in one value with one lifetime.
struct CommandCall {
    /// Keys the operation must lock (a cross-shard command's keys), with their shards.
    var locks: [(shard: Int, key: UInt64)] = []
    /// The write to propagate in place of the operation's parts: the command as sent.
    var propagateAs: (db: Int, command: [UInt8])?
    /// Set while a command queued in MULTI runs inside EXEC: the operation it starts joins
    /// that EXEC (its locks, its replication group, its reply).
    var nesting: (transaction: UInt64, slot: Int, item: Int)?
}

extension Worker {
    /// Runs a handler that may start an operation: a write propagates as itself while this
    /// server replicates, and the operation locks `lockingKeysOf`'s keys if given.
    @inline(__always)
    func withCall(_ c: Client, _ args: Arguments, index: UInt16, lockingKeysOf route: CommandTable.Route? = nil,
                  _ body: () -> Void) {
        if propagation != nil, table.specs[Int(index)].flags.contains(.write) {
            var bytes = ByteBuffer(capacity: 64)
            bytes.writeArrayHeader(args.count)
            for i in 0..<args.count { bytes.writeBulk(args[i]) }
            call.propagateAs = (c.db, Array(bytes.readable))
        }
        if let route {
            let last = min(route.lastKeyIndex(argumentCount: args.count), args.count - 1)
            var i = Int(route.firstKey)
            while i <= last {
                call.locks.append((shardOf(args[i]), IntentLocks.lockKey(args[i])))
                i += max(1, Int(route.step))
            }
        }
        body()
        call.locks.removeAll(keepingCapacity: true)
        call.propagateAs = nil
    }

    /// What an operation starting now takes from the running command (once: a second
    /// operation of the same command starts without them).
    func takeCallForOperation() -> (locks: [(shard: Int, key: UInt64)], propagateAs: (db: Int, command: [UInt8])?) {
        defer {
            call.locks.removeAll(keepingCapacity: true)
            call.propagateAs = nil
        }
        return (call.locks, call.propagateAs)
    }
}
