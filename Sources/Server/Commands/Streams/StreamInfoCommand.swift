import RESP
import Shards
import Values

/// XINFO STREAM [FULL], GROUPS, CONSUMERS and HELP.
extension StreamGroupCommands {
    // MARK: XINFO

    static func xinfoHelp(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        writeHelp("XINFO", [
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ], &out)
    }

    static func xinfo(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let s = StreamCommands.streamForRead(ctx, args[2], &out, missing: { $0.writeError(Errors.noSuchKey) }) else {
            return
        }
        let resp = ctx.resp
        if argIs(args[1], "consumers") {
            guard let g = s.group(named: args[3]) else { writeNoGroupForKey(args[3], args[2], &out); return }
            let now = ctx.shard.now
            out.writeArrayHeader(g.consumers.count)
            for c in g.consumers {
                out.writeMapHeader(3, resp)
                out.writeBulk(string: "name")
                out.writeBulk(c.name)
                out.writeBulk(string: "pending")
                out.writeInteger(c.pel.count)
                out.writeBulk(string: "idle")
                out.writeInteger(Int(max(now &- c.seenTime, 0)))
            }
        } else if argIs(args[1], "groups") {
            out.writeArrayHeader(s.groups.count)
            for g in s.groups {
                out.writeMapHeader(6, resp)
                out.writeBulk(string: "name")
                out.writeBulk(g.name)
                out.writeBulk(string: "consumers")
                out.writeInteger(g.consumers.count)
                out.writeBulk(string: "pending")
                out.writeInteger(g.pel.count)
                out.writeBulk(string: "last-delivered-id")
                StreamCommands.writeID(g.lastID, &out)
                writeEntriesReadAndLag(s, g, resp, &out)
            }
        } else {
            xinfoStream(s, args, resp, &out)
        }
    }

    private static func writeEntriesReadAndLag(_ s: Stream, _ g: StreamGroup, _ resp: RESPVersion, _ out: inout ByteBuffer) {
        out.writeBulk(string: "entries-read")
        if g.entriesRead != StreamGroup.invalidEntriesRead { out.writeInteger(Int(g.entriesRead)) } else { out.writeNull(resp) }
        out.writeBulk(string: "lag")
        if let lag = s.lag(of: g) { out.writeInteger(Int(lag)) } else { out.writeNull(resp) }
    }

    /// XINFO STREAM key [FULL [COUNT n]] (Redis's xinfoReplyWithStreamInfo).
    private static func xinfoStream(_ s: Stream, _ args: Arguments, _ resp: RESPVersion, _ out: inout ByteBuffer) {
        let options = args.count - 3
        var full = false
        var count = 10
        if options > 0 {
            guard (options == 1 || options == 3) && argIs(args[3], "full") else { writeSubcommandSyntaxError(args, &out); return }
            full = true
            if options == 3 {
                guard argIs(args[4], "count") else { writeSubcommandSyntaxError(args, &out); return }
                guard let n = parseStrictInt(args[5]) else { out.writeError(Errors.notInteger); return }
                count = n < 0 ? 10 : n
            }
        }
        out.writeMapHeader(full ? 9 : 10, resp)
        out.writeBulk(string: "length")
        out.writeInteger(s.length)
        // Our nodes are Redis's rax keys one for one; the rax's inner node count is that of
        // the compressed trie over their master IDs (see Stream.radixTreeNodeCount).
        out.writeBulk(string: "radix-tree-keys")
        out.writeInteger(s.nodes.count)
        out.writeBulk(string: "radix-tree-nodes")
        out.writeInteger(s.radixTreeNodeCount)
        out.writeBulk(string: "last-generated-id")
        StreamCommands.writeID(s.lastID, &out)
        out.writeBulk(string: "max-deleted-entry-id")
        StreamCommands.writeID(s.maxDeletedEntryID, &out)
        out.writeBulk(string: "entries-added")
        out.writeInteger(Int(truncatingIfNeeded: s.entriesAdded))
        out.writeBulk(string: "recorded-first-entry-id")
        StreamCommands.writeID(s.firstID, &out)
        if !full {
            out.writeBulk(string: "groups")
            out.writeInteger(s.groups.count)
            for first in [true, false] {
                out.writeBulk(string: first ? "first-entry" : "last-entry")
                var found = false
                s.forEach(from: .zero, to: .max, reverse: !first) { e in
                    StreamCommands.writeEntry(e, &out)
                    found = true
                    return false
                }
                if !found { out.writeNull(resp) }
            }
            return
        }
        out.writeBulk(string: "entries")
        StreamCommands.writeRange(s, from: .zero, to: .max, count: count, reverse: false, &out)
        out.writeBulk(string: "groups")
        out.writeArrayHeader(s.groups.count)
        for g in s.groups { writeFullGroup(s, g, count: count, resp, &out) }
    }

    private static func writeFullGroup(_ s: Stream, _ g: StreamGroup, count: Int, _ resp: RESPVersion,
                                       _ out: inout ByteBuffer) {
        out.writeMapHeader(7, resp)
        out.writeBulk(string: "name")
        out.writeBulk(g.name)
        out.writeBulk(string: "last-delivered-id")
        StreamCommands.writeID(g.lastID, &out)
        writeEntriesReadAndLag(s, g, resp, &out)
        out.writeBulk(string: "pel-count")
        out.writeInteger(g.pel.count)
        out.writeBulk(string: "pending")
        let shown = count == 0 ? g.pel.count : min(count, g.pel.count)
        out.writeArrayHeader(shown)
        for i in 0..<shown {
            let nack = g.pel.values[i]
            out.writeArrayHeader(4)
            StreamCommands.writeID(g.pel.keys[i], &out)
            out.writeBulk(nack.consumer?.name ?? [])
            out.writeInteger(Int(nack.deliveryTime))
            out.writeInteger(Int(nack.deliveryCount))
        }
        out.writeBulk(string: "consumers")
        out.writeArrayHeader(g.consumers.count)
        for c in g.consumers {
            out.writeMapHeader(4, resp)
            out.writeBulk(string: "name")
            out.writeBulk(c.name)
            out.writeBulk(string: "seen-time")
            out.writeInteger(Int(c.seenTime))
            out.writeBulk(string: "pel-count")
            out.writeInteger(c.pel.count)
            out.writeBulk(string: "pending")
            let shown = count == 0 ? c.pel.count : min(count, c.pel.count)
            out.writeArrayHeader(shown)
            for i in 0..<shown {
                let nack = c.pel.values[i]
                out.writeArrayHeader(3)
                StreamCommands.writeID(c.pel.keys[i], &out)
                out.writeInteger(Int(nack.deliveryTime))
                out.writeInteger(Int(nack.deliveryCount))
            }
        }
    }
}
