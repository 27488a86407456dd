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
}
