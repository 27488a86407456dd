import RESP
import Shards

/// Step 1 of a command that reads source keys on several shards and computes at the
/// coordinator (SINTER/SUNION/SDIFF and their STORE forms, SINTERCARD, BITOP, PFCOUNT,
/// PFMERGE): the keys grouped by shard, one gathering part per shard (its keys in argument
/// order), and where each key's answer sits among the parts' replies.
///
/// Redis looks the keys up one after another and stops at the first of another type; each
/// shard here looks up all of its keys at once. `takeBackLookups` then undoes the keyspace
/// hits and misses Redis would not have counted, with `__lookup_stats` parts.
struct SourceGather {
    /// The shards that hold sources, in the order they first appear; part i goes to shardOrder[i].
    private(set) var shardOrder: [Int] = []
    /// The argument indices of each part's keys.
    private(set) var keysOfPart: [[Int]] = []
    /// Per source key, in argument order: its part and its position within the part.
    private(set) var location: [(part: Int, position: Int)] = []

    init(_ w: Worker, _ args: Arguments, keys: Range<Int>) {
        for i in keys {
            let s = w.shardOf(args[i])
            let part: Int
            if let known = shardOrder.firstIndex(of: s) {
                part = known
            } else {
                part = shardOrder.count
                shardOrder.append(s)
                keysOfPart.append([])
            }
            location.append((part, keysOfPart[part].count))
            keysOfPart[part].append(i)
        }
    }

    var partCount: Int { shardOrder.count }

    /// Adds the gathering parts, `<name> <leading...> <the part's keys>` (`leading`: spans
    /// stored in `op` already), parts 0..<partCount of `op`; `lock` locks each key (for a
    /// command whose keys the table does not know).
    func addParts(to op: MultiShardOperation, command: UInt16, name: String, leading: [Int] = [],
                  args: Arguments, lock: Bool = false) {
        let nameSpan = op.store(string: name)
        for (part, shard) in shardOrder.enumerated() {
            var spans = [nameSpan] + leading
            for i in keysOfPart[part] {
                spans.append(op.store(args[i]))
                if lock { op.lockKey(args[i], shard: shard) }
            }
            op.addPart(shard: shard, command: command, spanIndices: spans)
        }
    }

    /// What a shard's lookup of a key found, as far as keyspace statistics go.
    enum Lookup { case hit, miss, notMade }

    /// After source `failed` (an index into `location`) turned out to be of another type, adds
    /// parts that take back the lookups of the later sources (their hit or miss, as
    /// `lookup(part, position)` says) on every shard; false if there was nothing to take back.
    func takeBackLookups(after failed: Int, _ op: MultiShardOperation, lookup: (Int, Int) -> Lookup) -> Bool {
        var back: [Int: (hits: Int, misses: Int)] = [:]
        for (part, position) in location[(failed + 1)...] {
            switch lookup(part, position) {
            case .notMade: continue
            case .miss: back[shardOrder[part], default: (0, 0)].misses -= 1
            case .hit: back[shardOrder[part], default: (0, 0)].hits -= 1
            }
        }
        guard !back.isEmpty else { return false }
        let name = op.store(string: InternalCommand.lookupStats.name)
        for (shard, d) in back {
            op.addPart(shard: shard, command: SourceGather.statsPart,
                       spanIndices: [name, op.store(string: String(d.hits)), op.store(string: String(d.misses))])
        }
        return true
    }

    private static let statsPart = CommandTable.shared.index(of: .lookupStats)

    /// `__lookup_stats hits misses`: adds (signed) to the shard's keyspace hit and miss counts.
    static func lookupStatsPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        ctx.shard.keyspaceHits += parseStrictInt(args[1]) ?? 0
        ctx.shard.keyspaceMisses += parseStrictInt(args[2]) ?? 0
        out.writeOK()
    }

    /// The bytes of a gathering part's bulk reply ("$n\r\n...\r\n") as a range of it; empty
    /// for any other reply.
    static func bulkBody(_ reply: UnsafeRawBufferPointer) -> Range<Int> {
        guard reply.count > 0, reply[0] == UInt8(ascii: "$") else { return 0..<0 }
        var p = 1
        while p < reply.count && reply[p] != UInt8(ascii: "\r") { p += 1 }
        return (p + 2)..<Swift.max(p + 2, reply.count - 2)
    }
}

/// How members travel in the copies set and sorted-set operations gather and store across
/// shards (`__smembers_of`, `__sstore`, `__zfetch`): per member a little-endian u32 length
/// and the bytes, followed by `trailer` bytes of its own (a sorted set's score, 8).
enum MemberRecords {
    /// A u32 (a length, or a count before the records).
    @inline(__always) static func appendU32(_ n: Int, to out: inout ByteBuffer) {
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: n).littleEndian) { out.append($0) }
    }

    /// A member's length and bytes (its trailer, if any, is the caller's to append).
    @inline(__always) static func append(_ member: UnsafeRawBufferPointer, to out: inout ByteBuffer) {
        appendU32(member.count, to: &out)
        out.append(member)
    }

    @inline(__always) static func u32(at p: Int, in blob: UnsafeRawBufferPointer) -> Int {
        Int(UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: p, as: UInt32.self)))
    }

    /// The member of the record at `p` and where the next record starts.
    @inline(__always) static func member(at p: Int, in blob: UnsafeRawBufferPointer, trailer: Int)
        -> (member: UnsafeRawBufferPointer, next: Int) {
        let n = u32(at: p, in: blob)
        return (UnsafeRawBufferPointer(rebasing: blob[(p + 4)..<(p + 4 + n)]), p + 4 + n + trailer)
    }

    /// How many whole records `blob` holds from its start, and where they end (a record cut
    /// short is not counted, so nothing reads past the blob).
    static func wholeRecords(in blob: UnsafeRawBufferPointer, trailer: Int) -> (count: Int, end: Int) {
        var count = 0, p = 0
        while p + 4 <= blob.count {
            let next = p + 4 + u32(at: p, in: blob) + trailer
            guard next <= blob.count else { break }
            p = next
            count += 1
        }
        return (count, p)
    }
}
