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

    /// `__object subcommand key lfu sharedIntegers`.
    static func objectPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let e = peek(ctx, args[2]) else { out.writeNull(ctx.resp); return }
        let lfu = argIs(args[3], "1")
        let sub = args[1]
        if argIs(sub, "encoding") {
            out.writeBulk(string: encodingName(e))
        } else if argIs(sub, "refcount") {
            let shared = argIs(args[4], "1") && encodingName(e) == "int" && !e.flags.contains(.unsharedInteger)
                && (parseStrictInt(e.value).map { $0 >= 0 && $0 < 10000 } ?? false)
            out.writeInteger(shared ? Int(Int32.max) : 1)
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
