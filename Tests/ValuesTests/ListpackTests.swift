import Glibc
import Testing
import TestSupport
@testable import Values

// Listpack (Redis's listpack.c byte format): every integer width at its boundaries, string
// lengths at the encoding and backlen boundaries, navigation both ways, and corrupt blocks
// (truncated, bad encodings, bad backlens) refused by `copy(of:)` without a crash.

/// A listpack of `elements` appended one by one (as strings: canonical integers become
/// integers, as lpAppend does), returned as its bytes.
private func listpack(_ elements: [[UInt8]]) -> [UInt8] {
    var lp = Listpack.new()
    defer { free(lp) }
    for e in elements {
        var enc: [UInt8] = []
        e.withUnsafeBytes { Listpack.encode(string: $0, into: &enc) }
        Listpack.append(&lp, encoded: enc, count: 1)
    }
    return Array(Listpack.bytes(lp))
}

/// Every element's text, walking forwards.
private func texts(_ lp: UnsafeRawPointer) -> [String] {
    var out: [String] = []
    var p = Listpack.first(lp)
    while let at = p {
        out.append(Listpack.withBytes(lp, at) { String(decoding: $0, as: UTF8.self) })
        p = Listpack.next(lp, at)
    }
    return out
}

/// Element offsets walking backwards from the end.
private func offsetsBackwards(_ lp: UnsafeRawPointer) -> [Int] {
    var out: [Int] = []
    var p = Listpack.last(lp)
    while let at = p {
        out.append(at)
        p = Listpack.prev(lp, at)
    }
    return out.reversed()
}

private func offsetsForwards(_ lp: UnsafeRawPointer) -> [Int] {
    var out: [Int] = []
    var p = Listpack.first(lp)
    while let at = p { out.append(at); p = Listpack.next(lp, at) }
    return out
}

/// `copy(of:)` on `bytes`, freeing the copy; true if it was accepted.
private func accepted(_ bytes: [UInt8]) -> Bool {
    guard let lp = bytes.withUnsafeBytes({ Listpack.copy(of: $0) }) else { return false }
    free(lp)
    return true
}

@Suite struct ListpackTests {
    @Test func emptyListpackIsHeaderAndTerminator() {
        let lp = Listpack.new()
        defer { free(lp) }
        #expect(Array(Listpack.bytes(lp)) == [7, 0, 0, 0, 0, 0, 0xFF])
        #expect(Listpack.first(lp) == nil)
        #expect(Listpack.last(lp) == nil)
        #expect(accepted([7, 0, 0, 0, 0, 0, 0xFF]))
    }

    @Test func oneElement() {
        let bytes = listpack([Array("a".utf8)])
        // total 10, count 1, 0x81 'a' backlen 2, terminator
        #expect(bytes == [10, 0, 0, 0, 1, 0, 0x81, 0x61, 2, 0xFF])
        bytes.withUnsafeBytes { b in
            #expect(texts(b.baseAddress!) == ["a"])
            #expect(Listpack.last(b.baseAddress!) == Listpack.first(b.baseAddress!))
        }
    }

    /// Each integer encoding's last value and the first value of the next one: the
    /// element's encoded size (without backlen) and its round trip.
    @Test(arguments: [
        (Int64(0), 1), (127, 1),                              // 7-bit unsigned
        (128, 2), (-1, 2), (4095, 2), (-4096, 2),             // 13-bit
        (4096, 3), (-4097, 3), (32767, 3), (-32768, 3),        // 16-bit
        (32768, 4), (-32769, 4), (8_388_607, 4), (-8_388_608, 4),  // 24-bit
        (8_388_608, 5), (-8_388_609, 5), (Int64(Int32.max), 5), (Int64(Int32.min), 5),  // 32-bit
        (Int64(Int32.max) + 1, 9), (Int64(Int32.min) - 1, 9), (Int64.max, 9), (Int64.min, 9),  // 64-bit
    ])
    func integerWidthBoundaries(value: Int64, encodedSize: Int) {
        let text = Array(String(value).utf8)
        let bytes = listpack([text])
        #expect(bytes.count == Listpack.headerSize + encodedSize + 1 + 1, "\(value)")
        bytes.withUnsafeBytes { b in
            let lp = b.baseAddress!
            guard let p = Listpack.first(lp) else { Issue.record("no element"); return }
            guard case .integer(let v) = Listpack.get(lp, p) else { Issue.record("\(value) not integer-encoded"); return }
            #expect(v == value)
            #expect(Listpack.integer(lp, p) == value)
            #expect(texts(lp) == [String(value)])
        }
        #expect(accepted(bytes))
    }

    @Test func exactBytesOfIntegerEncodings() {
        #expect(listpack([Array("127".utf8)]).dropFirst(6) == [0x7F, 1, 0xFF])
        #expect(listpack([Array("-1".utf8)]).dropFirst(6) == [0xDF, 0xFF, 2, 0xFF])
        #expect(listpack([Array("4096".utf8)]).dropFirst(6) == [0xF1, 0x00, 0x10, 3, 0xFF])
        #expect(listpack([Array("-9223372036854775808".utf8)]).dropFirst(6)
                == [0xF4, 0, 0, 0, 0, 0, 0, 0, 0x80, 9, 0xFF])
    }

    /// Text that is not exactly a canonical 64-bit integer stays a string.
    @Test(arguments: ["007", "+1", " 1", "1 ", "-0", "", "9223372036854775808", "-9223372036854775809", "1.0", "-"])
    func nonCanonicalNumbersStayStrings(text: String) {
        let bytes = listpack([Array(text.utf8)])
        bytes.withUnsafeBytes { b in
            let lp = b.baseAddress!
            guard let p = Listpack.first(lp) else { Issue.record("no element"); return }
            guard case .bytes(let s) = Listpack.get(lp, p) else { Issue.record("\(text) became an integer"); return }
            #expect(Array(s) == Array(text.utf8))
        }
    }

    /// String lengths at the 6-bit/12-bit/32-bit encoding limits and at the backlen size
    /// limits (encoded size 127/128 and 16382/16383): forward and backward walks agree.
    @Test func stringLengthBoundaries() {
        let lengths = [0, 1, 63, 64, 125, 126, 4095, 4096, 16377, 16378, 70_000]
        let elements = lengths.map { n in [UInt8](repeating: UInt8(ascii: "x"), count: n) }
        let bytes = listpack(elements + [Array("12".utf8)] + elements.reversed())
        #expect(accepted(bytes))
        bytes.withUnsafeBytes { b in
            let lp = b.baseAddress!
            #expect(texts(lp).map(\.count) == lengths + [2] + lengths.reversed())
            #expect(offsetsBackwards(lp) == offsetsForwards(lp))
        }
        for n in [125, 126, 16378] {  // encoded sizes 127, 128 and 16383: backlen 1, 2, 3 bytes
            let one = listpack([[UInt8](repeating: 0x61, count: n)])
            let encoded = n < 4096 ? 2 + n : 5 + n
            #expect(one.count == Listpack.headerSize + encoded + Listpack.backlenSize(encoded) + 1)
        }
    }

    /// More than 65534 elements: the header's count saturates at 65535 (unknown), as in Redis.
    @Test func countSaturatesAt65535() {
        var lp = Listpack.new()
        defer { free(lp) }
        var enc: [UInt8] = []
        for i in 0..<70_000 { Listpack.encode(integer: Int64(i % 100), into: &enc) }
        Listpack.append(&lp, encoded: enc, count: 70_000)
        #expect(Listpack.storedCount(lp) == 65535)
        #expect(Listpack.isWellFormed(lp))
        #expect(offsetsForwards(lp).count == 70_000)
    }

    @Test func replaceIntegerGrowsAndShrinks() {
        var lp = Listpack.new()
        defer { free(lp) }
        var enc: [UInt8] = []
        for v: Int64 in [1, 2, 3] { Listpack.encode(integer: v, into: &enc) }
        Listpack.append(&lp, encoded: enc, count: 3)
        let second = Listpack.next(lp, Listpack.first(lp)!)!
        Listpack.replaceInteger(&lp, at: second, with: Int64.max)
        #expect(texts(lp) == ["1", String(Int64.max), "3"])
        Listpack.replaceInteger(&lp, at: second, with: -5)
        #expect(texts(lp) == ["1", "-5", "3"])
        #expect(Listpack.isWellFormed(lp))
        #expect(offsetsBackwards(lp) == offsetsForwards(lp))
    }

    // MARK: Corrupt input

    private static let sample = listpack([Array("field".utf8), Array("-4097".utf8), [UInt8](repeating: 0x62, count: 200),
                                          Array("12345678901".utf8), Array("1".utf8), []])

    /// Cut at every point, with the header's total left as it was and with it (and the
    /// terminator) made to match the cut: always refused.
    @Test func everyTruncationIsRefused() {
        let full = Self.sample
        #expect(accepted(full))
        for cut in 0..<full.count {
            var bytes = Array(full[0..<cut])
            #expect(!accepted(bytes), "cut at \(cut)")
            guard cut >= Listpack.headerSize, cut < full.count - 1 else { continue }  // at the end: the whole
            bytes.append(0xFF)
            let total = UInt32(bytes.count)
            for i in 0..<4 { bytes[i] = UInt8(truncatingIfNeeded: total >> (8 * UInt32(i))) }
            #expect(!accepted(bytes), "cut at \(cut), header fixed")
        }
    }

    @Test(arguments: Array(UInt8(0xF5)...UInt8(0xFE)))
    func unknownEncodingByteIsRefused(byte: UInt8) {
        var bytes = Self.sample
        bytes[Listpack.headerSize] = byte
        #expect(!accepted(bytes))
    }

    @Test func badBacklenIsRefused() {
        var bytes = listpack([Array("abc".utf8), Array("d".utf8)])
        bytes[Listpack.headerSize + 4] = 9   // "abc"'s backlen is 4
        #expect(!accepted(bytes))
        var long = listpack([[UInt8](repeating: 0x61, count: 200)])
        long[long.count - 3] ^= 0x01         // the first of a two-byte backlen
        #expect(!accepted(long))
    }

    @Test func wrongCountOrTotalIsRefused() {
        var bytes = Self.sample
        bytes[4] &+= 1
        #expect(!accepted(bytes))
        var total = Self.sample
        total[0] &+= 1
        #expect(!accepted(total))
        var terminator = Self.sample
        terminator[terminator.count - 1] = 0
        #expect(!accepted(terminator))
    }

    /// Any single byte changed: refused, or accepted and then walkable end to end.
    @Test func flippedBytesNeverCrash() {
        var rng = SplitMix64(seed: 21)
        for _ in 0..<3000 {
            var bytes = Self.sample
            bytes[rng.below(bytes.count)] = UInt8(truncatingIfNeeded: rng.next())
            guard let lp = bytes.withUnsafeBytes({ Listpack.copy(of: $0) }) else { continue }
            defer { free(lp) }
            #expect(offsetsBackwards(lp) == offsetsForwards(lp))
            _ = texts(lp)
        }
    }
}
