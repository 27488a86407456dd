import Testing
import TestSupport
@testable import Values

// Hash: the listpack/hashtable conversion at Redis's thresholds, RDB round trips of both
// encodings, the legacy encodings (ziplist, zipmap) read from hand-built bytes, and corrupt
// or truncated records refused with an error, never a crash.

private func b(_ s: String) -> [UInt8] { Array(s.utf8) }

private func hexBytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.utf8)
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<($0 + 2)], as: UTF8.self), radix: 16)! }
}

private func set(_ h: Hash, _ f: String, _ v: String) -> Bool {
    b(f).withUnsafeBytes { fb in b(v).withUnsafeBytes { h.set(fb, $0) } }
}

private func pairs(_ h: Hash) -> [String: String] {
    var out: [String: String] = [:]
    h.forEach { f, v in out[String(decoding: f, as: UTF8.self)] = String(decoding: v, as: UTF8.self) }
    return out
}

private func encode(_ h: Hash) -> [UInt8] {
    var sink = RDBPlainSink()
    try! h.writeRDB(to: &sink)
    return sink.bytes
}

private func decode(_ type: UInt8, _ bytes: [UInt8]) throws -> Hash {
    try bytes.withUnsafeBytes { raw in
        var src = RDBPlainSource(raw)
        return try Hash.readRDB(type: type, from: &src)
    }
}

/// An RDB string item (length + bytes, no integer encoding).
private func rdbString(_ s: [UInt8]) -> [UInt8] {
    var sink = RDBPlainSink()
    sink.rdbLength(UInt64(s.count))
    return sink.bytes + s
}

/// A ziplist of `elements` (strings up to 63 bytes, or small integers as Int).
private func ziplist(_ elements: [Any]) -> [UInt8] {
    var body: [UInt8] = []
    var prev = 0
    var lastStart = 10
    for e in elements {
        var entry: [UInt8] = [UInt8(prev)]
        if let s = e as? String {
            entry.append(UInt8(s.utf8.count)); entry += Array(s.utf8)
        } else if let i = e as? Int, (0...12).contains(i) {
            entry.append(0xF1 + UInt8(i))
        } else if let i = e as? Int {
            entry.append(0xC0); entry += [UInt8(truncatingIfNeeded: i), UInt8(truncatingIfNeeded: i >> 8)]
        }
        lastStart = 10 + body.count
        body += entry
        prev = entry.count
    }
    let total = 10 + body.count + 1
    func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    return le32(total) + le32(lastStart) + [UInt8(elements.count), 0] + body + [0xFF]
}

/// A zipmap of string pairs (short lengths), each value with `free` unused bytes.
private func zipmap(_ pairs: [(String, String)], free: Int = 0) -> [UInt8] {
    var z: [UInt8] = [UInt8(pairs.count)]
    for (f, v) in pairs {
        z.append(UInt8(f.utf8.count)); z += Array(f.utf8)
        z.append(UInt8(v.utf8.count)); z.append(UInt8(free)); z += Array(v.utf8)
        z += [UInt8](repeating: 0, count: free)
    }
    return z + [0xFF]
}

@Suite(.serialized) struct HashTests {
    @Test func staysListpackUpToTheLimitsThenConverts() {
        let h = Hash()
        for i in 0..<512 { #expect(set(h, "f\(i)", "v")) }
        #expect(h.encodingName == "listpack")
        #expect(set(h, "f512", "v"))
        #expect(h.encodingName == "hashtable")
        #expect(h.count == 513)
        #expect(pairs(h)["f7"] == "v")

        let long = Hash()
        #expect(set(long, "f", String(repeating: "x", count: 64)))
        #expect(long.encodingName == "listpack")
        #expect(set(long, "g", String(repeating: "x", count: 65)))
        #expect(long.encodingName == "hashtable")
        #expect(long.count == 2)
    }

    @Test func overwriteDeleteAndIntegerValues() {
        let h = Hash()
        #expect(set(h, "a", "1"))
        #expect(set(h, "b", "hello"))
        #expect(!set(h, "a", "12345678901"))
        #expect(b("a").withUnsafeBytes { h.valueLength($0) } == 11)
        #expect(b("a").withUnsafeBytes { h.remove($0) })
        #expect(!b("a").withUnsafeBytes { h.remove($0) })
        #expect(pairs(h) == ["b": "hello"])
        #expect(h.count == 1)
    }

    @Test func rdbRoundTripsBothEncodings() throws {
        let small = Hash()
        _ = set(small, "name", "ada"); _ = set(small, "n", "-42")
        #expect(small.rdbType == 16)
        let back = try decode(16, encode(small))
        #expect(pairs(back) == pairs(small))
        #expect(back.encodingName == "listpack")

        let big = Hash()
        for i in 0..<1000 { _ = set(big, "field:\(i)", "value:\(i)") }
        #expect(big.rdbType == 4)
        let back2 = try decode(4, encode(big))
        #expect(pairs(back2) == pairs(big))
        #expect(back2.encodingName == "hashtable")
        #expect(pairs(big.duplicate()) == pairs(big))
    }

    @Test func type4PicksTheEncodingRedisWould() throws {
        var rec: [UInt8] = [2]
        rec += rdbString(b("a")) + rdbString(b("1")) + rdbString(b("b")) + rdbString(b("2"))
        #expect(try decode(4, rec).encodingName == "listpack")
        var long: [UInt8] = [1]
        long += rdbString(b("a")) + rdbString([UInt8](repeating: 65, count: 65))
        #expect(try decode(4, long).encodingName == "hashtable")
        #expect(try decode(4, [0]).isEmptyCollection)
    }

    @Test func duplicateFieldsAreCorrupt() {
        var rec: [UInt8] = [2]
        rec += rdbString(b("a")) + rdbString(b("1")) + rdbString(b("a")) + rdbString(b("2"))
        #expect(throws: (any Error).self) { try decode(4, rec) }
        #expect(throws: (any Error).self) { try decode(13, rdbString(ziplist(["a", 1, "a", 2]))) }
        #expect(throws: (any Error).self) { try decode(9, rdbString(zipmap([("a", "1"), ("a", "2")]))) }
    }

    @Test func readsZiplistAndZipmap() throws {
        let z = try decode(13, rdbString(ziplist(["name", "ada", "age", 36, "n", 1000])))
        #expect(pairs(z) == ["name": "ada", "age": "36", "n": "1000"])
        #expect(z.encodingName == "listpack")
        let m = try decode(9, rdbString(zipmap([("k", "v"), ("x", "yz")], free: 2)))
        #expect(pairs(m) == ["k": "v", "x": "yz"])
        #expect(throws: (any Error).self) { try decode(13, rdbString(ziplist(["odd"]))) }
    }

    @Test func everyTruncationAndByteFlipIsRefusedOrValid() {
        let h = Hash()
        for i in 0..<5 { _ = set(h, "f\(i)", "value \(i)") }
        let full = encode(h)
        for n in 0..<full.count {
            #expect(throws: (any Error).self) { try decode(16, Array(full[0..<n])) }
        }
        let big = Hash()
        for i in 0..<600 { _ = set(big, "f\(i)", "\(i)") }
        let full4 = encode(big)
        for n in stride(from: 0, to: full4.count, by: 97) {
            #expect(throws: (any Error).self) { try decode(4, Array(full4[0..<n])) }
        }
        // Flipped bytes: any outcome but a crash; an accepted hash must be readable.
        var rng = SplitMix64(seed: 9)
        for type: UInt8 in [16, 13, 9] {
            let base = type == 16 ? full : rdbString(type == 13 ? ziplist(["a", "1", "b", 300]) : zipmap([("a", "b")]))
            for _ in 0..<3000 {
                var c = base
                c[rng.below(c.count)] = UInt8(rng.below(256))
                if let got = try? decode(type, c) { _ = pairs(got) }
            }
        }
    }

    /// Payloads of Redis's tests/integration/corrupt-dump.tcl (RESTORE's type byte and
    /// value, without version and CRC) that Redis refuses: every one must throw here too.
    @Test(arguments: [
        ("ziplist entry length past its end", "0d1b1b00000016000000040000026100040262000414630004026400ff"),
        ("ziplist zlbytes wrong", "0d1b2500000016000000040000026100040262000402630004026400ff"),
        ("ziplist duplicate fields", "0d1b1b00000016000000040000026100040262000402610004026400ff"),
        ("ziplist duplicates, wrong count",
         "0d3d3d0000003a000000141300f502f502f202535f3104f302f302f702f702f802025f3704f102f102f602025f3504f402025f3304fa02025f3904f902f9ff"),
        ("listpack duplicate fields", "101717000000040082610003826200038261000382640003ff"),
        ("type 4 duplicate fields", "04020161016201610164"),
        ("empty zipmap", "090200ff"),
        ("ziplist entry header past the end", "0d191900000016000000060000f102f102f202025f31049902f3ff"),
        ("ziplist uneven entries",
         "0d3d3d00000038000000140000f202025f31041c02f702f102f102f502f502f402025f3304f602025f3504f802025f3704f902f902f302f302fa02025f39ff"),
    ])
    func redisCorruptPayloadsAreRefused(name: String, hex: String) {
        let payload = hexBytes(hex)
        #expect(throws: (any Error).self, "\(name)") { try decode(payload[0], Array(payload.dropFirst())) }
    }

    /// A fuzzer finding Redis accepts (corrupt-dump.tcl "hash crash"): integer fields and
    /// values in immediate encodings.
    @Test func redisFuzzerHashLoads() throws {
        let payload = hexBytes("0d191900000016000000060000f102f102f202025f3104f302f3ff")
        let h = try decode(payload[0], Array(payload.dropFirst()))
        #expect(pairs(h) == ["0": "0", "1": "_1", "2": "2"])
        #expect(set(h, "394891450", "1635910264"))
        #expect(b("887312884855").withUnsafeBytes { f in h.withValue(f) { $0 == nil } })
    }

    @Test func digestMixesEachPairIntoAnElementDigest() {
        struct Recorder: ValueDigest {
            var items: [String] = []
            mutating func mix(_ bytes: UnsafeRawBufferPointer) { items.append(String(decoding: bytes, as: UTF8.self)) }
            mutating func mix(bigEndian value: UInt32) { items.append("type \(value)") }
            mutating func xor(_ bytes: UnsafeRawBufferPointer) { items.append("xor") }
            mutating func xorElement(_ build: (inout Recorder) -> Void) {
                var e = Recorder()
                build(&e)
                items.append("element(" + e.items.joined(separator: ",") + ")")
            }
        }
        let h = Hash()
        _ = set(h, "f", "7")
        var d = Recorder()
        h.digest(into: &d)
        #expect(d.items == ["type 4", "element(f,7)"])
    }
}
