import RESP
import Shards
import Values

/// What XREAD and XREADGROUP wait for when they block (the generic machinery is
/// `BlockedKeys` and `BlockedClients.swift`). A ready key is judged as it is now, as
/// Redis 7.0's handleClientsBlockedOnKeys judges it: whatever made it ready (XADD, XGROUP
/// DESTROY, a RENAME/MOVE/COPY/SWAPDB that put a stream there, a deletion).
enum StreamWait: BlockingRequest {
    /// XREAD: entries after `after` (the `$` of the call already resolved).
    case xread(after: StreamID, count: Int)
    /// XREADGROUP with `>`: entries the group has not delivered yet.
    case xreadgroup(group: [UInt8], consumer: [UInt8], count: Int, noack: Bool)

    func serve(_ waiter: BlockedClient, key: UnsafeRawBufferPointer, shard: Shard, _ out: inout ByteBuffer) -> Bool {
        let stream = shard.lookup(db: waiter.db, key: key)?.object as? Stream
        switch self {
        case .xread(let after, let count):
            // Not a stream (yet, or any more): XREAD keeps waiting.
            guard let s = stream else { return false }
            return StreamReads.serveXRead(s, key: key, after: after, count: count, &out)
        case .xreadgroup(let group, let consumer, let count, let noack):
            // Redis 7.0's unblockDeletedStreamReadgroupClients: the key was deleted or is no stream now.
            guard let s = stream else {
                out.writeError("UNBLOCKED the stream key no longer exists")
                return true
            }
            return group.withUnsafeBytes { groupName in
                // The stream there now may be another one (RENAME, SWAPDB...): its group by that name.
                guard let g = s.group(named: groupName) else {
                    out.writeError("NOGROUP the consumer group this client was blocked on no longer exists")
                    return true
                }
                let ctx = ShardContext(shard: shard, db: waiter.db, resp: waiter.resp, clientID: waiter.clientID)
                return consumer.withUnsafeBytes { name in
                    StreamGroupCommands.serveNew(ctx, s, g, consumerName: name, key: key, groupName: groupName,
                                                 count: count, noack: noack, &out)
                }
            }
        }
    }
}
