import Foundation

/// PFSELFTEST (pfselftestCommand): the dense register packing read back after random
/// writes, then 10 million distinct elements counted into a dense and a sparse HLL that
/// must agree with each other and stay within six standard errors at every power of ten.
enum HLLSelfTest {
    /// nil on success, else the error Redis would reply.
    static func run(sparseMaxBytes: Int) -> String? {
        var rng = UInt64(UInt32.random(in: 0...UInt32.max)) | 1
        func next() -> UInt64 {
            // xorshift64*: fast, and any seed but 0 does.
            rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27
            return rng &* 0x2545F4914F6CDD1D
        }
        // A dense HLL value (the header's encoding byte is 0 = dense) and its registers.
        let denseHLL = UnsafeMutablePointer<UInt8>.allocate(capacity: HLL.denseSize)
        defer { denseHLL.deallocate() }
        denseHLL.initialize(repeating: 0, count: HLL.denseSize)
        let dense = denseHLL + HLL.headerSize
        var expected = [UInt8](repeating: 0, count: HLL.registerCount)

        // Test 1: registers keep their values and leave their neighbours alone.
        for _ in 0..<1000 {
            for i in 0..<HLL.registerCount {
                let r = UInt8(truncatingIfNeeded: next() >> 32) & 63
                expected[i] = r
                HLL.setRegister(dense, i, r)
            }
            for i in 0..<HLL.registerCount {
                let v = HLL.register(UnsafePointer(dense), i)
                if v != expected[i] { return "TESTFAILED Register \(i) should be \(expected[i]) but is \(v)" }
            }
        }

        // Test 2: the approximation error, dense and sparse side by side.
        dense.initialize(repeating: 0, count: HLL.registerBytes)
        let capacity = HLL.headerSize + 2 * HLL.registerCount + 64
        let sparse = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        defer { sparse.deallocate() }
        HLL.empty.withUnsafeBufferPointer { sparse.initialize(from: $0.baseAddress!, count: $0.count) }
        var sparseLength = HLL.empty.count
        var sparseRegisters: UnsafeMutablePointer<UInt8>? = nil  // set once it turns dense
        let relativeError = 1.04 / Double(HLL.registerCount).squareRoot()
        var checkpoint = 1
        let seed = next()
        for j in 1...10_000_000 {
            var element = UInt64(j) ^ seed
            let (index, count) = withUnsafeBytes(of: &element) { HLL.pattern($0) }
            _ = HLL.raiseRegister(dense, index, count)
            if let r = sparseRegisters {
                _ = HLL.raiseRegister(r, index, count)
            } else {
                var body = sparseLength - HLL.headerSize
                switch HLL.sparseSet(sparse + HLL.headerSize, length: &body, index: index, count: count,
                                     maxBytes: sparseMaxBytes, makeRoom: { sparse + HLL.headerSize }) {
                case .updated: sparseLength = HLL.headerSize + body
                case .unchanged: break
                case .invalid: return "TESTFAILED sparse encoding corrupted"
                case .promote:
                    guard let converted = HLL.densified(UnsafeRawBufferPointer(start: sparse, count: sparseLength)) else {
                        return "TESTFAILED sparse encoding corrupted"
                    }
                    converted.withUnsafeBufferPointer { sparse.update(from: $0.baseAddress!, count: $0.count) }
                    sparseRegisters = sparse + HLL.headerSize
                    _ = HLL.raiseRegister(sparse + HLL.headerSize, index, count)
                }
            }
            guard j == checkpoint else { continue }
            if j < sparseMaxBytes / 2 && sparseRegisters != nil { return "TESTFAILED sparse encoding not used" }
            let denseCount = HLL.count(UnsafeRawBufferPointer(start: denseHLL, count: HLL.denseSize))
            let otherLength = sparseRegisters == nil ? sparseLength : HLL.denseSize
            if denseCount != HLL.count(UnsafeRawBufferPointer(start: sparse, count: otherLength)) {
                return "TESTFAILED dense/sparse disagree"
            }
            let absoluteError = abs(checkpoint - Int(denseCount ?? 0))
            var maxError = Int((relativeError * 6 * Double(checkpoint)).rounded(.up))
            if j == 10 { maxError = 1 }
            if absoluteError > maxError {
                return "TESTFAILED Too big error. card:\(checkpoint) abserr:\(absoluteError)"
            }
            checkpoint *= 10
        }
        return nil
    }

}
