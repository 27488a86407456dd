import RESP
import Shards

/// PFCOUNT of several keys and PFMERGE when their keys live on several shards: one
/// operation under the locks of every key, never CROSSSLOT. Each shard merges its own keys'
/// registers (`__pf_gather`, a part per shard); the coordinator takes the first error in
/// argument order, else merges the parts and counts (PFCOUNT) or stores the union on the
/// destination's shard (`__pfmerge_store`). PFMERGE reaches replicas as itself.
enum HLLAcrossShards {
    private static let gatherPart = CommandTable.shared.index(of: .pfGather)
    private static let storePart = CommandTable.shared.index(of: .pfmergeStore)

    /// What a shard found at each key, in the order Redis looks them up.
    enum Status: UInt8 {
        case missing = 0, hll, wrongType, notAnHLL, corrupt
        /// After an error on the same shard: Redis stops before looking it up.
        case skipped
    }

    // MARK: Parts

    /// `__pf_gather key...` (lookups counted as reads): one bulk string holding a Status per
    /// key, 1 if any HLL read was dense, then the 16384 registers merged over this shard's
    /// keys, one per byte. It stops at the first key that is not a valid HLL.
    static func gather(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let n = args.count - 1
        var blob = [UInt8](repeating: 0, count: n + 1 + HLL.registerCount)
        blob.withUnsafeMutableBufferPointer { blob in
            let registers = blob.baseAddress! + n + 1
            var stopped = false
            for i in 0..<n {
                let status: Status
                if stopped {
                    status = .skipped
                } else if let e = ctx.shard.lookupForRead(db: ctx.db, key: args[i + 1]) {
                    if e.kind != .string {
                        status = .wrongType
                    } else if !HLL.isValid(e.value) {
                        status = .notAnHLL
                    } else {
                        if e.value[4] == HLL.dense { blob[n] = 1 }
                        status = HLL.merge(e.value, into: registers) ? .hll : .corrupt
                    }
                    stopped = status != .hll
                } else {
                    status = .missing
                }
                blob[i] = status.rawValue
            }
        }
        out.writeBulk(blob)
    }

    /// `__pfmerge_store key dense registers`: the end of PFMERGE on the destination's shard.
    static func store(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let registers = args[3]
        guard registers.count == HLL.registerCount else { out.writeError(Errors.syntax); return }
        HyperLogLogCommands.storeMerged(ctx, args[1], registers.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                        useDense: argIs(args[2], "1"), &out)
    }

    // MARK: Coordinators

    static func pfcount(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall,
                        _ out: inout ByteBuffer) {
        run(w, c, args, firstSource: 1, &call, &out) { _, registers, _, out in
            out.writeInteger(Int(truncatingIfNeeded: HLL.estimate(raw: registers)))
            return true
        }
    }

    static func pfmerge(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall,
                        _ out: inout ByteBuffer) {
        let destinationShard = w.shardOf(args[1])
        var storeName = 0, destination = 0
        run(w, c, args, firstSource: 1, &call, &out) { op, registers, dense, out in
            let bytes = registers.withUnsafeBytes { op.store($0) }
            let flag = op.store(string: dense ? "1" : "0")
            op.addPart(shard: destinationShard, command: storePart, spanIndices: [storeName, destination, flag, bytes])
            return false
        } prepare: { op in
            storeName = op.store(string: InternalCommand.pfmergeStore.name)
            destination = op.store(args[1])
        }
    }

    /// Gathers the registers of args[firstSource...] from their shards, replies with the
    /// first error in argument order (taking back the lookups Redis would not have made),
    /// else calls `finish` with the merged registers and whether a source was dense.
    /// `finish` returns true if it replied, false if it added a part whose reply is the answer.
    private static func run(_ w: Worker, _ c: Client, _ args: Arguments, firstSource: Int,
                            _ call: inout CommandCall, _ out: inout ByteBuffer,
                            finish: @escaping (MultiShardOperation, [UInt8], Bool, inout ByteBuffer) -> Bool,
                            prepare: (MultiShardOperation) -> Void = { _ in }) {
        let gather = SourceGather(w, args, keys: firstSource..<args.count)
        var pendingError: StaticString? = nil
        let op = MultiShardOperation(client: c) { op, out in
            switch op.state {
            case 1:
                out.append(op.reply(op.parts.count - 1))
                return true
            case 2:
                out.writeError(pendingError!)
                return true
            default: break
            }
            if let error = op.firstError() { out.append(error); return true }
            let bodies = (0..<gather.partCount).map { SourceGather.bulkBody(op.reply($0)) }
            func status(_ part: Int, _ position: Int) -> Status {
                Status(rawValue: op.reply(part)[bodies[part].lowerBound + position]) ?? .skipped
            }
            // The first key, in argument order, that is not a valid HLL.
            for (k, (part, position)) in gather.location.enumerated() {
                let error: StaticString
                switch status(part, position) {
                case .missing, .hll, .skipped: continue
                case .wrongType: error = Errors.wrongType
                case .notAnHLL: error = HyperLogLogCommands.notAnHLL
                case .corrupt: error = HyperLogLogCommands.corrupt
                }
                // The shard stopped there itself (its later keys are `.skipped`); the other
                // shards looked up keys Redis would not have.
                let corrected = gather.takeBackLookups(after: k, op) { part, position in
                    switch status(part, position) {
                    case .skipped: .notMade
                    case .missing: .miss
                    default: .hit
                    }
                }
                guard corrected else { out.writeError(error); return true }
                pendingError = error
                op.state = 2
                return false
            }
            var registers = [UInt8](repeating: 0, count: HLL.registerCount)
            var dense = false
            for part in 0..<gather.partCount {
                let reply = op.reply(part)
                let start = bodies[part].lowerBound + gather.keysOfPart[part].count
                if reply[start] == 1 { dense = true }
                registers.withUnsafeMutableBufferPointer { r in
                    let part = reply.baseAddress!.assumingMemoryBound(to: UInt8.self) + start + 1
                    for j in 0..<HLL.registerCount { r[j] = Swift.max(r[j], part[j]) }  // branchless: vectorizes
                }
            }
            op.state = 1
            return finish(op, registers, dense, &out)
        }
        op.pausesClient = true
        prepare(op)
        gather.addParts(to: op, command: gatherPart, name: InternalCommand.pfGather.name, args: args)
        w.start(op, client: c, call: &call, out: &out)
    }
}
