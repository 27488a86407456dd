import Values
#if canImport(Glibc)
import Glibc
#endif

/// Hashing of keys: BytesHash under a seed drawn once per process, so clients cannot aim
/// collisions at a table.
public enum KeyHash {
    /// Written once by start-up before any worker thread exists, read-only after (threads
    /// started later see it through pthread_create's happens-before).
    nonisolated(unsafe) public static var seed: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// 64-bit hash of `bytes` (BytesHash under the keys' seed).
    @inline(__always)
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        BytesHash.hash(bytes, seed: seed)
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
