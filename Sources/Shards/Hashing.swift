#if canImport(Glibc)
import Glibc
#endif

/// Bulk byte hashing for keys (wyhash-style 64-bit mixing, 8 bytes per step).
/// Seeded once per process so clients cannot aim collisions at a table.
public enum KeyHash {
    /// Written once by start-up before any worker thread exists, read-only after (threads
    /// started later see it through pthread_create's happens-before).
    nonisolated(unsafe) public static var seed: UInt64 = 0x9E37_79B9_7F4A_7C15

    @inline(__always) static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let r = a.multipliedFullWidth(by: b)
        return r.high ^ r.low
    }

    @inlinable @inline(__always)
    static func load64(_ p: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        p.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
    }

    /// 64-bit hash of `bytes`.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
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

    /// The part of a key that chooses its shard: the `{tag}` if it has a non-empty one
    /// (Redis Cluster's rule: first `{`, then the first `}` after it), else the whole key.
    public static func shardingPart(_ key: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let base = key.baseAddress else { return key }
        if key.count <= 64 {
            // Most keys are short: a plain scan costs less than two memchr calls.
            var open = 0
            while open < key.count && key[open] != 123 /* { */ { open += 1 }
            guard open < key.count else { return key }
            var close = open + 1
            while close < key.count && key[close] != 125 /* } */ { close += 1 }
            guard close < key.count, close > open + 1 else { return key }
            return UnsafeRawBufferPointer(start: base + open + 1, count: close - open - 1)
        }
        guard let openHit = memchr(base, 123 /* { */, key.count) else { return key }
        let open = base.distance(to: UnsafeRawPointer(openHit))
        let rest = key.count - open - 1
        guard rest > 0, let closeHit = memchr(base + open + 1, 125 /* } */, rest) else { return key }
        let close = base.distance(to: UnsafeRawPointer(closeHit))
        guard close > open + 1 else { return key }
        return UnsafeRawBufferPointer(start: base + open + 1, count: close - open - 1)
    }

    /// Redis Cluster's hash slot of `key` (0...16383): CRC16-XMODEM of its sharding part,
    /// as cluster.c's keyHashSlot computes it.
    public static func slot(of key: UnsafeRawBufferPointer) -> Int {
        let part = shardingPart(key)
        let table = crc16Entries
        var crc: UInt16 = 0
        for byte in part {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return Int(crc & 0x3FFF)
    }

    /// Shard owning `key` among `shardCount`: its hash slot modulo the count. Slots, not the
    /// process-seeded hash, so a key's shard is the same in every run and in every tool that
    /// knows Redis Cluster's slots (benchmarks put keys on chosen shards; cluster mode maps
    /// slots to nodes the same way).
    public static func shard(of key: UnsafeRawBufferPointer, count shardCount: Int) -> Int {
        if shardCount == 1 { return 0 }
        return slot(of: key) % shardCount
    }

    /// `crc16Table` in a buffer that lives as long as the process: read without a retain or
    /// bounds check (every command of a server with several shards hashes its keys' slots).
    /// Written once by its lazy initializer, read-only after: shared by every worker thread.
    nonisolated(unsafe) static let crc16Entries: UnsafePointer<UInt16> = {
        let entries = UnsafeMutablePointer<UInt16>.allocate(capacity: 256)
        entries.initialize(from: crc16Table, count: 256)
        return UnsafePointer(entries)
    }()

    /// CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), one entry per byte value.
    static let crc16Table: [UInt16] = (0..<256).map { byte in
        var crc = UInt16(byte) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}
