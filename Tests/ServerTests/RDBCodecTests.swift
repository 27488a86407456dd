import Testing
@testable import Server
import TestSupport
import Values

@Suite struct CRC64Tests {
    @Test func checkValue() {
        #expect(CRC64.checksum(bytes("123456789")) == 0xe9c6_d914_c4b8_d9ca)
        #expect(CRC64.checksum([]) == 0)
    }

    @Test func incrementalEqualsWholeForEverySplit() {
        var rng = SplitMix64(seed: 1)
        let data = (0..<1000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let whole = CRC64.checksum(data)
        for split in [0, 1, 7, 8, 9, 63, 500, 999, 1000] {
            let crc = data.withUnsafeBytes { raw in
                CRC64.update(CRC64.update(0, UnsafeRawBufferPointer(rebasing: raw[0..<split])),
                             UnsafeRawBufferPointer(rebasing: raw[split...]))
            }
            #expect(crc == whole, "split at \(split)")
        }
    }

    /// The slice-by-8 loop against the plain bitwise definition.
    @Test func matchesBitwiseDefinition() {
        func bitwise(_ data: [UInt8]) -> UInt64 {
            var crc: UInt64 = 0
            for b in data {
                crc ^= UInt64(b)
                for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5 : crc >> 1 }
            }
            return crc
        }
        var rng = SplitMix64(seed: 2)
        for len in [1, 5, 8, 13, 64, 257] {
            let data = (0..<len).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            #expect(CRC64.checksum(data) == bitwise(data))
        }
    }
}

@Suite struct LZFTests {
    /// Bytes redis-server 7.0 wrote for these strings (taken from its dump.rdb).
    @Test func decodesRedisCompressedBytes() throws {
        let hello = hexBytes("0668656c6c6f2068e0080504776f726c64e00105016c64")
        #expect(LZF.decompress(hello, count: 41) == bytes("hello hello hello hello world world world"))
        let run = hexBytes("016161e02900016161")
        #expect(LZF.decompress(run, count: 54) == bytes(String(repeating: "a", count: 54)))
    }

    /// Our compressor reproduces Redis's output for the same input.
    @Test func compressesLikeRedis() {
        let hello = bytes("hello hello hello hello world world world")
        #expect(LZF.compress(hello, limit: hello.count - 4) == hexBytes("0668656c6c6f2068e0080504776f726c64e00105016c64"))
        let run = bytes(String(repeating: "a", count: 54))
        #expect(LZF.compress(run, limit: run.count - 4) == hexBytes("016161e02900016161"))
    }

    @Test func roundTripsVariedInputs() throws {
        var rng = SplitMix64(seed: 3)
        var inputs: [[UInt8]] = [[1], [1, 2], [1, 2, 3], bytes("abcabcabcabcabcabc")]
        inputs.append([UInt8](repeating: 0, count: 100_000))  // long runs: 264-byte references
        inputs.append((0..<5000).map { _ in UInt8(truncatingIfNeeded: rng.next()) })  // incompressible
        inputs.append((0..<20000).map { UInt8(truncatingIfNeeded: $0 % 251) })  // periodic, offsets near 8K
        inputs.append((0..<50000).map { _ in UInt8(ascii: "a") + UInt8(rng.below(4)) })  // small alphabet
        let text = "the quick brown fox jumps over the lazy dog; "
        inputs.append(bytes(String(repeating: text, count: 400)))
        for n in 1...70 { inputs.append((0..<n).map { _ in UInt8(rng.below(3)) }) }
        let compressor = LZFCompressor()  // shared, as the writer does: no state may leak between calls
        for input in inputs {
            let capacity = input.count + input.count / 16 + 64
            var out = [UInt8](repeating: 0, count: capacity)
            let n = input.withUnsafeBytes { i in out.withUnsafeMutableBytes { compressor.compress(i, into: $0) } }
            #expect(n > 0)
            let compressed = Array(out[0..<n])
            #expect(LZF.decompress(compressed, count: input.count) == input, "length \(input.count)")
            #expect(LZF.compress(input) == compressed, "a reused compressor gives a fresh one's output")
        }
    }

    @Test func compressionRespectsTheLimit() {
        var rng = SplitMix64(seed: 4)
        let random = (0..<1000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        #expect(LZF.compress(random, limit: random.count - 4) == nil)  // does not fit: store verbatim
        let zeros = [UInt8](repeating: 0, count: 1000)
        let c = LZF.compress(zeros, limit: 996)!
        for limit in 0..<c.count { #expect(LZF.compress(zeros, limit: limit) == nil) }
        #expect(LZF.compress(zeros, limit: c.count + 4) == c)  // liblzf wants a little slack at the end
    }

    @Test func rejectsCorruptStreams() {
        #expect(LZF.decompress([], count: 0) == nil)
        #expect(LZF.decompress([0x02, 0x61], count: 3) == nil)  // literal run past the input
        #expect(LZF.decompress([0x00, 0x61, 0x20, 0x05], count: 4) == nil)  // reference before the start
        #expect(LZF.decompress([0x00, 0x61, 0xe0], count: 10) == nil)  // truncated long reference
        #expect(LZF.decompress([0x00, 0x61, 0x20], count: 3) == nil)  // missing offset byte
        #expect(LZF.decompress([0x00, 0x61, 0x20, 0x00], count: 3) == nil)  // output too small
        #expect(LZF.decompress([0x00, 0x61, 0x20, 0x00], count: 5) == nil)  // size mismatch (4 produced)
        #expect(LZF.decompress([0x00, 0x61, 0x20, 0x00], count: 4) == bytes("aaaa"))
        var rng = SplitMix64(seed: 5)
        for _ in 0..<20000 {  // garbage never crashes
            let junk = (0..<rng.below(40) + 1).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            _ = LZF.decompress(junk, count: rng.below(200))
        }
    }
}
