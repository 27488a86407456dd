@testable import Server
import TestSupport
import Testing

/// The bit primitives under BITCOUNT, BITPOS and BITFIELD, against plain bit-by-bit versions.
@Suite struct BitmapTests {
    func bit(_ bytes: [UInt8], _ i: Int) -> Int { Int(bytes[i >> 3] >> (7 - UInt8(i & 7)) & 1) }

    @Test func popcountAndFirstBitMatchABitByBitScan() {
        var rng = SplitMix64(seed: 7)
        for length in 0..<70 {
            for density in [0, 1, 50, 99, 100] {
                let bytes = (0..<length).map { _ in
                    (0..<8).reduce(UInt8(0)) { b, _ in b << 1 | (Int.random(in: 0..<100, using: &rng) < density ? 1 : 0) }
                }
                let bits = (0..<(length * 8)).map { bit(bytes, $0) }
                bytes.withUnsafeBytes { raw in
                    #expect(BitCounting.popcount(raw) == bits.reduce(0, +))
                    #expect(BitCounting.firstBit(1, in: raw) == (bits.firstIndex(of: 1) ?? -1))
                    #expect(BitCounting.firstBit(0, in: raw) == (bits.firstIndex(of: 0) ?? length * 8))
                }
            }
        }
    }

    @Test func fieldsReadBackWhatWasWrittenAtAnyOffsetAndWidth() {
        var rng = SplitMix64(seed: 11)
        var bytes = [UInt8](repeating: 0, count: 24)
        for _ in 0..<2000 {
            let width = Int.random(in: 1...64, using: &rng)
            let offset = Int.random(in: 0...(bytes.count * 8 - width), using: &rng)
            let value = UInt64.random(in: 0...UInt64.max, using: &rng) & (width == 64 ? .max : (1 << width) - 1)
            let before = bytes
            bytes.withUnsafeMutableBytes { BitFields.write(value, to: $0, offset: offset, bits: width) }
            bytes.withUnsafeBytes { #expect(BitFields.read($0, offset: offset, bits: width) == value) }
            for i in 0..<(bytes.count * 8) where i < offset || i >= offset + width {
                #expect(bit(bytes, i) == bit(before, i))
            }
        }
        // Past the end reads zeroes.
        [0xFF].withUnsafeBytes { #expect(BitFields.read($0, offset: 4, bits: 8) == 0xF0) }
    }

    @Test func overflowChecksWrapAndSaturateAsRedis() {
        #expect(BitFields.checkUnsigned(250, 10, bits: 8, .wrap) == (true, 4))
        #expect(BitFields.checkUnsigned(250, 10, bits: 8, .sat) == (true, 255))
        #expect(BitFields.checkUnsigned(5, -10, bits: 8, .sat) == (true, 0))
        #expect(BitFields.checkUnsigned(5, -10, bits: 8, .wrap) == (true, 251))
        #expect(BitFields.checkUnsigned(5, 250, bits: 8, .wrap).0 == false)
        #expect(BitFields.checkSigned(100, 100, bits: 8, .wrap) == (true, -56))
        #expect(BitFields.checkSigned(100, 100, bits: 8, .sat) == (true, 127))
        #expect(BitFields.checkSigned(-100, -100, bits: 8, .sat) == (true, -128))
        #expect(BitFields.checkSigned(-100, -100, bits: 8, .wrap) == (true, 56))
        #expect(BitFields.checkSigned(.max, 1, bits: 64, .wrap) == (true, .min))
        #expect(BitFields.checkSigned(.min, -1, bits: 64, .sat) == (true, .min))
        #expect(BitFields.checkSigned(-1, 1, bits: 64, .sat).0 == false)
        #expect(BitFields.checkSigned(200, 0, bits: 8, .wrap) == (true, -56))
    }

    @Test func bitopCombinesPaddedSources() {
        let a: [UInt8] = [0xF0, 0xFF, 0x01], b: [UInt8] = [0x3C]
        a.withUnsafeBytes { ra in
            b.withUnsafeBytes { rb in
                #expect(BitOperations.compute(.and, [ra, rb]) == [0x30, 0, 0])
                #expect(BitOperations.compute(.or, [ra, rb]) == [0xFC, 0xFF, 0x01])
                #expect(BitOperations.compute(.xor, [ra, rb]) == [0xCC, 0xFF, 0x01])
                #expect(BitOperations.compute(.not, [ra]) == [0x0F, 0x00, 0xFE])
                #expect(BitOperations.compute(.or, [UnsafeRawBufferPointer(start: nil, count: 0)]) == [])
            }
        }
        let long = (0..<37).map { UInt8($0 * 7 & 0xFF) }, other = (0..<29).map { UInt8($0 * 13 & 0xFF) }
        long.withUnsafeBytes { rl in
            other.withUnsafeBytes { ro in
                let expected = (0..<37).map { i in long[i] & (i < 29 ? other[i] : 0) }
                #expect(BitOperations.compute(.and, [rl, ro]) == expected)
            }
        }
    }
}
