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
        guard let open = firstIndex(of: 123 /* { */, in: base, count: key.count, from: 0) else { return key }
        guard let close = firstIndex(of: 125 /* } */, in: base, count: key.count, from: open + 1),
              close > open + 1 else { return key }
        return UnsafeRawBufferPointer(start: base + open + 1, count: close - open - 1)
    }

    /// The first `byte` in `base[from..<count]`, eight bytes at a time: every command of a
    /// server with several shards scans its keys for a `{` (a byte loop cost ~9 instructions
    /// a byte, about half of finding a key's shard). A word's bytes equal to `byte` become
    /// zero after the XOR; `(w - 0x01..01) & ~w & 0x80..80` marks the lowest zero byte
    /// exactly (only bytes above it can be marked falsely), and the words are read little-endian.
    @inline(__always)
    static func firstIndex(of byte: UInt8, in base: UnsafeRawPointer, count: Int, from start: Int) -> Int? {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let pattern = UInt64(byte) &* ones
        var i = start
        while i + 8 <= count {
            let w = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self)) ^ pattern
            let marks = (w &- ones) & ~w & 0x8080_8080_8080_8080
            if marks != 0 { return i + marks.trailingZeroBitCount / 8 }
            i += 8
        }
        while i < count {
            if base.load(fromByteOffset: i, as: UInt8.self) == byte { return i }
            i += 1
        }
        return nil
    }

    /// Redis Cluster's hash slot of `key` (0...16383): CRC16-XMODEM of its sharding part,
    /// as cluster.c's keyHashSlot computes it.
    public static func slot(of key: UnsafeRawBufferPointer) -> Int {
        Int(crc16(shardingPart(key)) & 0x3FFF)
    }

    /// CRC16-XMODEM, two bytes a step (slicing by 2): the table is linear over XOR, so
    /// feeding bytes a then b to crc c gives T1[u] ^ T0[v], with u, v the high and low bytes
    /// of c ^ (a << 8 | b), and T1[u] the CRC of u followed by a zero byte. Half the steps
    /// of the byte loop.
    @inline(__always)
    static func crc16(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        guard let base = bytes.baseAddress else { return 0 }
        let t0 = crc16Entries, t1 = crc16Entries + 256
        var crc: UInt16 = 0
        var i = 0
        while i + 2 <= bytes.count {
            let pair = UInt16(base.load(fromByteOffset: i, as: UInt8.self)) << 8
                | UInt16(base.load(fromByteOffset: i + 1, as: UInt8.self))
            let t = crc ^ pair
            crc = t1[Int(t >> 8)] ^ t0[Int(t & 0xFF)]
            i += 2
        }
        if i < bytes.count {
            crc = (crc << 8) ^ t0[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ base.load(fromByteOffset: i, as: UInt8.self))]
        }
        return crc
    }

    /// The byte-at-a-time CRC16 (the definition `crc16` is checked against).
    static func crc16Bytewise(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes { crc = (crc << 8) ^ crc16Table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)] }
        return crc
    }

    /// Shard owning `key` among `shardCount`: its hash slot modulo the count. Slots, not the
    /// process-seeded hash, so a key's shard is the same in every run and in every tool that
    /// knows Redis Cluster's slots (benchmarks put keys on chosen shards; cluster mode maps
    /// slots to nodes the same way).
    public static func shard(of key: UnsafeRawBufferPointer, count shardCount: Int) -> Int {
        if shardCount == 1 { return 0 }
        return slot(of: key) % shardCount
    }

    /// The CRC16 tables in a buffer that lives as long as the process: read without a retain or
    /// bounds check (every command of a server with several shards hashes its keys' slots).
    /// Written once by its lazy initializer, read-only after: shared by every worker thread.
    /// Two tables back to back: `crc16Table` (T0), then T1[u] = (T0[u] << 8) ^ T0[T0[u] >> 8].
    nonisolated(unsafe) static let crc16Entries: UnsafePointer<UInt16> = {
        let entries = UnsafeMutablePointer<UInt16>.allocate(capacity: 512)
        entries.initialize(from: crc16Table, count: 256)
        for u in 0..<256 {
            let t = crc16Table[u]
            (entries + 256 + u).initialize(to: (t << 8) ^ crc16Table[Int(t >> 8)])
        }
        return UnsafePointer(entries)
    }()

    /// CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), one entry per byte value.
    static let crc16Table: [UInt16] = (0..<256).map { byte in
        var crc = UInt16(byte) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}
