import RESP
import Shards
import Values

/// XPENDING, XCLAIM and XAUTOCLAIM: a group's pending entries, read and moved between consumers.
extension StreamGroupCommands {
    // MARK: XPENDING

    /// XPENDING key group [[IDLE min-idle] start end count [consumer]]
    static func xpending(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let argc = args.count
        guard argc == 3 || (argc >= 6 && argc <= 9) else { out.writeError(Errors.syntax); return }
        var start = StreamID.zero, end = StreamID.max
        var count = 0, minIdle = 0
        var consumerName: UnsafeRawBufferPointer?
        if argc >= 6 {
            var startIndex = 3
            if argIs(args[3], "idle") {
                guard let n = parseStrictInt(args[4]) else { out.writeError(Errors.notInteger); return }
                minIdle = n
                guard argc >= 8 else { out.writeError(Errors.syntax); return }
                startIndex += 2
            }
            guard let n = parseStrictInt(args[startIndex + 2]) else { out.writeError(Errors.notInteger); return }
            count = max(n, 0)
            guard let (first, startEx) = StreamCommands.intervalID(args[startIndex], missingSeq: 0, &out) else { return }
            start = first
            if startEx {
                guard let next = start.successor else { out.writeError(invalidStartID); return }
                start = next
            }
            guard let (last, endEx) = StreamCommands.intervalID(args[startIndex + 1], missingSeq: .max, &out) else { return }
            end = last
            if endEx {
                guard let prev = end.predecessor else { out.writeError(invalidEndID); return }
                end = prev
            }
            if startIndex + 3 < argc { consumerName = args[startIndex + 3] }
        }
        guard let (_, g) = streamAndGroup(ctx, key: args[1], group: args[2], &out) else { return }
        let now = ctx.shard.now
        if argc == 3 {
            writePendingSummary(g, ctx.resp, &out)
            return
        }
        var pel = g.pel
        if let name = consumerName {
            guard let c = g.consumer(named: name) else { out.writeArrayHeader(0); return }
            pel = c.pel
        }
        var body = ByteBuffer(capacity: 128)
        var emitted = 0
        var i = pel.lowerBound(start)
        while count > 0 && i < pel.count && pel.keys[i] <= end {
            let id = pel.keys[i], nack = pel.values[i]
            i += 1
            if minIdle != 0 && now &- nack.deliveryTime < Int64(minIdle) { continue }
            emitted += 1
            count -= 1
            body.writeArrayHeader(4)
            StreamCommands.writeID(id, &body)
            body.writeBulk(nack.consumer?.name ?? [])
            body.writeInteger(Int(max(now &- nack.deliveryTime, 0)))
            body.writeInteger(Int(nack.deliveryCount))
        }
        out.writeArrayHeader(emitted)
        out.append(body.readable)
    }

    private static func writePendingSummary(_ g: StreamGroup, _ resp: RESPVersion, _ out: inout ByteBuffer) {
        out.writeArrayHeader(4)
        out.writeInteger(g.pel.count)
        guard let first = g.pel.keys.first, let last = g.pel.keys.last else {
            out.writeNull(resp)
            out.writeNull(resp)
            out.writeNullArray(resp)
            return
        }
        StreamCommands.writeID(first, &out)
        StreamCommands.writeID(last, &out)
        let owners = g.consumers.filter { !$0.pel.isEmpty }
        out.writeArrayHeader(owners.count)
        for c in owners {
            out.writeArrayHeader(2)
            out.writeBulk(c.name)
            out.writeBulkDecimal(c.pel.count)
        }
    }

    // MARK: XCLAIM

    /// XCLAIM key group consumer min-idle-time id... [IDLE ms] [TIME ms] [RETRYCOUNT n] [FORCE] [JUSTID] [LASTID id]
    static func xclaim(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let key = args[1], groupName = args[2]
        guard let (s, g) = streamAndGroup(ctx, key: key, group: groupName, &out) else { return }
        guard var minIdle = parseStrictInt(args[4]) else {
            out.writeError("ERR Invalid min-idle-time argument for XCLAIM"); return
        }
        minIdle = max(minIdle, 0)
        var ids: [StreamID] = []
        var j = 5
        while j < args.count, let id = StreamCommands.parseID(args[j], missingSeq: 0, strict: true) {
            ids.append(id)
            j += 1
        }
        let now = ctx.shard.now
        var deliveryTime: Int64 = -1
        var retryCount: Int64 = -1
        var force = false, justID = false
        var lastID = StreamID.zero
        while j < args.count {
            let more = args.count - 1 - j
            let opt = args[j]
            if argIs(opt, "force") {
                force = true
            } else if argIs(opt, "justid") {
                justID = true
            } else if argIs(opt, "idle") && more > 0 {
                j += 1
                guard let n = parseStrictInt(args[j]) else { out.writeError("ERR Invalid IDLE option argument for XCLAIM"); return }
                // Wraps as Redis's C does; the clamp below keeps the result sane.
                deliveryTime = now &- Int64(n)
            } else if argIs(opt, "time") && more > 0 {
                j += 1
                guard let n = parseStrictInt(args[j]) else { out.writeError("ERR Invalid TIME option argument for XCLAIM"); return }
                deliveryTime = Int64(n)
            } else if argIs(opt, "retrycount") && more > 0 {
                j += 1
                guard let n = parseStrictInt(args[j]) else {
                    out.writeError("ERR Invalid RETRYCOUNT option argument for XCLAIM"); return
                }
                retryCount = Int64(n)
            } else if argIs(opt, "lastid") && more > 0 {
                j += 1
                guard let id = StreamCommands.strictID(args[j], &out) else { return }
                lastID = id
            } else {
                out.writeError(quoting: opt, "ERR Unrecognized XCLAIM option '", "'")
                return
            }
            j += 1
        }
        var propagateLastID = false
        if lastID > g.lastID {
            g.lastID = lastID
            propagateLastID = true
            changed(ctx, key)
        }
        // A bogus time (negative, or in the future) means now, as does none.
        if deliveryTime < 0 || deliveryTime > now { deliveryTime = now }

        var claimer: StreamConsumer?
        var body = ByteBuffer(capacity: 128)
        var claimed = 0
        for id in ids {
            var nack = g.pel[id]
            // A deleted entry leaves the PEL (and replicas are told so).
            guard s.contains(id) else {
                if let gone = nack {
                    propagateXCLAIM(ctx, key: key, group: g, groupName: groupName, id: id, nack: gone)
                    propagateLastID = false
                    g.acknowledge(id)
                    changed(ctx, key)
                }
                continue
            }
            if force && nack == nil {
                let created = StreamNACK(deliveryTime: now, deliveryCount: 1, consumer: nil)
                g.pel.insert(id, created)
                nack = created
            }
            guard let n = nack else { continue }
            if n.consumer != nil && minIdle != 0 && now &- n.deliveryTime < Int64(minIdle) { continue }
            let consumer = claimer ?? lazyConsumer(ctx, g, key: key, name: args[3])
            claimer = consumer
            g.transfer(id, n, to: consumer)
            n.deliveryTime = deliveryTime
            if retryCount >= 0 {
                n.deliveryCount = retryCount
            } else if !justID {
                n.deliveryCount &+= 1
            }
            if justID {
                StreamCommands.writeID(id, &body)
            } else {
                _ = writeEntry(s, id, &body)
            }
            claimed += 1
            propagateXCLAIM(ctx, key: key, group: g, groupName: groupName, id: id, nack: n)
            propagateLastID = false
            changed(ctx, key)
        }
        if propagateLastID { propagateGroupID(ctx, key: key, group: g, groupName: groupName) }
        preventPropagation(ctx)
        out.writeArrayHeader(claimed)
        out.append(body.readable)
    }

    /// The claiming consumer, looked up (seen now) or created at the first entry it claims:
    /// in Redis 7.0 a claim that takes nothing leaves the consumers as they were.
    static func lazyConsumer(_ ctx: ShardContext, _ g: StreamGroup, key: UnsafeRawBufferPointer,
                             name: UnsafeRawBufferPointer) -> StreamConsumer {
        let (consumer, created) = g.consumer(named: name, creatingAt: ctx.shard.now)
        consumer.seenTime = ctx.shard.now
        if created {
            changed(ctx, key)
            ctx.notify(KeyspaceEvent.stream, "xgroup-createconsumer", key)  // streamCreateConsumer
        }
        return consumer
    }

    // MARK: XAUTOCLAIM

    /// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
    static func xautoclaim(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let key = args[1], groupName = args[2]
        guard var minIdle = parseStrictInt(args[4]) else {
            out.writeError("ERR Invalid min-idle-time argument for XAUTOCLAIM"); return
        }
        minIdle = max(minIdle, 0)
        guard let (first, startEx) = StreamCommands.intervalID(args[5], missingSeq: 0, &out) else { return }
        var start = first
        if startEx {
            guard let next = start.successor else { out.writeError(invalidStartID); return }
            start = next
        }
        var count = 100
        var justID = false
        var j = 6
        while j < args.count {
            let more = args.count - 1 - j
            if argIs(args[j], "count") && more > 0 {
                // Redis's getRangeLongFromObjectOrReply(1, LONG_MAX / max(sizeof(streamID), attempts factor)).
                guard let n = parseStrictInt(args[j + 1]), n >= 1, n <= Int.max / 16 else {
                    out.writeError("ERR COUNT must be > 0"); return
                }
                count = n
                j += 1
            } else if argIs(args[j], "justid") {
                justID = true
            } else {
                out.writeError(Errors.syntax)
                return
            }
            j += 1
        }
        guard let (s, g) = streamAndGroup(ctx, key: key, group: groupName, &out) else { return }
        let now = ctx.shard.now
        var claimer: StreamConsumer?
        var attempts = count * 10
        var body = ByteBuffer(capacity: 128)
        var claimed = 0
        var deleted: [StreamID] = []
        var i = g.pel.lowerBound(start)
        while attempts > 0 && count > 0 && i < g.pel.count {
            attempts -= 1
            let id = g.pel.keys[i], nack = g.pel.values[i]
            guard s.contains(id) else {
                propagateXCLAIM(ctx, key: key, group: g, groupName: groupName, id: id, nack: nack)
                g.acknowledge(id)  // the PEL shifts down: `i` is now the next entry
                changed(ctx, key)
                deleted.append(id)
                count -= 1
                continue
            }
            i += 1
            if minIdle != 0 && now &- nack.deliveryTime < Int64(minIdle) { continue }
            let consumer = claimer ?? lazyConsumer(ctx, g, key: key, name: args[3])
            claimer = consumer
            g.transfer(id, nack, to: consumer)
            nack.deliveryTime = now
            if !justID { nack.deliveryCount &+= 1 }
            if justID {
                StreamCommands.writeID(id, &body)
            } else {
                _ = writeEntry(s, id, &body)
            }
            claimed += 1
            count -= 1
            propagateXCLAIM(ctx, key: key, group: g, groupName: groupName, id: id, nack: nack)
            changed(ctx, key)
        }
        preventPropagation(ctx)
        // The cursor: the entry after the last one examined, 0-0 at the end.
        out.writeArrayHeader(3)
        StreamCommands.writeID(i < g.pel.count ? g.pel.keys[i] : .zero, &out)
        out.writeArrayHeader(claimed)
        out.append(body.readable)
        out.writeArrayHeader(deleted.count)
        for id in deleted { StreamCommands.writeID(id, &out) }
    }
}
