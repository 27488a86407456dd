/// Bulk byte hashing (wyhash-style 64-bit mixing, 8 bytes per step), seeded: keys
/// (Shards' KeyHash) and the members and fields of sets, hashes and sorted sets
/// (ByteStringTable) hash with it, each with a seed drawn once per process so clients
/// cannot aim collisions at a table.
public enum BytesHash {
    /// The members' and fields' seed. Written once by start-up before any worker thread
    /// exists, read-only after (threads started later see it through pthread_create's
    /// happens-before).
    nonisolated(unsafe) public static var memberSeed: UInt64 = 0x2D35_8DCC_AA6C_78A5

    @inline(__always) @usableFromInline static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let r = a.multipliedFullWidth(by: b)
        return r.high ^ r.low
    }

    @inlinable @inline(__always)
    static func load64(_ p: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        p.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
    }

    /// 64-bit hash of `bytes` under `seed`.
    @inlinable
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        let n = bytes.count
        var h = seed ^ UInt64(truncatingIfNeeded: n) &* 0xA076_1D64_78BD_642F
        guard n > 0, let p = bytes.baseAddress else { return mix(h, 0xE703_7ED1_A0B4_28DB) }
        var i = 0
        while i + 16 <= n {
            h = mix(load64(p, i) ^ 0xE703_7ED1_A0B4_28DB ^ h, load64(p, i + 8) ^ 0x8EBC_6AF0_9C88_C6E3)
            i += 16
        }
        var a: UInt64 = 0, b: UInt64 = 0
        let rest = n - i
        if rest >= 8 {
            a = load64(p, i)
            b = load64(p, n - 8)
        } else if rest >= 4 {
            a = UInt64(p.loadUnaligned(fromByteOffset: i, as: UInt32.self))
            b = UInt64(p.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self))
        } else if rest > 0 {
            let b0 = UInt64(p.load(fromByteOffset: i, as: UInt8.self))
            let b1 = UInt64(p.load(fromByteOffset: i + rest / 2, as: UInt8.self))
            let b2 = UInt64(p.load(fromByteOffset: n - 1, as: UInt8.self))
            a = b0 << 16 | b1 << 8 | b2
        }
        return mix(a ^ 0x8EBC_6AF0_9C88_C6E3 ^ h, b ^ 0x5899_65CC_7537_4CC3 ^ UInt64(truncatingIfNeeded: n))
    }
}
