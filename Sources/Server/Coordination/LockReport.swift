import Shards

/// DEBUG LOCKS: each worker's view of the cross-shard machinery, as text (its shard's lock
/// table, the commands waiting on it, numbered requests not queued yet, grants not acted
/// on, its operations in flight and its clients still owed replies). For an operator, or a
/// test that found clients without replies, to tell a lock never released from a request
/// never granted or a waiting command never resumed. Read on the worker's own thread.
extension Worker {
    func lockReport() -> [String] {
        var lines: [String] = []
        var head = "worker \(index)"
        if let shard { head += " shard \(shard.index)" }
        head += ": waiting commands \(waiting.queue.count), chained requests pending \(chainedRequestsPending.count)"
        head += ", ready keys held \(readyKeysHeld), numbered requests not queued \(orderedLocks.orders.count)"
        head += " (passes waited \(orderedLocks.passesWaited)), grants not acted on \(pendingGrants.count - grantsHead)"
        head += ", eager parts waiting \(eagerParts.waitingCount)"
        head += ", acting on grants \(actingOnGrants), floor held \(lockFloorHeld), lock bound \(context.lockOrder.safeBound()) (here \(context.lockOrder.safeBound(forShardOf: index)))"
        lines.append(head)
        if let shard { lines += shard.locks.describe().map { "  " + $0 } }
        for w in waiting.queue.prefix(20) {
            lines.append("  waiting \(table.specs[Int(w.command)].name) client \(w.client) origin \(w.origin) db \(w.db)")
        }
        if !orderedLocks.isEmpty { lines.append("  numbered not queued: \(orderedLocks.orders.prefix(20))") }
        for op in operations.live.prefix(40) {
            var line = "  operation slot \(op.slot) client \(op.clientID) command \(op.command >= 0 ? table.specs[op.command].name : "-")"
            line += " transaction \(op.transaction) grants pending \(op.grantsPending) remaining \(op.remaining)"
            line += " deferred \(op.deferred) chained \(op.chained) shared \(op.readsOnly) locked \(op.lock != nil)"
            if let lock = op.lock, lock.holders > 1 || !lock.joinedSlots.isEmpty {
                line += " group of \(lock.holders) (first slot \(lock.operationSlot))"
            }
            lines.append(line)
        }
        for c in clients.open where c.hasOutstandingReplies {
            lines.append("  client \(c.id) owed replies: \(c.unfilledTickets) unfilled, awaiting turn \(c.operationAwaitingTurn.map(String.init) ?? "-"), chained in flight \(c.chainedInFlight) (in steps \(c.chainedStepsInFlight)\(c.pausedForSteps ? ", next command waits for them" : ""))")
        }
        return lines
    }
}
