import Glibc
import Testing
import TestSupport
@testable import Values

// Sets: the intset (widths, upgrades, order), the intset/hashtable conversion, RDB round
// trips of both encodings and of Redis 7.2's listpack, corrupt records refused.

private func b(_ s: String) -> [UInt8] { Array(s.utf8) }

private func add(_ s: SetValue, _ m: String) -> Bool { b(m).withUnsafeBytes { s.add($0) } }
private func remove(_ s: SetValue, _ m: String) -> Bool { b(m).withUnsafeBytes { s.remove($0) } }

private func members(_ s: SetValue) -> [String] {
    var out: [String] = []
    s.forEach { out.append(String(decoding: $0, as: UTF8.self)) }
    return out
}

private func encode(_ s: SetValue) -> [UInt8] {
    var sink = RDBPlainSink()
    try! s.writeRDB(to: &sink)
    return sink.bytes
}

private func decode(_ type: UInt8, _ bytes: [UInt8]) throws -> SetValue {
    try bytes.withUnsafeBytes { raw in
        var src = RDBPlainSource(raw)
        return try SetValue.readRDB(type: type, from: &src)
    }
}

private func rdbString(_ s: [UInt8]) -> [UInt8] {
    var sink = RDBPlainSink()
    sink.rdbLength(UInt64(s.count))
    return sink.bytes + s
}

private func rdbPut(_ sink: inout RDBPlainSink, _ s: String) { b(s).withUnsafeBytes { sink.rdbString($0) } }

/// An intset's bytes: width, count, little-endian values as given (not sorted for you).
private func intsetBytes(width: Int, _ values: [Int64]) -> [UInt8] {
    func le(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
    var out = le(UInt64(width), 4) + le(UInt64(values.count), 4)
    for v in values { out += le(UInt64(bitPattern: v), width) }
    return out
}

@Suite(.serialized) struct SetTests {
    @Test func intsetKeepsOrderAndUpgradesWidth() {
        var s = Intset()
        for v: Int64 in [5, -3, 100, 5] { s.add(v) }
        #expect(s.count == 3 && s.width == 2)
        s.add(70000)
        #expect(s.width == 4 && (0..<s.count).map { s.value(at: $0) } == [-3, 5, 100, 70000])
        s.add(Int64.min)
        #expect(s.width == 8 && s.value(at: 0) == Int64.min && s.value(at: 4) == 70000)
        #expect(s.contains(100) && !s.contains(101))
        #expect(s.remove(5) && !s.remove(5) && s.count == 4)
        #expect(s.width == 8, "never downgrades")
    }

    @Test func integerMembersAsString2ll() {
        for text in ["0", "-1", "9223372036854775807", "-9223372036854775808", "12"] {
            #expect(b(text).withUnsafeBytes { SetValue.integer($0) } != nil, "\(text)")
        }
        for text in ["", "-", "-0", "+1", "01", " 1", "1 ", "9223372036854775808", "-9223372036854775809", "1a"] {
            #expect(b(text).withUnsafeBytes { SetValue.integer($0) } == nil, "\(text)")
        }
    }

    @Test func convertsOnANonIntegerOrPastTheLimit() {
        let s = SetValue()
        for i in 0..<512 { _ = add(s, "\(i)") }
        #expect(s.isIntset && s.count == 512)
        #expect(!add(s, "7") && s.isIntset)
        #expect(add(s, "512") && !s.isIntset && s.count == 513)
        let t = SetValue()
        _ = add(t, "1")
        #expect(add(t, "x") && !t.isIntset && Set(members(t)) == ["1", "x"])
        #expect(remove(t, "x") && !t.isIntset, "never converts back")
    }

    @Test func rdbRoundTripsBothEncodings() throws {
        let s = SetValue()
        for m in ["3", "-1", "70000"] { _ = add(s, m) }
        #expect(s.rdbType == 11)
        let back = try decode(11, encode(s))
        #expect(back.isIntset && members(back) == ["-1", "3", "70000"])
        let t = SetValue()
        for m in ["a", "b", "\u{0}", "1"] { _ = add(t, m) }
        #expect(t.rdbType == 2)
        let tb = try decode(2, encode(t))
        #expect(!tb.isIntset && Set(members(tb)) == Set(members(t)))
        // Type 2 of integers only comes back an intset, as Redis loads it.
        var sink = RDBPlainSink()
        sink.rdbLength(2); rdbPut(&sink, "2"); rdbPut(&sink, "1")
        let ints = try decode(2, sink.bytes)
        #expect(ints.isIntset && members(ints) == ["1", "2"])
    }

    @Test func corruptRecordsAreRefused() {
        let bad: [[UInt8]] = [
            intsetBytes(width: 2, [2, 1]),          // unsorted
            intsetBytes(width: 2, [1, 1]),          // duplicate
            intsetBytes(width: 3, [1]),             // no such width
            intsetBytes(width: 2, []),              // empty
            Array(intsetBytes(width: 4, [1, 2]).dropLast()),  // length does not match
        ]
        for blob in bad {
            #expect(throws: (any Error).self) { try decode(11, rdbString(blob)) }
        }
        var sink = RDBPlainSink()
        sink.rdbLength(2); rdbPut(&sink, "a"); rdbPut(&sink, "a")
        #expect(throws: (any Error).self) { try decode(2, sink.bytes) }
        // Every truncation of a valid record throws.
        let s = SetValue()
        for i in 0..<20 { _ = add(s, "m\(i)") }
        let full = encode(s)
        for n in 0..<full.count {
            #expect(throws: (any Error).self) { try decode(2, Array(full[0..<n])) }
        }
        // A wide intset of small values is valid (Redis keeps its width).
        #expect((try? decode(11, rdbString(intsetBytes(width: 8, [1, 2])))) != nil)
    }

    /// Flipped bytes in every encoding: any outcome but a crash; an accepted set is readable
    /// and holds no duplicate.
    @Test func flippedBytesAreRefusedOrValid() {
        let ints = SetValue()
        for i in 0..<40 { _ = add(ints, "\(i * 1000 - 7)") }
        let strs = SetValue()
        for i in 0..<30 { _ = add(strs, "m\(i)") }
        var lp = Listpack.new(capacity: 0)
        var enc: [UInt8] = []
        for m in ["1", "x", "300", "yy"] { b(m).withUnsafeBytes { Listpack.encode(string: $0, into: &enc) } }
        Listpack.append(&lp, encoded: enc, count: 4)
        let listpack = rdbString(Array(Listpack.bytes(lp)))
        free(lp)
        var rng = SplitMix64(seed: 13)
        for (type, base) in [(UInt8(11), encode(ints)), (UInt8(2), encode(strs)), (UInt8(20), listpack)] {
            for _ in 0..<3000 {
                var c = base
                c[rng.below(c.count)] = UInt8(rng.below(256))
                if let got = try? decode(type, c) {
                    let all = members(got)
                    #expect(Set(all).count == all.count && all.count == got.count)
                }
            }
        }
    }

    @Test func readsRedis72Listpacks() throws {
        var lp = Listpack.new(capacity: 0)
        var enc: [UInt8] = []
        for m in ["1", "2", "x"] { b(m).withUnsafeBytes { Listpack.encode(string: $0, into: &enc) } }
        Listpack.append(&lp, encoded: enc, count: 3)
        let bytes = Array(Listpack.bytes(lp))
        free(lp)
        let s = try decode(20, rdbString(bytes))
        #expect(!s.isIntset && Set(members(s)) == ["1", "2", "x"])
        var lp2 = Listpack.new(capacity: 0)
        var enc2: [UInt8] = []
        for m in ["1", "1"] { b(m).withUnsafeBytes { Listpack.encode(string: $0, into: &enc2) } }
        Listpack.append(&lp2, encoded: enc2, count: 2)
        let dup = Array(Listpack.bytes(lp2))
        free(lp2)
        #expect(throws: (any Error).self) { try decode(20, rdbString(dup)) }
    }

    @Test func intsetMembersReadBackAsTheirText() {
        let s = SetValue()
        for m in ["9223372036854775807", "0", "-7", "-9223372036854775808", "10"] { _ = add(s, m) }
        #expect(members(s) == ["-9223372036854775808", "-7", "0", "10", "9223372036854775807"])
        #expect(b("-9223372036854775808").withUnsafeBytes { s.contains($0) })
    }

    @Test func duplicateSharesNothing() {
        let s = SetValue()
        _ = add(s, "1")
        let copy = s.duplicate()
        _ = add(copy, "2")
        #expect(members(s) == ["1"] && members(copy) == ["1", "2"])
    }
}
