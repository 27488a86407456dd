import RESP
import Shards
import Values

/// The forms in which stream writes reach replicas when they differ from the command as
/// it came (Redis 7.0's xaddCommand and xtrimCommand rewrites).
extension StreamCommands {
    /// XADD with `*` or `<ms>-*` goes out with the ID it got; a `~` trim goes out exact.
    static func propagateXAdd(_ ctx: ShardContext, _ args: Arguments, _ o: TrimOptions, id: StreamID, _ s: Stream) {
        let idRewritten = o.id == nil || !o.seqGiven
        guard idRewritten || (o.strategy != nil && o.approximate) else { return }  // goes out as it came
        var parts = trimArguments(args, upTo: o.idIndex, o, s)
        parts.append(idRewritten ? .text(id.description) : .bytes(args[o.idIndex]))
        for i in (o.idIndex + 1)..<args.count { parts.append(.bytes(args[i])) }
        ctx.propagate(arguments: parts)
    }

    /// XTRIM with `~` goes out exact (only when it removed something: otherwise nothing goes out).
    static func propagateXTrim(_ ctx: ShardContext, _ args: Arguments, _ o: TrimOptions, _ s: Stream) {
        guard o.approximate else { return }
        ctx.propagate(arguments: trimArguments(args, upTo: args.count, o, s))
    }

    /// Arguments before `end` with an approximate trim made exact: `~` becomes `=` and the
    /// threshold the stream's length (MAXLEN) or first entry ID, tombstones included (MINID),
    /// as streamRewriteApproxSpecifier and streamRewriteTrimArgument do. LIMIT is dropped:
    /// a replica ignores it anyway, and without `~` ValKeyper would refuse it.
    static func trimArguments(_ args: Arguments, upTo end: Int, _ o: TrimOptions, _ s: Stream) -> [PropagatedArgument] {
        var parts: [PropagatedArgument] = [.bytes(args[0]), .bytes(args[1])]
        var i = 2
        while i < end {
            let opt = args[i]
            if (argIs(opt, "maxlen") || argIs(opt, "minid")) && i + 1 < end {
                parts.append(.bytes(opt))
                var valueIndex = i + 1
                let next = args[i + 1]
                if i + 2 < end && next.count == 1 && (next[0] == UInt8(ascii: "~") || next[0] == UInt8(ascii: "=")) {
                    valueIndex = i + 2
                }
                if o.approximate {
                    parts.append(.text("="))
                    if argIs(opt, "maxlen") {
                        parts.append(.text(String(s.length)))
                    } else {
                        parts.append(.text((s.firstEntryIDWithTombstones ?? .max).description))
                    }
                } else {
                    for j in (i + 1)...valueIndex { parts.append(.bytes(args[j])) }
                }
                i = valueIndex + 1
            } else if argIs(opt, "limit") && i + 1 < end {
                if !o.approximate { parts.append(.bytes(opt)); parts.append(.bytes(args[i + 1])) }
                i += 2
            } else {
                parts.append(.bytes(opt))  // NOMKSTREAM
                i += 1
            }
        }
        return parts
    }
}
