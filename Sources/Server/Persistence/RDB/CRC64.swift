/// Redis's CRC-64 (crc64.c): the Jones polynomial 0xad93d23594c935a9, reflected input and
/// output, initial value 0, no final xor. It checksums whole RDB files, so it runs
/// slice-by-8 (eight bytes per table round) rather than a byte at a time.
enum CRC64 {
    /// `tables[k][b]` is the CRC of byte `b` followed by `k` zero bytes.
    private static let tables: [[UInt64]] = {
        let reflectedPoly: UInt64 = 0x95ac_9329_ac4b_c9b5  // 0xad93d23594c935a9 bit-reversed
        var first = [UInt64](repeating: 0, count: 256)
        for byte in 0..<256 {
            var crc = UInt64(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ reflectedPoly : crc >> 1 }
            first[byte] = crc
        }
        var tables = [first]
        for k in 1..<8 {
            let previous = tables[k - 1]
            tables.append((0..<256).map { first[Int(previous[$0] & 0xff)] ^ (previous[$0] >> 8) })
        }
        return tables
    }()

    /// One flat table (8 x 256) so the hot loop indexes a single buffer.
    private static let flat: [UInt64] = tables.flatMap { $0 }

    static func update(_ crc: UInt64, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
        guard var p = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return crc }
        var crc = crc
        var left = bytes.count
        flat.withUnsafeBufferPointer { t in
            while left >= 8 {
                let word = UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)) ^ crc
                crc = t[7 * 256 + Int(word & 0xff)] ^ t[6 * 256 + Int((word >> 8) & 0xff)]
                    ^ t[5 * 256 + Int((word >> 16) & 0xff)] ^ t[4 * 256 + Int((word >> 24) & 0xff)]
                    ^ t[3 * 256 + Int((word >> 32) & 0xff)] ^ t[2 * 256 + Int((word >> 40) & 0xff)]
                    ^ t[1 * 256 + Int((word >> 48) & 0xff)] ^ t[Int(word >> 56)]
                p += 8
                left -= 8
            }
            while left > 0 {
                crc = t[Int((crc ^ UInt64(p.pointee)) & 0xff)] ^ (crc >> 8)
                p += 1
                left -= 1
            }
        }
        return crc
    }

    static func checksum(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { update(0, $0) }
    }
}
