@testable import Server
import TestSupport
import Testing

/// The HyperLogLog representation against values read from redis-server 7.0 (PFDEBUG
/// DECODE of one element, PFCOUNT of "e0"..."e(n-1)", GET of a small sparse HLL).
@Suite struct HyperLogLogTests {
    func pattern(_ element: String) -> (index: Int, count: UInt8) {
        Array(element.utf8).withUnsafeBytes { HLL.pattern($0) }
    }

    /// A sparse HLL value grown with HLL.sparseSet (promoted as Redis would), as bytes.
    func sparseHLL(_ elements: [String], maxBytes: Int = 3000) -> [UInt8] {
        var value = HLL.empty + [UInt8](repeating: 0, count: 40000)
        var length = HLL.empty.count
        var dense: [UInt8]? = nil
        for element in elements {
            let (index, count) = pattern(element)
            if dense != nil {
                dense!.withUnsafeMutableBufferPointer { _ = HLL.raiseRegister($0.baseAddress! + HLL.headerSize, index, count) }
                continue
            }
            let result = value.withUnsafeMutableBufferPointer { v -> HLL.SparseSet in
                let body = v.baseAddress! + HLL.headerSize
                var bodyLength = length - HLL.headerSize
                let r = HLL.sparseSet(body, length: &bodyLength, index: index, count: count, maxBytes: maxBytes) { body }
                length = HLL.headerSize + bodyLength
                return r
            }
            #expect(result != .invalid)
            if result == .promote {
                dense = HLL.densified(value.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0[0..<length]) })
                dense!.withUnsafeMutableBufferPointer { _ = HLL.raiseRegister($0.baseAddress! + HLL.headerSize, index, count) }
            } else if result == .updated {
                value[15] |= 0x80
            }
        }
        return dense ?? Array(value[0..<length])
    }

    @Test func elementsFallInRedisRegistersWithRedisCounts() {
        // PFDEBUG DECODE after PFADD of one element: "Z:index v:count,1 Z:rest".
        let expected: [(String, Int, UInt8)] = [("a", 12711, 2), ("hello", 9216, 1), ("", 5938, 2),
                                                ("foobar123", 638, 1), ("12345678", 10579, 3)]
        for (element, index, count) in expected {
            let p = pattern(element)
            #expect(p.index == index && p.count == count, "\(element)")
        }
    }

    @Test func sparseBytesEqualRedis() {
        // GET after PFADD z e0 ... e9 on redis-server 7.0.
        let hex = "48594c4c010000000000000000000080452580472e844fc9804412844a5184430d844103844eb984408880406a8441b1"
        let redis = stride(from: 0, to: hex.count, by: 2).map { i -> UInt8 in
            let start = hex.index(hex.startIndex, offsetBy: i)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)!
        }
        #expect(sparseHLL((0..<10).map { "e\($0)" }) == redis)
    }

    @Test func countsEqualRedisAcrossCardinalities() {
        let expected: [(Int, UInt64)] = [(1, 1), (10, 10), (100, 100), (1000, 1008), (10000, 9973), (100000, 100853)]
        for (n, count) in expected {
            let value = sparseHLL((0..<n).map { "e\($0)" })
            #expect(value[4] == (n >= 10000 ? HLL.dense : HLL.sparse))
            #expect(value.withUnsafeBytes { HLL.count($0) } == count, "\(n)")
            // The same registers, one per byte, give the same estimate (PFCOUNT of several keys).
            var raw = [UInt8](repeating: 0, count: HLL.registerCount)
            #expect(raw.withUnsafeMutableBufferPointer { r in value.withUnsafeBytes { HLL.merge($0, into: r.baseAddress!) } })
            #expect(HLL.estimate(raw: raw) == count)
        }
    }

    @Test func denseRegistersKeepTheirNeighbours() {
        var rng = SplitMix64(seed: 15)
        var bytes = [UInt8](repeating: 0, count: HLL.registerBytes)
        var expected = [UInt8](repeating: 0, count: HLL.registerCount)
        bytes.withUnsafeMutableBufferPointer { b in
            for _ in 0..<3 {
                for i in 0..<HLL.registerCount {
                    expected[i] = UInt8.random(in: 0...63, using: &rng)
                    HLL.setRegister(b.baseAddress!, i, expected[i])
                }
                for i in 0..<HLL.registerCount where HLL.register(UnsafePointer(b.baseAddress!), i) != expected[i] {
                    Issue.record("register \(i)")
                }
            }
        }
        // The last register lives in the top six bits of the last byte.
        bytes.withUnsafeMutableBufferPointer { b in HLL.setRegister(b.baseAddress!, HLL.registerCount - 1, 63) }
        #expect(bytes[HLL.registerBytes - 1] >> 2 == 63)
    }

    @Test func corruptSparseBodiesAreRefused() {
        func body(_ bytes: [UInt8]) -> [UInt8] { [0x48, 0x59, 0x4c, 0x4c, 1] + [UInt8](repeating: 0, count: 11) + bytes }
        let cases: [[UInt8]] = [[], [0x7f, 0xfe], [0x7f, 0xff, 0x80], [0x7f, 0xfe, 0x80, 0x80], [0x7f], [0x7f, 0xff, 0x00]]
        for bytes in cases {
            let value = body(bytes)
            #expect(value.withUnsafeBytes { HLL.count($0) } == nil, "\(bytes)")
            #expect(value.withUnsafeBytes { HLL.densified($0) } == nil, "\(bytes)")
        }
        var empty: [UInt8] = []
        var length = 0
        let result = empty.withUnsafeMutableBufferPointer { b in
            HLL.sparseSet(b.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!, length: &length, index: 3, count: 1,
                          maxBytes: 3000) { b.baseAddress! }
        }
        #expect(result == .invalid)
        #expect(body([0x7f, 0xff]).withUnsafeBytes { HLL.isValid($0) })
    }

    @Test func estimatorEdges() {
        var h = HLL.Histogram(repeating: 0, count: 64)
        h[0] = HLL.registerCount
        #expect(HLL.estimate(h) == 0)
        h[0] = 0
        h[HLL.q + 1] = HLL.registerCount  // every register at its maximum: llroundl's overflow value
        #expect(HLL.estimate(h) == 1 << 63)
    }
}
