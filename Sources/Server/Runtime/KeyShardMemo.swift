import RESP
import Shards

/// The shards of the key arguments of the command `execute` is dispatching across shards:
/// worked out once there (finding that the keys span shards takes them all), then read by
/// its lock list and its handler, which asked again (~130 instructions per key each time:
/// a hash-tag scan and a CRC16). Set only for the duration of that dispatch, for those
/// exact arguments (their memory stays put while the client's input is being processed).
struct KeyShardMemo {
    private var spans: UnsafePointer<ArgSpan>?
    private var base: UnsafeRawPointer?
    /// By argument index; -1 for an argument that is not a key.
    private var shards: [Int] = []

    /// `args`'s keys from `route.firstKey`: those before `i` are on `first`, `i`'s on `shard`,
    /// the rest computed now.
    mutating func remember(_ args: Arguments, route: CommandTable.Route, upTo i: Int, first: Int, at shard: Int,
                           worker w: Worker) {
        shards.clearKeepingCapacity()
        shards.append(contentsOf: repeatElement(-1, count: args.count))
        let step = max(1, Int(route.step))
        let last = min(route.lastKeyIndex(argumentCount: args.count), args.count - 1)
        var k = Int(route.firstKey)
        while k <= last {
            shards[k] = k < i ? first : k == i ? shard : w.shardOf(args[k])
            k += step
        }
        spans = args.spans
        base = args.base
    }

    mutating func forget() {
        spans = nil
        base = nil
    }

    @inline(__always) func shard(_ args: Arguments, _ i: Int) -> Int? {
        guard let spans, spans == args.spans, base == args.base, i < shards.count, shards[i] >= 0 else { return nil }
        return shards[i]
    }
}
