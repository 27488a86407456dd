import RESP
import Shards

/// Generic key commands (Redis's db.c and expire.c): DEL, EXISTS, TTLs, KEYS, SCAN, RENAME...
enum KeyCommands {
    static let specs: [CommandSpec] = [
        CommandSpec("del", arity: -2, flags: [.write], keys: (1, -1, 1), group: "generic",
                    summary: "Deletes one or more keys.",
                    run: .keyed(del, split: (part: "del", stride: 1, combine: .sumIntegers), crossShard: nil)),
        CommandSpec("exists", arity: -2, flags: [.readonly, .fast], keys: (1, -1, 1), group: "generic",
                    summary: "Determines whether one or more keys exist.",
                    run: .keyed(exists, split: (part: "exists", stride: 1, combine: .sumIntegers), crossShard: nil)),
    ]

    static func del(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var n = 0
        for i in 1..<args.count where ctx.shard.delete(db: ctx.db, key: args[i]) { n += 1 }
        out.writeInteger(n)
    }

    static func exists(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var n = 0
        for i in 1..<args.count where ctx.shard.lookup(db: ctx.db, key: args[i]) != nil { n += 1 }
        out.writeInteger(n)
    }
}
