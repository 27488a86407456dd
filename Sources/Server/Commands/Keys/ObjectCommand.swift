import RESP
import Shards
import Values
#if canImport(Glibc)
import Glibc
#endif

/// OBJECT ENCODING, FREQ, IDLETIME, REFCOUNT and HELP (object.c).
extension KeyCommands {
    // MARK: OBJECT

    /// OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key. The client's worker reads the eviction
    /// policy (the shard has no config) and passes it to the key's shard.
    static func object(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        let (policy, maxmemory) = w.context.config.withLock { ($0.value("maxmemory-policy"), $0.integer("maxmemory")) }
        let lfu = policy.hasSuffix("lfu")
        // Redis shares the integers 0..<10000 unless an LRU/LFU policy needs per-key metadata.
        let sharedIntegers = maxmemory == 0 || !(policy.hasSuffix("lru") || lfu)
        runOnePart(w, c, shard: w.shardOf(args[2]), part: Part.object, call: &call, out: &out) { op in
            [op.store(args[1]), op.store(args[1]), op.store(args[2]),
             op.store(string: lfu ? "1" : "0"), op.store(string: sharedIntegers ? "1" : "0")]
        }
    }

    /// `__object subcommand key lfu sharedIntegers` (subcommand `debug-object`: DEBUG OBJECT,
    /// with `lfu` standing for rdbcompression).
    static func objectPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let sub = args[1]
        if argIs(sub, "debug-object") { debugObject(ctx, args, &out); return }
        guard let e = peek(ctx, args[2]) else { out.writeNull(ctx.resp); return }
        let lfu = argIs(args[3], "1")
        if argIs(sub, "encoding") {
            out.writeBulk(string: encodingName(e))
        } else if argIs(sub, "refcount") {
            out.writeInteger(refcount(e, sharedIntegers: argIs(args[4], "1")))
        } else if argIs(sub, "idletime") {
            guard !lfu else {
                out.writeError("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
                return
            }
            out.writeInteger(max(0, Int(ctx.shard.now / 1000) - Int(e.lastAccess)))
        } else {
            guard lfu else {
                out.writeError("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
                return
            }
            out.writeInteger(Int(e.frequency))
        }
    }

    /// OBJECT REFCOUNT: Redis's shared integers 0..<10000 (when no LRU/LFU policy needs
    /// per-key metadata) answer OBJ_SHARED_REFCOUNT, everything else 1.
    static func refcount(_ e: Entry, sharedIntegers: Bool) -> Int {
        let shared = sharedIntegers && encodingName(e) == "int" && !e.flags.contains(.unsharedInteger)
            && (parseStrictInt(e.value).map { $0 >= 0 && $0 < 10000 } ?? false)
        return shared ? Int(Int32.max) : 1
    }

    /// DEBUG OBJECT key (debug.c): the entry's address, refcount, encoding, the value's RDB
    /// length (rdbSavedObjectLen: the DUMP payload without its type byte, version and checksum), the
    /// access clock and idle seconds, and for a list its quicklist figures. A missing key is
    /// Redis's "no such key" (no keyspace hit or miss counted, as dictFind).
    static func debugObject(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let e = ctx.shard.lookup(db: ctx.db, key: args[2]) else { out.writeError(Errors.noSuchKey); return }
        let compression = argIs(args[3], "1")
        let object = e.kind == .object ? e.object as? any ValueType : nil
        let payload = object != nil ? RDBWriter.dumpPayload(string: nil, object: object, compression: compression)
                                    : RDBWriter.dumpPayload(string: e.value, object: nil, compression: compression)
        let idle = max(0, Int(ctx.shard.now / 1000) - Int(e.lastAccess))
        var line = "Value at:0x\(String(UInt(bitPattern: e.raw), radix: 16)) refcount:\(refcount(e, sharedIntegers: argIs(args[4], "1"))) "
            + "encoding:\(encodingName(e)) serializedlength:\(max(0, payload.count - 11)) "
            + "lru:\(Int(e.lastAccess) & 0xFFFFFF) lru_seconds_idle:\(idle)"
        if let list = object as? ListValue {
            let average = list.nodeCount > 0 ? Double(list.count) / Double(list.nodeCount) : 0
            line += " ql_nodes:\(list.nodeCount) ql_avg_node:\(formatFixed(average, decimals: 2))"
                + " ql_listpack_max:\(list.fill) ql_compressed:\(list.compressDepth != 0 ? 1 : 0)"
                + " ql_uncompressed_size:\(list.uncompressedBytes)"
        }
        out.writeSimple(string: line)
    }

    /// printf's %.Nf.
    private static func formatFixed(_ d: Double, decimals: Int) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        _ = withVaList([d]) { vsnprintf(&buffer, 64, "%.\(decimals)f", $0) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// OBJECT ENCODING's answer: strings are "int" if they read as a 64-bit integer,
    /// "embstr" up to 44 bytes, else "raw" (and always "raw" once APPEND/SETRANGE wrote them;
    /// never "int" for INCRBYFLOAT's text).
    static func encodingName(_ e: Entry) -> String {
        if e.kind == .object { return (e.object as? any ValueType)?.encodingName ?? "unknown" }
        if e.flags.contains(.rawEncoding) { return "raw" }
        let value = e.value
        if value.count <= 20 && !e.flags.contains(.notIntegerEncoded) && parseStrictInt(value) != nil { return "int" }
        return value.count <= 44 ? "embstr" : "raw"
    }

    static func objectHelp(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        writeHelp("OBJECT", [
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ], &out)
    }
}
