import Foundation

/// Redis 7.0's HyperLogLog representation (hyperloglog.c), byte for byte, so an HLL string
/// written by redis-server counts the same here and the other way round:
///
/// - a 16-byte header: "HYLL", the encoding (0 dense, 1 sparse), 3 unused bytes, and the
///   cached cardinality as a little-endian u64 whose top bit marks the cache invalid;
/// - dense: 16384 registers of 6 bits, packed from the low bits of each byte up;
/// - sparse: run lengths of registers, ZERO (00xxxxxx: 1-64 zeroes), XZERO (01xxxxxx
///   yyyyyyyy: 1-16384 zeroes) and VAL (1vvvvvxx: 1-4 registers of value 1-32).
///
/// Every reader here stays inside the bytes it is given: a byte past the end reads as 0,
/// as the NUL terminator of Redis's sds strings does, so corrupt strings are refused (or
/// read as Redis reads them) but never read out of bounds.
enum HLL {
    static let p = 14
    static let q = 64 - p
    static let registerCount = 1 << p
    static let headerSize = 16
    static let registerBytes = (registerCount * 6 + 7) / 8
    static let denseSize = headerSize + registerBytes
    static let dense: UInt8 = 0
    static let sparse: UInt8 = 1
    static let sparseMaxValue = 32
    static let sparseMaxRun = 4
    static let zeroMaxRun = 64
    static let xzeroMaxRun = 16384
    static let alphaInf = 0.721347520444481703680  // 0.5 / ln(2)

    // MARK: Hashing

    /// MurmurHash64A as Redis has it (endian-neutral, 8-byte blocks read little-endian).
    static func murmurHash64A(_ data: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        let m: UInt64 = 0xc6a4a7935bd1e995
        let r: UInt64 = 47
        let len = data.count
        var h = seed ^ (UInt64(truncatingIfNeeded: Int32(truncatingIfNeeded: len)) &* m)
        var i = 0
        let blocks = len - (len & 7)
        while i < blocks {
            var k = UInt64(littleEndian: data.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            k &*= m
            k ^= k >> r
            k &*= m
            h ^= k
            h &*= m
            i += 8
        }
        let tail = len & 7
        if tail > 0 {
            for j in stride(from: tail - 1, through: 0, by: -1) { h ^= UInt64(data[i + j]) << (8 * UInt64(j)) }
            h &*= m
        }
        h ^= h >> r
        h &*= m
        h ^= h >> r
        return h
    }

    /// The register an element falls in and the length of its 000..1 pattern (hllPatLen).
    @inline(__always)
    static func pattern(_ element: UnsafeRawBufferPointer) -> (index: Int, count: UInt8) {
        let hash = murmurHash64A(element, seed: 0xadc83b19)
        let index = Int(hash & UInt64(registerCount - 1))
        let rest = (hash >> UInt64(p)) | (1 << UInt64(q))
        return (index, UInt8(rest.trailingZeroBitCount + 1))
    }

    // MARK: Header

    /// Whether `value` is an HLL Redis accepts (isHLLObjectOrReply): magic, a known
    /// encoding, and the exact size if dense. A sparse body is checked as it is read.
    static func isValid(_ value: UnsafeRawBufferPointer) -> Bool {
        guard value.count >= headerSize, value[0] == UInt8(ascii: "H"), value[1] == UInt8(ascii: "Y"),
              value[2] == UInt8(ascii: "L"), value[3] == UInt8(ascii: "L"), value[4] <= sparse else { return false }
        return value[4] == sparse || value.count == denseSize
    }

    /// The cached cardinality, or nil if marked invalid.
    static func cachedCardinality(_ header: UnsafeRawPointer) -> UInt64? {
        let card = UInt64(littleEndian: header.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        return card >> 63 == 0 ? card : nil
    }

    static func storeCardinality(_ header: UnsafeMutableRawPointer, _ card: UInt64) {
        header.storeBytes(of: card.littleEndian, toByteOffset: 8, as: UInt64.self)
    }

    static func invalidateCache(_ header: UnsafeMutableRawPointer) {
        let byte = header.assumingMemoryBound(to: UInt8.self) + 15
        byte.pointee |= 0x80
    }

    /// A new, empty HLL: sparse, one XZERO covering every register (createHLLObject).
    static let empty: [UInt8] = {
        var bytes = [UInt8](repeating: 0, count: headerSize + 2)
        bytes[0...3] = [0x48, 0x59, 0x4c, 0x4c]
        bytes[4] = sparse
        bytes[16] = UInt8((xzeroMaxRun - 1) >> 8) | 0x40
        bytes[17] = UInt8((xzeroMaxRun - 1) & 0xff)
        return bytes
    }()

    // MARK: Dense registers

    /// Register `i` of dense registers (`registerBytes` bytes): the 6 bits from bit 6i up.
    @inline(__always)
    static func register(_ r: UnsafePointer<UInt8>, _ i: Int) -> UInt8 {
        let byte = (i * 6) >> 3, shift = (i * 6) & 7
        let b0 = UInt(r[byte])
        // Only a register starting at bit 4 or 6 of its byte reaches into the next.
        let b1 = shift > 2 ? UInt(r[byte + 1]) : 0
        return UInt8(((b0 >> shift) | (b1 << (8 - shift))) & 63)
    }

    @inline(__always)
    static func setRegister(_ r: UnsafeMutablePointer<UInt8>, _ i: Int, _ value: UInt8) {
        let byte = (i * 6) >> 3, shift = (i * 6) & 7
        let v = UInt(value & 63)
        r[byte] = UInt8(truncatingIfNeeded: (UInt(r[byte]) & ~(63 << shift)) | (v << shift))
        if shift > 2 {
            r[byte + 1] = UInt8(truncatingIfNeeded: (UInt(r[byte + 1]) & ~(63 >> (8 - shift))) | (v >> (8 - shift)))
        }
    }

    /// Raises register `i` to `count` if lower (hllDenseSet); true if it changed.
    @inline(__always)
    static func raiseRegister(_ r: UnsafeMutablePointer<UInt8>, _ i: Int, _ count: UInt8) -> Bool {
        guard count > register(UnsafePointer(r), i) else { return false }
        setRegister(r, i, count)
        return true
    }

    // MARK: Histograms and the estimator

    /// How many registers hold each value 0...63.
    typealias Histogram = [Int]

    static func denseHistogram(_ r: UnsafePointer<UInt8>, into h: inout Histogram) {
        // Four histograms, one per register of each 3-byte group, so consecutive increments
        // of the same count (most registers hold 0 or 1) do not wait on one another.
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 256) { lanes in
            lanes.initialize(repeating: 0)
            let l = lanes.baseAddress!
            var b = r
            for _ in 0..<(registerCount / 4) {
                let b0 = Int(b[0]), b1 = Int(b[1]), b2 = Int(b[2])
                l[b0 & 63] += 1
                l[64 + ((b0 >> 6 | b1 << 2) & 63)] += 1
                l[128 + ((b1 >> 4 | b2 << 4) & 63)] += 1
                l[192 + ((b2 >> 2) & 63)] += 1
                b += 3
            }
            for v in 0..<64 { h[v] += Int(l[v] + l[64 + v] + l[128 + v] + l[192 + v]) }
        }
    }

    /// The histogram of a sparse body (hllSparseRegHisto); false if its runs do not cover
    /// exactly 16384 registers.
    static func sparseHistogram(_ body: UnsafeRawBufferPointer, into h: inout Histogram) -> Bool {
        var i = 0, p = 0
        let end = body.count
        while p < end {
            let op = body[p]
            if op & 0xc0 == 0 {
                let run = Int(op & 0x3f) + 1
                i += run; h[0] += run; p += 1
            } else if op & 0xc0 == 0x40 {
                let next = p + 1 < end ? Int(body[p + 1]) : 0
                let run = (Int(op & 0x3f) << 8 | next) + 1
                i += run; h[0] += run; p += 2
            } else {
                let run = Int(op & 3) + 1
                i += run; h[Int(op >> 2 & 0x1f) + 1] += run; p += 1
            }
        }
        return i == registerCount
    }

    /// The estimate of registers held one per byte (PFCOUNT of several keys).
    static func estimate(raw registers: [UInt8]) -> UInt64 {
        var h = Histogram(repeating: 0, count: 64)
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 256) { lanes in
            lanes.initialize(repeating: 0)
            let l = lanes.baseAddress!
            registers.withUnsafeBytes { r in
                // Eight zero registers at a time (hllRawRegHisto): unions of small HLLs are
                // mostly zeroes; else four histograms, as in denseHistogram.
                var i = 0
                while i < registerCount {
                    if r.loadUnaligned(fromByteOffset: i, as: UInt64.self) == 0 {
                        l[0] += 8
                    } else {
                        for k in 0..<8 { l[((k & 3) << 6) | Int(r[i + k] & 63)] += 1 }
                    }
                    i += 8
                }
            }
            for v in 0..<64 { h[v] = Int(l[v] + l[64 + v] + l[128 + v] + l[192 + v]) }
        }
        return estimate(h)
    }

    /// sigma and tau from Ertl, "New cardinality estimation algorithms for HyperLogLog
    /// sketches" (arXiv:1702.01284), computed in Redis's order so results match to the bit.
    static func sigma(_ x: Double) -> Double {
        if x == 1 { return .infinity }
        var x = x, y = 1.0, z = x, previous = 0.0
        repeat {
            x *= x
            previous = z
            z += x * y
            y += y
        } while previous != z
        return z
    }

    static func tau(_ x: Double) -> Double {
        if x == 0 || x == 1 { return 0 }
        var x = x, y = 1.0, z = 1 - x, previous = 0.0
        repeat {
            x = x.squareRoot()
            previous = z
            y *= 0.5
            z -= (1 - x) * (1 - x) * y
        } while previous != z
        return z / 3
    }

    /// The cardinality estimate of a register histogram (hllCount), rounded as llroundl.
    static func estimate(_ h: Histogram) -> UInt64 {
        let m = Double(registerCount)
        var z = m * tau((m - Double(h[q + 1])) / m)
        for j in stride(from: q, through: 1, by: -1) {
            z += Double(h[j])
            z *= 0.5
        }
        z += m * sigma(Double(h[0]) / m)
        let e = (alphaInf * m * m / z).rounded(.toNearestOrAwayFromZero)
        // llroundl of an out-of-range value gives LLONG_MIN on x86-64.
        guard e.isFinite, e < 9.223372036854775807e18, e > -9.223372036854775807e18 else { return 1 << 63 }
        return UInt64(bitPattern: Int64(e))
    }

    /// The cardinality of a valid HLL value, or nil if its sparse body is corrupt.
    static func count(_ value: UnsafeRawBufferPointer) -> UInt64? {
        var h = Histogram(repeating: 0, count: 64)
        let body = UnsafeRawBufferPointer(rebasing: value[headerSize...])
        if value[4] == dense {
            denseHistogram(body.baseAddress!.assumingMemoryBound(to: UInt8.self), into: &h)
        } else if !sparseHistogram(body, into: &h) {
            return nil
        }
        return estimate(h)
    }

    // MARK: Merging and conversion

    /// max[i] = max(max[i], register i of `value`) (hllMerge); false if the sparse body is corrupt.
    static func merge(_ value: UnsafeRawBufferPointer, into max: UnsafeMutablePointer<UInt8>) -> Bool {
        let body = UnsafeRawBufferPointer(rebasing: value[headerSize...])
        if value[4] == dense {
            // Four registers per three bytes, as denseHistogram reads them.
            var b = body.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var m = max
            for _ in 0..<(registerCount / 4) {
                let b0 = b[0], b1 = b[1], b2 = b[2]
                let r0 = b0 & 63, r1 = (b0 >> 6 | b1 << 2) & 63, r2 = (b1 >> 4 | b2 << 4) & 63, r3 = b2 >> 2
                if r0 > m[0] { m[0] = r0 }
                if r1 > m[1] { m[1] = r1 }
                if r2 > m[2] { m[2] = r2 }
                if r3 > m[3] { m[3] = r3 }
                b += 3
                m += 4
            }
            return true
        }
        return decodeSparse(body) { i, run, value in
            for k in i..<(i + run) where value > max[k] { max[k] = value }
        }
    }

    /// Calls `val` for every VAL run of a sparse body (first register, length, value);
    /// false, as soon as a run would pass the last register, or unless the runs cover
    /// exactly 16384 registers (the loop of hllSparseToDense and hllMerge).
    @inline(__always)
    static func decodeSparse(_ body: UnsafeRawBufferPointer, _ val: (Int, Int, UInt8) -> Void) -> Bool {
        var i = 0, p = 0
        let end = body.count
        while p < end {
            let op = body[p]
            if op & 0xc0 == 0 {
                i += Int(op & 0x3f) + 1
                p += 1
            } else if op & 0xc0 == 0x40 {
                let next = p + 1 < end ? Int(body[p + 1]) : 0
                i += (Int(op & 0x3f) << 8 | next) + 1
                p += 2
            } else {
                let run = Int(op & 3) + 1
                if run + i > registerCount { return false }
                val(i, run, (op >> 2 & 0x1f) + 1)
                i += run
                p += 1
            }
        }
        return i == registerCount
    }

    /// The dense form of a sparse HLL value (hllSparseToDense): the header kept (magic and
    /// cached cardinality) with the dense encoding; nil if the sparse body is corrupt.
    static func densified(_ value: UnsafeRawBufferPointer) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: denseSize)
        let ok = out.withUnsafeMutableBufferPointer { out -> Bool in
            for k in 0..<headerSize { out[k] = value[k] }
            out[4] = dense
            let r = out.baseAddress! + headerSize
            return decodeSparse(UnsafeRawBufferPointer(rebasing: value[headerSize...])) { i, run, value in
                for k in i..<(i + run) { setRegister(r, k, value) }
            }
        }
        return ok ? out : nil
    }

    // MARK: Sparse update

    enum SparseSet { case unchanged, updated, promote, invalid }

    /// Raises register `index` of a sparse body to `count` in place (hllSparseSet), or says
    /// the HLL must become dense first (a value above 32, or a body growing past `maxBytes`
    /// with the header), or that the body is corrupt. `length` is the body's length.
    /// `makeRoom` runs once, before the first byte changes, and returns the body's address
    /// with room for `length + 5` bytes (it may move).
    static func sparseSet(_ start: UnsafeMutablePointer<UInt8>, length: inout Int, index: Int, count: UInt8,
                          maxBytes: Int, makeRoom: () -> UnsafeMutablePointer<UInt8>) -> SparseSet {
        if count > sparseMaxValue { return .promote }
        var body = start
        var end = length
        @inline(__always) func byte(_ at: Int) -> Int { at < end ? Int(body[at]) : 0 }
        @inline(__always) func isXzero(_ at: Int) -> Bool { body[at] & 0xc0 == 0x40 }
        @inline(__always) func isZero(_ at: Int) -> Bool { body[at] & 0xc0 == 0 }

        // Step 1: the opcode covering `index`.
        var p = 0, first = 0, span = 0
        var prev = -1
        while p < end {
            var opLength = 1
            let op = Int(body[p])
            if op & 0xc0 == 0 {
                span = (op & 0x3f) + 1
            } else if op & 0x80 != 0 {
                span = (op & 3) + 1
            } else {
                span = ((op & 0x3f) << 8 | byte(p + 1)) + 1
                opLength = 2
            }
            if index <= first + span - 1 { break }
            prev = p
            p += opLength
            first += span
        }
        if span == 0 || p >= end { return .invalid }

        let op = Int(body[p])
        let isVal = op & 0x80 != 0, zero = isZero(p), xzero = isXzero(p)
        let runLength: Int
        if zero { runLength = (op & 0x3f) + 1 }
        else if xzero { runLength = ((op & 0x3f) << 8 | byte(p + 1)) + 1 }
        else { runLength = (op & 3) + 1 }
        let next = xzero ? p + 2 : p + 1

        // Step 2: cases A-C (no split) and D (split into up to 5 bytes).
        var seq: (UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0)
        var seqLength = 0
        func val(_ value: Int, _ run: Int) -> UInt8 { UInt8(truncatingIfNeeded: (value - 1) << 2 | (run - 1)) | 0x80 }
        func push(_ b: UInt8) {
            withUnsafeMutableBytes(of: &seq) { $0[seqLength] = b }
            seqLength += 1
        }
        func pushZeroes(_ run: Int) {
            if run > zeroMaxRun {
                push(UInt8(truncatingIfNeeded: (run - 1) >> 8) | 0x40)
                push(UInt8(truncatingIfNeeded: (run - 1) & 0xff))
            } else {
                push(UInt8(truncatingIfNeeded: run - 1))
            }
        }
        if isVal {
            let old = (op >> 2 & 0x1f) + 1
            if old >= Int(count) { return .unchanged }
        }
        let inPlace = (isVal || zero) && runLength == 1
        if !inPlace {
            let last = first + span - 1
            if zero || xzero {
                if index != first { pushZeroes(index - first) }
                push(val(Int(count), 1))
                if index != last { pushZeroes(last - index) }
            } else {
                let current = (op >> 2 & 0x1f) + 1
                if index != first { push(val(current, index - first)) }
                push(val(Int(count), 1))
                if index != last { push(val(current, last - index)) }
            }
            let delta = seqLength - (xzero ? 2 : 1)
            if delta > 0 && headerSize + length + delta > maxBytes { return .promote }
            body = makeRoom()
            // Step 3: the new sequence in place of the old opcode.
            if delta != 0 && next < end {
                memmove(body + next + delta, body + next, end - next)
            }
            withUnsafeBytes(of: seq) { s in
                for k in 0..<seqLength { body[p + k] = s[k] }
            }
            end += delta
        } else {
            body = makeRoom()
            body[p] = val(Int(count), 1)
        }

        // Step 4: merge adjacent VAL opcodes of equal value, up to 5 opcodes from prev.
        var scan = prev >= 0 ? prev : 0
        var budget = 5
        while scan < end && budget > 0 {
            budget -= 1
            if isXzero(scan) { scan += 2; continue }
            if isZero(scan) { scan += 1; continue }
            if scan + 1 < end && body[scan + 1] & 0x80 != 0 {
                let v1 = Int(body[scan] >> 2 & 0x1f) + 1, v2 = Int(body[scan + 1] >> 2 & 0x1f) + 1
                if v1 == v2 {
                    let run = Int(body[scan] & 3) + Int(body[scan + 1] & 3) + 2
                    if run <= sparseMaxRun {
                        body[scan + 1] = val(v1, run)
                        memmove(body + scan, body + scan + 1, end - scan - 1)
                        end -= 1
                        continue
                    }
                }
            }
            scan += 1
        }
        length = end
        return .updated
    }
}
