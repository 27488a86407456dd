import RESP
import Shards

/// A single-shard script run abandoned because it touched a key of another shard
/// (lua-allow-undeclared-keys yes): its effects are rolled back on its shard, and its
/// reply is a marker carrying the command's arguments, which the client's worker turns
/// into the multi-shard rerun (ScriptCommands.rerunAcrossShards) in the reply's place.
/// docs/ARCHITECTURE.md, Scripts across shards.
enum ScriptRerun {
    /// What the shard had recorded when a run that may be abandoned started: rolling back
    /// truncates to these (and undoes the writes from the run's undo log).
    struct Marks {
        var records = 0
        var notifications = 0
        var changes = 0
        var hits = 0
        var misses = 0
        var taken = false

        @inline(never)
        mutating func take(_ shard: Shard) {
            taken = true
            records = shard.propagation?.mark ?? 0
            notifications = shard.notifications.mark
            changes = shard.changes
            hits = shard.keyspaceHits
            misses = shard.keyspaceMisses
        }

        /// At the end of a run that may have been abandoned: if it was, rolls it back and
        /// answers the marker (true); otherwise its writes stand.
        @inline(never)
        func settle(_ run: ScriptRun, _ shard: Shard, tag: UInt64, _ args: Arguments, sha: String, function: Bool,
                    into out: inout ByteBuffer) -> Bool {
            guard run.abandoned else {
                run.undo.forget()
                return false
            }
            rollBack(shard, undo: run.undo, tag: tag)
            ScriptRerun.abandoned(args, sha: sha, function: function, into: &out)
            return true
        }

        /// The run never happened, as far as anyone outside can tell: its keys as they
        /// were, its replication records (group `tag`) and keyspace notifications dropped,
        /// the dirty count and keyspace statistics as before.
        func rollBack(_ shard: Shard, undo: WriteUndoLog, tag: UInt64) {
            undo.undo(shard)
            guard taken else { return }  // a run that made nothing to roll back
            if tag != 0 { shard.propagation?.discard(tag: tag, since: records) }
            shard.notifications.forget(since: notifications)
            shard.countChanges(0, since: changes)
            shard.keyspaceHits = hits
            shard.keyspaceMisses = misses
        }
    }

    /// Learns the script (it reaches other shards) and answers the rerun marker.
    static func abandoned(_ args: Arguments, sha: String, function: Bool, into out: inout ByteBuffer) {
        learn(args, sha: sha, function: function)
        writeMarker(args, into: &out)
    }

    /// The marker's first byte: no RESP reply starts with it.
    static let markerByte: UInt8 = 0

    /// The marker: the byte, the argument count, then each argument's length and bytes.
    static func writeMarker(_ args: Arguments, into out: inout ByteBuffer) {
        out.append(markerByte)
        appendLength(args.count, &out)
        for i in 0..<args.count {
            appendLength(args[i].count, &out)
            out.append(args[i])
        }
    }

    static func isMarker(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count > 0 && bytes[0] == markerByte
    }

    /// The arguments a marker carries, as views into `bytes` (which must outlive the call).
    static func withArguments<R>(of bytes: UnsafeRawBufferPointer, _ body: (Arguments) -> R) -> R? {
        var at = 1
        guard let count = readLength(bytes, &at) else { return nil }
        var spans: [ArgSpan] = []
        spans.reserveCapacity(count)
        for _ in 0..<count {
            guard let n = readLength(bytes, &at), at + n <= bytes.count else { return nil }
            spans.append(ArgSpan(offset: at, count: n))
            at += n
        }
        return spans.withUnsafeBufferPointer { s in
            body(Arguments(base: bytes.baseAddress!, spans: s.baseAddress!, count: count))
        }
    }

    private static func appendLength(_ n: Int, _ out: inout ByteBuffer) {
        var v = UInt32(n)
        withUnsafeBytes(of: &v) { out.append($0) }
    }

    private static func readLength(_ bytes: UnsafeRawBufferPointer, _ at: inout Int) -> Int? {
        guard at + 4 <= bytes.count else { return nil }
        let n = Int(bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self))
        at += 4
        return n
    }

    /// Remembers that the script (or function) of `args` reaches other shards: its next
    /// runs go to the multi-shard path directly (ScriptsAcrossShards).
    static func learn(_ args: Arguments, sha: String, function: Bool) {
        let known = ScriptsAcrossShards.shared
        if function {
            known.learn(ScriptsAcrossShards.key(function: args[1]))
            return
        }
        Array(sha.utf8).withUnsafeBytes { known.learn(ScriptsAcrossShards.key(sha: $0)) }
        if let body = ScriptCache.shared.body(of: sha) {
            body.withUnsafeBytes { known.learn(ScriptsAcrossShards.key(body: $0)) }
        }
    }
}
