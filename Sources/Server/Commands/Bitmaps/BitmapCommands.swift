import RESP
import Shards

/// Bitmaps on strings (Redis's bitops.c): SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD
/// and BITFIELD_RO. Bit 0 is the most significant bit of the first byte. Strings are read
/// and written in place in their entry; a write past the end grows the string with zero
/// bytes as Redis's sdsgrowzero does.
enum BitmapCommands {
    static let specs: [CommandSpec] = [
        CommandSpec("setbit", arity: 4, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "bitmap",
                    summary: "Sets or clears one bit of a string, growing it with zero bytes if needed.",
                    run: .keyed(setbit, split: nil, crossShard: nil))
            .described(since: "2.2.0", acl: [.write, .bitmap, .slow],
                       keySpecs: [KeySpec(["RW", "access", "update"], index: 1)],
                       arguments: [.key("key"), .integer("offset"), .integer("value")]),
        CommandSpec("getbit", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "bitmap",
                    summary: "One bit of a string (0 past its end).", run: .keyed(getbit, split: nil, crossShard: nil))
            .described(since: "2.2.0", acl: [.read, .bitmap, .fast], keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [.key("key"), .integer("offset")]),
        CommandSpec("bitcount", arity: -2, flags: [.readonly], keys: (1, 1, 1), group: "bitmap",
                    summary: "How many bits are set in a string, or in a byte or bit range of it.",
                    run: .keyed(BitCounting.bitcount, split: nil, crossShard: nil))
            .described(since: "2.6.0", acl: [.read, .bitmap, .slow], keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [
                           .key("key"),
                           .block("index", [
                               .integer("start"), .integer("end"),
                               .oneOf("index_unit", [.token("BYTE"), .token("BIT")]).optional,
                           ]).optional,
                       ]),
        CommandSpec("bitpos", arity: -3, flags: [.readonly], keys: (1, 1, 1), group: "bitmap",
                    summary: "Position of the first set or clear bit of a string, or of a range of it.",
                    run: .keyed(BitCounting.bitpos, split: nil, crossShard: nil))
            .described(since: "2.8.7", acl: [.read, .bitmap, .slow], keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [
                           .key("key"), .integer("bit"),
                           .block("index", [
                               .integer("start"),
                               .block("end_index", [
                                   .integer("end"),
                                   .oneOf("index_unit", [.token("BYTE"), .token("BIT")]).optional,
                               ]).optional,
                           ]).optional,
                       ]),
        CommandSpec("bitop", arity: -4, flags: [.write, .denyOOM], keys: (2, -1, 1), group: "bitmap",
                    summary: "Stores the AND, OR, XOR of strings, or the NOT of one, in a key.",
                    run: .keyed(BitOperations.bitop, split: nil, crossShard: BitOperations.bitopAcrossShards))
            .described(since: "2.6.0", acl: [.write, .bitmap, .slow],
                       keySpecs: [KeySpec(["OW", "update"], index: 2), KeySpec(["RO", "access"], index: 3, lastKey: -1)],
                       arguments: [.string("operation"), .key("destkey"), .key("key", spec: 1).multiple]),
        CommandSpec("bitfield", arity: -2, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "bitmap",
                    summary: "Reads, writes and increments integers of any width at any bit offset of a string.",
                    run: .keyed({ BitFields.bitfield($0, $1, &$2, readOnly: false) }, split: nil, crossShard: nil))
            .described(since: "3.2.0", acl: [.write, .bitmap, .slow],
                       keySpecs: [KeySpec(["RW", "access", "update", "variable_flags"], index: 1,
                                          notes: "This command allows both access and modification of the key")],
                       arguments: [
                           .key("key"),
                           .oneOf("operation", [
                               .block("encoding_offset", token: "GET", [.string("encoding"), .integer("offset")]),
                               .block("write", [
                                   .oneOf("wrap_sat_fail", token: "OVERFLOW",
                                          [.token("WRAP"), .token("SAT"), .token("FAIL")]).optional,
                                   .oneOf("write_operation", [
                                       .block("encoding_offset_value", token: "SET",
                                              [.string("encoding"), .integer("offset"), .integer("value")]),
                                       .block("encoding_offset_increment", token: "INCRBY",
                                              [.string("encoding"), .integer("offset"), .integer("increment")]),
                                   ]),
                               ]),
                           ]).optional.multiple,
                       ]),
        CommandSpec("bitfield_ro", arity: -2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "bitmap",
                    summary: "BITFIELD with GET operations only, for read-only replicas and scripts.",
                    run: .keyed({ BitFields.bitfield($0, $1, &$2, readOnly: true) }, split: nil, crossShard: nil))
            .described(since: "6.0.0", acl: [.read, .bitmap, .fast], keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [
                           .key("key"),
                           .block("encoding_offset", token: "GET", [.string("encoding"), .integer("offset")])
                               .optional.multiple.multipleToken,
                       ]),
        CommandSpec(part: .stringSources, arity: -2, keys: (1, -1, 1), group: "bitmap",
                    run: .keyed(BitOperations.sources, split: nil, crossShard: nil)),
        CommandSpec(part: .bitopStore, propagation: .marked, arity: 3, keys: (1, 1, 1), group: "bitmap",
                    run: .keyed(BitOperations.store, split: nil, crossShard: nil)),
    ]

    static let offsetError: StaticString = "ERR bit offset is not an integer or out of range"

    /// A bit offset argument (getBitOffsetFromArgument): a non-negative integer whose byte is
    /// below proto-max-bulk-len; with `bits` > 0, `#n` means n * bits (BITFIELD).
    static func bitOffset(_ arg: UnsafeRawBufferPointer, bits: Int = 0) -> Int? {
        let byHash = bits > 0 && arg.count > 0 && arg[0] == UInt8(ascii: "#")
        guard var offset = parseStrictInt(arg, from: byHash ? 1 : 0, to: arg.count) else { return nil }
        if byHash {
            let (product, overflow) = offset.multipliedReportingOverflow(by: bits)
            guard !overflow else { return nil }
            offset = product
        }
        guard offset >= 0, offset >> 3 < LiveConfig.protoMaxBulkLen.load(ordering: .relaxed) else { return nil }
        return offset
    }

    /// The string at `key` for a bit write reaching byte `lastByte` (lookupStringForBitCommand):
    /// created or grown with zero bytes as needed, and raw-encoded from now on (as Redis
    /// unshares it), or nil after a WRONGTYPE reply. `grew`: created or lengthened, which
    /// is a change even when no bit is written.
    static func stringForBitWrite(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, lastByte: Int,
                                  _ out: inout ByteBuffer) -> (entry: Entry, grew: Bool)? {
        let length = lastByte + 1
        guard let e = ctx.shard.lookup(db: ctx.db, key: key) else {
            let created = Entry.allocate(key: key, hash: KeyTable.hash(key), valueLength: length)
            created.valuePointer.initializeMemory(as: UInt8.self, repeating: 0, count: length)
            created.flags = [.rawEncoding]
            ctx.shard.insertNew(created, db: ctx.db, expireAt: 0)
            return (created, true)
        }
        guard e.kind == .string else { out.writeError(Errors.wrongType); return nil }
        let old = e.valueLength
        guard length > old else {
            e.flags.insert(.rawEncoding)
            return (e, false)
        }
        let grown = StringCommands.growString(ctx, e, to: length)
        (grown.valuePointer + old).initializeMemory(as: UInt8.self, repeating: 0, count: length - old)
        grown.valueLength = length
        return (grown, true)
    }

    // MARK: SETBIT, GETBIT

    static func setbit(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let offset = bitOffset(args[2]) else { out.writeError(offsetError); return }
        guard let on = args.integer(3), on == 0 || on == 1 else {
            out.writeError("ERR bit is not an integer or out of range")
            return
        }
        guard let target = stringForBitWrite(ctx, args[1], lastByte: offset >> 3, &out) else { return }
        let e = target.entry, grew = target.grew
        let byte = e.valuePointer.assumingMemoryBound(to: UInt8.self) + (offset >> 3)
        let mask = UInt8(1) << (7 - UInt8(offset & 7))
        let was = byte.pointee & mask != 0
        if grew || was != (on == 1) {
            if !grew { ctx.shard.noteModified(db: ctx.db, key: args[1]) }
            if on == 1 { byte.pointee |= mask } else { byte.pointee &= ~mask }
            ctx.notify(KeyspaceEvent.string, "setbit", args[1])
        }
        out.writeInteger(was ? 1 : 0)
    }

    static func getbit(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let offset = bitOffset(args[2]) else { out.writeError(offsetError); return }
        guard let e = ctx.shard.lookupForRead(db: ctx.db, key: args[1]) else { out.writeInteger(0); return }
        guard e.kind == .string else { out.writeError(Errors.wrongType); return }
        let value = e.value
        let byte = offset >> 3
        let set = byte < value.count && value[byte] & (UInt8(1) << (7 - UInt8(offset & 7))) != 0
        out.writeInteger(set ? 1 : 0)
    }
}
