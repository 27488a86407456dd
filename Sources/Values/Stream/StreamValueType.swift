import CShim

/// A stream as a value type: TYPE and OBJECT ENCODING "stream", RDB types 15/19/21 read and
/// 19 written (Redis 7.0), its digest and memory estimate.
extension Stream: ValueType {
    public static var typeName: String { "stream" }
    public static var rdbTypesRead: [UInt8] { [rdbTypeV1, rdbTypeV2, rdbTypeV3] }

    public var encodingName: String { "stream" }
    public var rdbType: UInt8 { Stream.rdbTypeV2 }

    /// The object, the node array and each node's listpack block, plus the groups with
    /// their PELs and consumers (Redis's objectComputeSize counts the same parts).
    public var memoryUsage: Int {
        var total = MemoryLayout<Stream>.size + nodes.capacity * MemoryLayout<StreamNode>.stride
        for n in nodes { total += vk_malloc_usable_size(n.lp) }
        let nackBytes = MemoryLayout<StreamID>.stride + 48  // the key and the NACK object
        for g in groups {
            total += 64 + g.name.count + g.pel.count * nackBytes
            for c in g.consumers { total += 64 + c.name.count + c.pel.count * MemoryLayout<StreamID>.stride }
        }
        return total
    }

    /// OBJ_STREAM (6), then each live entry's "ms-seq" as "ms.seq", its fields and values.
    public func digest<D: ValueDigest>(into digest: inout D) {
        digest.mix(bigEndian: 6)
        forEach(from: .zero, to: .max) { entry in
            let id = Array("\(entry.id.ms).\(entry.id.seq)".utf8)
            id.withUnsafeBytes { digest.mix($0) }
            entry.forEachPair { f, v in
                Listpack.withBytes(entry.lp, f) { digest.mix($0) }
                Listpack.withBytes(entry.lp, v) { digest.mix($0) }
            }
            return true
        }
    }

    /// rewriteStreamObject: an XADD per entry (or, for an empty stream, the `XADD MAXLEN 0`
    /// trick), XSETID with the last ID, entries added and largest deleted ID, then per group
    /// XGROUP CREATE ... ENTRIESREAD, and per consumer its pending entries as XCLAIM ...
    /// JUSTID FORCE, or XGROUP CREATECONSUMER for one without any.
    public func writeRewriteCommands(key: UnsafeRawBufferPointer, to out: inout RewriteCommands) {
        if length > 0 {
            forEach(from: .zero, to: .max) { entry in
                out.array(3 + entry.fieldCount * 2)
                out.bulk("XADD")
                out.bulk(key)
                out.bulk(entry.id)
                entry.forEachPair { f, v in
                    Listpack.withBytes(entry.lp, f) { out.bulk($0) }
                    Listpack.withBytes(entry.lp, v) { out.bulk($0) }
                }
                return true
            }
        } else {
            out.array(7)
            out.bulk("XADD")
            out.bulk(key)
            out.bulk("MAXLEN")
            out.bulk("0")
            out.bulk(StreamID(ms: 0, seq: 1))
            out.bulk("x")
            out.bulk("y")
        }
        out.array(7)
        out.bulk("XSETID")
        out.bulk(key)
        out.bulk(lastID)
        out.bulk("ENTRIESADDED")
        out.bulk(Int64(bitPattern: entriesAdded))
        out.bulk("MAXDELETEDID")
        out.bulk(maxDeletedEntryID)
        for g in groups.sorted(by: { $0.name.lexicographicallyPrecedes($1.name) }) {
            out.array(7)
            out.bulk("XGROUP")
            out.bulk("CREATE")
            out.bulk(key)
            out.bulk(g.name)
            out.bulk(g.lastID)
            out.bulk("ENTRIESREAD")
            out.bulk(g.entriesRead)
            for c in g.consumers {
                if c.pel.isEmpty {
                    out.array(5)
                    out.bulk("XGROUP")
                    out.bulk("CREATECONSUMER")
                    out.bulk(key)
                    out.bulk(g.name)
                    out.bulk(c.name)
                    continue
                }
                for (id, nack) in zip(c.pel.keys, c.pel.values) {
                    out.array(12)
                    out.bulk("XCLAIM")
                    out.bulk(key)
                    out.bulk(g.name)
                    out.bulk(c.name)
                    out.bulk("0")
                    out.bulk(id)
                    out.bulk("TIME")
                    out.bulk(nack.deliveryTime)
                    out.bulk("RETRYCOUNT")
                    out.bulk(nack.deliveryCount)
                    out.bulk("JUSTID")
                    out.bulk("FORCE")
                }
            }
        }
    }
}
