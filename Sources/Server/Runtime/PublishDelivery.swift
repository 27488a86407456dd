import RESP
import Shards

/// Messages published on one worker for the subscribers of another, in one loop pass: one
/// ring message per target worker however many PUBLISHes (and keyspace notifications) the
/// pass made. The target delivers each entry to its own subscribers and, when some entry
/// waits for a count (a PUBLISH's reply), sends the batch back with the counts filled in.
///
/// Owned by whichever worker last popped it from a ring, as `Batch`.
final class PublishBatch: @unchecked Sendable {
    struct Entry {
        var kind: SubscriptionKind
        var channelStart: Int32
        var channelCount: Int32
        var messageCount: Int32
        /// The origin's pending PUBLISH this entry counts for (-1: none, a notification).
        var pending: Int32
        /// Filled by the target: its subscribers that received the message.
        var receivers: Int32 = 0
    }

    let origin: Int
    var bytes = ByteBuffer(capacity: 512)
    var entries: [Entry] = []
    var wantsCounts = false

    init(origin: Int) { self.origin = origin }

    func add(_ kind: SubscriptionKind, channel: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer, pending: Int32) {
        let start = bytes.count
        bytes.append(channel)
        bytes.append(message)
        entries.append(Entry(kind: kind, channelStart: Int32(start), channelCount: Int32(channel.count),
                             messageCount: Int32(message.count), pending: pending))
        if pending >= 0 { wantsCounts = true }
    }

    func channel(_ e: Entry) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: bytes.base + Int(e.channelStart), count: Int(e.channelCount))
    }

    func message(_ e: Entry) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: bytes.base + Int(e.channelStart + e.channelCount), count: Int(e.messageCount))
    }
}

/// A PUBLISH that waits for the client's earlier commands (Client.publishAwaitingTurn).
struct AwaitingPublish {
    var kind: SubscriptionKind
    var channel: [UInt8]
    var message: [UInt8]
    var ticket: UInt32
    var command: Int
}

/// A PUBLISH waiting for the other workers' receiver counts (its reply is the total).
struct PendingPublish {
    var client: Client
    var ticket: UInt32
    var exec: (slot: Int, item: Int)?
    var receivers: Int
    var remaining: Int
    var command: Int
}

/// A worker's pub/sub state beside its subscription table: batches being filled per target
/// and PUBLISHes waiting for counts.
struct PublishOutbox {
    var filling: [PublishBatch?]
    var pending: [PendingPublish?] = []
    var freeSlots: [Int32] = []

    init(workers: Int) { filling = Array(repeating: nil, count: workers) }
}

extension Worker {
    /// PUBLISH / SPUBLISH from client `c`: delivered here at once, and in this pass's batch
    /// for every other worker that has subscribers. The reply is the number of receivers on
    /// all workers: at once when no other worker has any, else when their counts are back.
    ///
    /// Redis runs a client's commands in order: a PUBLISH sent after a write must not reach a
    /// subscriber before that write is done. So while earlier commands of the client (other
    /// than PUBLISHes waiting for counts) are on their way to other shards, the PUBLISH waits
    /// (`AwaitingPublish`, the client paused) and runs once their replies are in.
    func publishFromClient(_ c: Client, _ kind: SubscriptionKind, channel: UnsafeRawBufferPointer,
                           message: UnsafeRawBufferPointer, call: CommandCall, out: inout ByteBuffer) {
        if call.nesting == nil && c.unfilledTickets > c.publishesAwaitingCounts {
            c.publishAwaitingTurn = AwaitingPublish(kind: kind, channel: [UInt8](channel), message: [UInt8](message),
                                                    ticket: c.takeTicket(), command: commandStats.current)
            c.pausedByOperation = true
            return
        }
        _ = runPublish(c, kind, channel: channel, message: message, exec: call.nesting.map { (slot: $0.slot, item: $0.item) },
                       ticket: nil, out: &out)
    }

    /// Runs a PUBLISH: true if its reply is complete in `out`; false if it waits for other
    /// workers' counts (under `ticket`, or one taken now; or its place in EXEC).
    private func runPublish(_ c: Client, _ kind: SubscriptionKind, channel: UnsafeRawBufferPointer,
                            message: UnsafeRawBufferPointer, exec: (slot: Int, item: Int)?, ticket given: UInt32?,
                            out: inout ByteBuffer) -> Bool {
        // Redis propagates PUBLISH and SPUBLISH to replicas (forceCommandPropagation with
        // PROPAGATE_REPL), so a replica's subscribers get the master's messages; not to the AOF
        // (a replica's own records go nowhere else).
        if let log = propagation, log.recordsOwnWrites, !log.forAOFOnly {
            log.excludesAOF = true
            log.command(db: c.db, .text(kind == .channel ? "PUBLISH" : "SPUBLISH"), .bytes(channel), .bytes(message))
            log.excludesAOF = false
        }
        // Notifications of earlier commands of this pass go first, as they would in Redis
        // (the publisher's own copies into `out`: its output may be borrowed now).
        if let shard, !shard.notifications.isEmpty { flushKeyspaceNotifications(publisher: c, publisherOut: &out) }
        let local = deliverHere(kind, channel: channel, message: message, publisher: c, publisherOut: &out)
        let workers = context.workerCount
        var targets = 0
        if workers > 1 {
            for t in 0..<workers where t != index && context.stats[t].subscriptions.load(ordering: .sequentiallyConsistent) > 0 {
                targets |= 1 << t
            }
        }
        if targets == 0 {
            out.writeInteger(local)
            return true
        }
        if let exec { operations[exec.slot]?.remaining += 1 }
        let ticket = given ?? (exec == nil ? c.takeTicket(quick: true) : 0)
        if exec == nil { c.publishesAwaitingCounts += 1 }
        let entry = PendingPublish(client: c, ticket: ticket, exec: exec, receivers: local,
                                   remaining: targets.nonzeroBitCount, command: commandStats.current)
        let slot: Int32
        if let free = publishes.freeSlots.popLast() {
            slot = free
            publishes.pending[Int(free)] = entry
        } else {
            slot = Int32(publishes.pending.count)
            publishes.pending.append(entry)
        }
        for t in 0..<workers where targets & (1 << t) != 0 {
            publishBatch(for: t).add(kind, channel: channel, message: message, pending: slot)
        }
        return false
    }

    /// A PUBLISH that waited for the client's earlier replies (`publishFromClient`) runs once
    /// its ticket is the next reply; then the client reads on.
    func startPublishAwaitingTurn(_ c: Client) {
        guard let p = c.publishAwaitingTurn, c.isNextReply(p.ticket) else { return }
        c.publishAwaitingTurn = nil
        c.pausedByOperation = false
        var out = ByteBuffer(capacity: 64)
        let saved = commandStats.current
        commandStats.current = p.command
        let complete = p.channel.withUnsafeBytes { channel in
            p.message.withUnsafeBytes { message in
                runPublish(c, p.kind, channel: channel, message: message, exec: nil, ticket: p.ticket, out: &out)
            }
        }
        commandStats.current = saved
        if complete {
            deliverDeferredReply(to: c, ticket: p.ticket, out.readable, command: p.command)
        } else if !out.isEmpty && !c.isClosed {
            // Its own copy of the message (a RESP3 subscriber) precedes the count: every
            // earlier reply is out, so it goes straight to the output.
            c.output.append(out.readable)
            markForFlush(c)
        }
        if !c.isClosed && !c.input.isEmpty && !c.pausedByOperation { process(c) }
    }

    /// A message the server publishes itself (keyspace notifications): no reply to count for.
    /// `publisher`: a client whose output is borrowed by the running command, whose copy goes
    /// to `publisherOut` instead.
    func publishFromServer(channel: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer, publisher: Client?,
                           publisherOut: inout ByteBuffer) {
        _ = deliverHere(.channel, channel: channel, message: message, publisher: publisher, publisherOut: &publisherOut)
        for t in 0..<context.workerCount where t != index
            && context.stats[t].subscriptions.load(ordering: .sequentiallyConsistent) > 0 {
            publishBatch(for: t).add(.channel, channel: channel, message: message, pending: -1)
        }
    }

    private func publishBatch(for target: Int) -> PublishBatch {
        if let b = publishes.filling[target] { return b }
        let b = PublishBatch(origin: index)
        publishes.filling[target] = b
        return b
    }

    /// End of a loop pass: one ring message per worker that has messages from this pass.
    func sendPublishBatches() {
        for t in publishes.filling.indices {
            if let b = publishes.filling[t] {
                publishes.filling[t] = nil
                send(.publish(b), to: t)
            }
        }
    }

    /// On the target: delivers a batch to this worker's subscribers.
    func deliverPublishBatch(_ batch: PublishBatch) {
        var none = ByteBuffer(capacity: 0)
        for i in batch.entries.indices {
            let e = batch.entries[i]
            batch.entries[i].receivers = Int32(deliverHere(e.kind, channel: batch.channel(e), message: batch.message(e),
                                                           publisher: nil, publisherOut: &none))
        }
        if batch.wantsCounts { send(.publishCounts(batch), to: batch.origin) }
    }

    /// Back on the origin: adds each worker's count; a PUBLISH with all its counts replies.
    func receivePublishCounts(_ batch: PublishBatch) {
        for e in batch.entries where e.pending >= 0 {
            let slot = Int(e.pending)
            guard var p = publishes.pending[slot] else { continue }
            p.receivers += Int(e.receivers)
            p.remaining -= 1
            if p.remaining > 0 {
                publishes.pending[slot] = p
                continue
            }
            publishes.pending[slot] = nil
            publishes.freeSlots.append(Int32(slot))
            if p.exec == nil { p.client.publishesAwaitingCounts -= 1 }
            var reply = ByteBuffer(capacity: 32)
            reply.writeInteger(p.receivers)
            if let exec = p.exec {
                deliverNestedReply(reply.readable, toExecAt: exec.slot, item: exec.item)
            } else if p.client.isClosed {
                settleClosedClientReply(p.client, ticket: p.ticket)
            } else {
                deliverDeferredReply(to: p.client, ticket: p.ticket, reply.readable, command: p.command)
            }
        }
    }

    /// Delivers to this worker's subscribers: those of the channel, then (channels only) of
    /// every matching pattern, as Redis's pubsubPublishMessage. The publisher's own copy goes
    /// to `publisherOut`, the buffer its reply is being written to (its output may be
    /// borrowed by the running command). Returns the number of receivers.
    func deliverHere(_ kind: SubscriptionKind, channel: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer,
                     publisher: Client?, publisherOut: inout ByteBuffer) -> Int {
        guard subscriptions.pairs > 0 else { return 0 }
        var receivers = 0
        let name = [UInt8](channel)
        if let list = subscriptions[kind][name] {
            for c in list {
                receivers += 1
                push(to: c, publisher: publisher, publisherOut: &publisherOut) { out, resp in
                    out.append(resp == .resp3 ? ">3\r\n" : "*3\r\n")
                    out.writeBulk(kind == .shardChannel ? "smessage" : "message")
                    out.writeBulk(channel)
                    out.writeBulk(message)
                }
            }
        }
        guard kind == .channel else { return receivers }
        for (pattern, list) in subscriptions[.pattern] {
            let matches = pattern.withUnsafeBytes { Glob.matches($0, channel) }
            guard matches else { continue }
            for c in list {
                receivers += 1
                push(to: c, publisher: publisher, publisherOut: &publisherOut) { out, resp in
                    out.append(resp == .resp3 ? ">4\r\n" : "*4\r\n")
                    out.writeBulk("pmessage")
                    out.writeBulk(pattern)
                    out.writeBulk(channel)
                    out.writeBulk(message)
                }
            }
        }
        return receivers
    }

    /// Appends a message to a subscriber's output. A RESP3 push is out of band: it goes out
    /// at once, between whole replies, even while the client waits for a reply (blocked in
    /// XREAD, say), as Redis sends it; a RESP2 message waits behind replies still due.
    private func push(to c: Client, publisher: Client?, publisherOut: inout ByteBuffer,
                      _ write: (inout ByteBuffer, RESPVersion) -> Void) {
        if c === publisher {
            write(&publisherOut, c.resp)
            return
        }
        // Redis drops output for a client being closed; CLIENT REPLY OFF does not silence
        // messages (they are sent as CLIENT_PUSHING).
        guard !c.isClosed, !c.closeASAP else { return }
        if c.hasOutstandingReplies && c.resp == .resp2 {
            pushScratch.clear()
            write(&pushScratch, c.resp)
            c.queueReadyReply(pushScratch.readable)
        } else {
            write(&c.output, c.resp)
        }
        markForFlush(c)
    }
}

extension ByteBuffer {
    fileprivate mutating func writeBulk(_ text: StaticString) {
        writeBulk(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
}
