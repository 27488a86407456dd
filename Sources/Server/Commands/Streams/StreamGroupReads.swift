import RESP
import Shards
import Values

/// XREADGROUP's shard side: checks a stream's group first, then reads, moving the group's
/// last ID and pending entries (the client side is in StreamReads.swift).
extension StreamGroupCommands {
    // MARK: XREADGROUP (shard side)

    static let dollarInGroup: StaticString = "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."

    /// Redis's per-stream checks of xreadCommand, in its order: type, group, then the ID.
    /// Returns the stream, group and ID (nil: `>`), or nil after writing the error.
    static func checkGroupRead(_ ctx: ShardContext, key: UnsafeRawBufferPointer, idArg: UnsafeRawBufferPointer,
                               group: UnsafeRawBufferPointer, _ out: inout ByteBuffer) -> (Stream, StreamGroup, StreamID?)? {
        guard let (s, g) = streamAndGroup(ctx, key: key, group: group, suffix: " in XREADGROUP with GROUP option", &out)
        else { return nil }
        if isDollar(idArg) { out.writeError(dollarInGroup); return nil }
        if idArg.count == 1 && idArg[0] == UInt8(ascii: ">") { return (s, g, nil) }
        guard let id = StreamCommands.strictID(idArg, &out) else { return nil }
        return (s, g, id)
    }

    /// `__xreadgroup_check key id group`: `+OK` or the error the stream would give
    /// (XREADGROUP over several streams checks them all before serving any).
    static func xreadgroupCheckPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard checkGroupRead(ctx, key: args[1], idArg: args[2], group: args[3], &out) != nil else { return }
        out.writeOK()
    }

    /// `__xreadgroup key id group consumer count noack deadline`: `*2 key entries`, a null
    /// array (nothing new), or a waiter and `+BLOCKED`.
    static func xreadgroupPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let deadline = BlockingTurn.parse(args[7])
        // Only the blocking form (__xreadgroup) was counted as sent (`__xreadgroup_now` is
        // not flagged blocking), and it alone is counted here.
        if deadline.mayBlock { ctx.blockingPartArrived() }
        let key = args[1], groupName = args[3], consumerName = args[4]
        guard let (s, g, history) = checkGroupRead(ctx, key: key, idArg: args[2], group: groupName, &out) else { return }
        let count = parseStrictInt(args[5]) ?? 0
        let noack = args[6].count == 1 && args[6][0] == UInt8(ascii: "1")
        if let after = history {
            let consumer = seenConsumer(ctx, g, key: key, groupName: groupName, name: consumerName, noack: noack)
            serveHistory(ctx, s, consumer, key: key, after: after, count: count, &out)
            return
        }
        // A blocking read comes after the clients already waiting on a key held for them
        // (served in turn order once the blocking parts in flight are in), as the lists' pops.
        let waitsItsTurn = deadline.mayBlock && ctx.shard.blocked.awaitsServing(db: ctx.db, key: key)
        if !waitsItsTurn, serveNew(ctx, s, g, consumerName: consumerName, key: key, groupName: groupName, count: count,
                                   noack: noack, &out) { return }
        if deadline.mayBlock, let sink = ctx.sink {
            ctx.block(StreamReads.xreadgroupPartIndex, on: [Array(key)], sink: sink,
                      request: StreamWait.xreadgroup(group: Array(groupName), consumer: Array(consumerName), count: count,
                                                     noack: noack),
                      deadline: deadline)
            out.append(StreamReads.blockedMarker)
            return
        }
        out.writeNullArray(.resp2)
    }

    /// The reading consumer, created if new, seen now. Redis 7.0 looks it up only for a
    /// stream it serves: a read that finds nothing new (or blocks) neither creates it nor
    /// refreshes its seen-time.
    static func seenConsumer(_ ctx: ShardContext, _ g: StreamGroup, key: UnsafeRawBufferPointer,
                             groupName: UnsafeRawBufferPointer, name: UnsafeRawBufferPointer, noack: Bool) -> StreamConsumer {
        let (consumer, created) = g.consumer(named: name, creatingAt: ctx.shard.now)
        consumer.seenTime = ctx.shard.now
        if created {
            changed(ctx, key)
            ctx.notify(KeyspaceEvent.stream, "xgroup-createconsumer", key)  // streamCreateConsumer
            if noack { propagateConsumerCreation(ctx, key: key, groupName: groupName, consumer: name) }
        }
        return consumer
    }

    /// The consumer's own pending entries after `after` (Redis's
    /// streamReplyWithRangeFromConsumerPEL): each delivered again, or `[id, nil]` if deleted.
    static func serveHistory(_ ctx: ShardContext, _ s: Stream, _ consumer: StreamConsumer, key: UnsafeRawBufferPointer,
                             after: StreamID, count: Int, _ out: inout ByteBuffer) {
        let start = after.successor ?? .max
        let now = ctx.shard.now
        var body = ByteBuffer(capacity: 128)
        var emitted = 0
        var i = consumer.pel.lowerBound(start)
        while i < consumer.pel.count && (count == 0 || emitted < count) {
            let id = consumer.pel.keys[i], nack = consumer.pel.values[i]
            if writeEntry(s, id, &body) {
                nack.deliveryTime = now
                nack.deliveryCount &+= 1
            } else {
                body.writeArrayHeader(2)
                StreamCommands.writeID(id, &body)
                body.writeNullArray(ctx.resp)
            }
            emitted += 1
            i += 1
        }
        if emitted > 0 { changed(ctx, key) }
        out.writeArrayHeader(2)
        out.writeBulk(key)
        out.writeArrayHeader(emitted)
        out.append(body.readable)
    }

    /// Entries after the group's last delivered ID, delivered to `consumer` (Redis's
    /// streamReplyWithRange with a group); false (nothing written) if there are none.
    static func serveNew(_ ctx: ShardContext, _ s: Stream, _ g: StreamGroup, consumerName: UnsafeRawBufferPointer,
                         key: UnsafeRawBufferPointer, groupName: UnsafeRawBufferPointer, count: Int, noack: Bool,
                         _ out: inout ByteBuffer) -> Bool {
        guard s.length > 0, s.lastValidID > g.lastID, let start = g.lastID.successor else { return false }
        let consumer = seenConsumer(ctx, g, key: key, groupName: groupName, name: consumerName, noack: noack)
        let now = ctx.shard.now
        var body = ByteBuffer(capacity: 256)
        var emitted = 0
        var lastIDMoved = false
        s.forEach(from: start, to: .max) { e in
            if e.id > g.lastID {
                s.advance(g, to: e.id)
                lastIDMoved = true
            }
            StreamCommands.writeEntry(e, &body)
            if !noack {
                let nack = g.recordDelivery(e.id, to: consumer, now: now)
                propagateXCLAIM(ctx, key: key, group: g, groupName: groupName, id: e.id, nack: nack)
            }
            emitted += 1
            return count == 0 || emitted < count
        }
        guard emitted > 0 else { return false }
        changed(ctx, key)
        // Without NOACK the XCLAIMs carry LASTID; with it, the group's new position goes alone.
        if noack && lastIDMoved { propagateGroupID(ctx, key: key, group: g, groupName: groupName) }
        out.writeArrayHeader(2)
        out.writeBulk(key)
        out.writeArrayHeader(emitted)
        out.append(body.readable)
        return true
    }
}
