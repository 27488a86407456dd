import Glibc
import Testing
import TestSupport
@testable import Values

// Lists: the quicklist of listpack nodes against an array model (pushes, pops, trims,
// inserts, removals, random access from both ends), node fill at the byte and count
// limits, RDB round trips of type 18 and loads of types 1, 10 and 14, corrupt records refused.

private func b(_ s: String) -> [UInt8] { Array(s.utf8) }

private func elements(_ l: ListValue) -> [[UInt8]] {
    var out: [[UInt8]] = []
    l.forEach(from: 0) { out.append(Array($0)); return true }
    return out
}

private func encode(_ l: ListValue) -> [UInt8] {
    var sink = RDBPlainSink()
    try! l.writeRDB(to: &sink)
    return sink.bytes
}

private func decode(_ type: UInt8, _ bytes: [UInt8]) throws -> ListValue {
    try bytes.withUnsafeBytes { raw in
        var src = RDBPlainSource(raw)
        return try ListValue.readRDB(type: type, from: &src)
    }
}

/// Checks the list's structure: node counts match their listpacks, no empty node; once
/// settled, no middle node is left decompressed for recompression.
private func checkInvariants(_ l: ListValue) {
    var total = 0
    for i in l.nodes.indices {
        let n = l.nodes[i]
        #expect(n.count > 0)
        l.withListpack(i) { lp in
            #expect(Listpack.countElements(lp) == n.count)
            #expect(Listpack.isWellFormed(lp))
        }
        total += n.count
    }
    #expect(total == l.count)
    l.settle()
    let d = l.compressDepth
    if d > 0 && l.nodes.count > 2 * d {
        for i in d..<(l.nodes.count - d) { #expect(!l.nodes[i].recompress) }
    }
}

@Suite(.serialized) struct ListTests {
    @Test(arguments: [0, 1, 2])
    func randomOperationsMatchAnArray(compressDepth: Int) {
        for fill in [-2, -1, 4, 1] {
            var rng = SplitMix64(seed: UInt64(100 + fill + 10 * compressDepth))
            let l = ListValue(fill: fill, compressDepth: compressDepth)
            var model: [[UInt8]] = []
            func value() -> [UInt8] {
                switch rng.next() % 4 {
                case 0: return b(String(Int64(bitPattern: rng.next()) >> Int64(rng.next() % 60)))
                case 1: return [UInt8](repeating: UInt8(97 + rng.next() % 3), count: Int(rng.next() % 5))
                case 2: return [UInt8](repeating: 120, count: Int(rng.next() % 300))
                default: return b("v\(rng.next() % 20)")
                }
            }
            for _ in 0..<4000 {
                if rng.next() % 4 == 0 { l.settle() }  // as a command's lookup does
                switch rng.next() % 9 {
                case 0, 1:
                    let v = value()
                    v.withUnsafeBytes { l.push($0, head: true) }
                    model.insert(v, at: 0)
                case 2, 3:
                    let v = value()
                    v.withUnsafeBytes { l.push($0, head: false) }
                    model.append(v)
                case 4:
                    let n = Int(rng.next() % 3)
                    let head = rng.next() % 2 == 0
                    l.removeEnds(n, head: head)
                    if head { model.removeFirst(min(n, model.count)) } else { model.removeLast(min(n, model.count)) }
                case 5:
                    guard !model.isEmpty else { continue }
                    let i = Int(rng.next() % UInt64(model.count))
                    let got = l.withElement(l.cursor(at: i)!) { Array($0) }
                    #expect(got == model[i])
                case 6:
                    guard !model.isEmpty else { continue }
                    let i = Int(rng.next() % UInt64(model.count))
                    let v = value()
                    let after = rng.next() % 2 == 0
                    v.withUnsafeBytes { l.insert($0, at: l.cursor(at: i)!, after: after) }
                    model.insert(v, at: after ? i + 1 : i)
                case 7:
                    guard !model.isEmpty else { continue }
                    let i = Int(rng.next() % UInt64(model.count))
                    l.remove(at: l.cursor(at: i)!)
                    model.remove(at: i)
                default:
                    guard !model.isEmpty else { continue }
                    let i = Int(rng.next() % UInt64(model.count))
                    let v = value()
                    v.withUnsafeBytes { l.replace(l.cursor(at: i)!, with: $0) }
                    model[i] = v
                }
                #expect(l.count == model.count)
            }
            checkInvariants(l)
            #expect(elements(l) == model)
            var reversed: [[UInt8]] = []
            if l.count > 0 { l.forEach(from: l.count - 1, reverse: true) { reversed.append(Array($0)); return true } }
            #expect(reversed == model.reversed())
            // RDB round trip keeps the elements and the node layout.
            let copy = try! decode(ListValue.rdbTypeQuicklist2, encode(l))
            #expect(elements(copy) == model && copy.nodes.count == l.nodes.count)
            #expect(elements(l.duplicate()) == model)
            checkInvariants(l)
        }
    }

    @Test func middleNodesAreCompressedAsRedisQuicklist() {
        // 100 nodes of 79 100-byte strings: with depth 2 the 96 middle ones are compressed,
        // and reading the middle (then settling) leaves them so.
        let l = ListValue(fill: -2, compressDepth: 2)
        let v = [UInt8](repeating: 65, count: 100)
        for _ in 0..<(79 * 100) { v.withUnsafeBytes { l.push($0, head: false) } }
        #expect(l.nodes.count == 100)
        #expect(l.nodes.indices.filter { l.nodes[$0].isCompressed } == Array(2..<98))
        var read = 0
        l.forEach(from: 0) { _ in read += 1; return true }
        #expect(read == l.count)
        #expect(l.nodes.filter(\.isCompressed).count == 96)  // the walk compressed what it opened
        _ = l.withElement(l.cursor(at: 50 * 79)!) { Array($0) }
        #expect(l.nodes.filter(\.isCompressed).count == 95)
        l.settle()
        #expect(l.nodes.filter(\.isCompressed).count == 96)
        // Popping to under 2 x depth + 1 nodes leaves nothing in the middle.
        l.removeEnds(79 * 96, head: true)
        #expect(l.nodes.count == 4 && l.count == 79 * 4)
        #expect(elements(l) == Array(repeating: v, count: 79 * 4))
        // Small or incompressible nodes stay as they are (48 bytes at least, 8 saved).
        let small = ListValue(fill: 1, compressDepth: 1)
        for i in 0..<10 { b("\(i)").withUnsafeBytes { small.push($0, head: false) } }
        #expect(small.nodes.filter(\.isCompressed).isEmpty)
        #expect(ListValue(compressDepth: 1 << 20).compressDepth == 65535)
        // Nodes LINSERT splits off in the middle are compressed at the next settle.
        let split = ListValue(fill: -2, compressDepth: 1)
        for _ in 0..<(79 * 10) { v.withUnsafeBytes { split.push($0, head: false) } }
        for i in stride(from: 5 * 79 + 40, to: 5 * 79 + 47, by: 2) {
            v.withUnsafeBytes { split.insert($0, at: split.cursor(at: i)!, after: false) }
        }
        split.settle()
        #expect(split.nodes.count > 10)
        #expect(split.nodes.indices.dropFirst().dropLast().allSatisfy { split.nodes[$0].isCompressed })
    }

    @Test func nodesFillAsRedisQuicklist() {
        // -2: 8 KB nodes. 100-byte strings take 103 bytes each in a listpack.
        let l = ListValue(fill: -2)
        let v = [UInt8](repeating: 65, count: 100)
        for _ in 0..<200 { v.withUnsafeBytes { l.push($0, head: false) } }
        // 7 + n * 103 + 100 + 8 <= 8192 -> a node takes its 79th at n = 78.
        #expect(l.nodes.map(\.count) == [79, 79, 42])
        let counted = ListValue(fill: 5)
        for i in 0..<12 { b("\(i)").withUnsafeBytes { counted.push($0, head: true) } }
        #expect(counted.nodes.map(\.count) == [2, 5, 5])
        #expect(ListValue(fill: -9).fill == -5 && ListValue(fill: 40000).fill == 32768 && ListValue().fill == -2)
    }

    @Test func loadsOlderEncodings() throws {
        // Type 1: a length then strings.
        var sink = RDBPlainSink()
        sink.rdbLength(3)
        for s in ["a", "12", "ccc"] { b(s).withUnsafeBytes { sink.rdbString($0) } }
        #expect(elements(try decode(ListValue.rdbTypeList, sink.bytes)) == [b("a"), b("12"), b("ccc")])
        // Type 10: one ziplist ("x", 5), built by hand.
        let zl: [UInt8] = [16, 0, 0, 0, 13, 0, 0, 0, 2, 0, 0, 1, 0x78, 3, 0xF6, 0xFF]
        var z = RDBPlainSink()
        zl.withUnsafeBytes { z.rdbString($0) }
        #expect(elements(try decode(ListValue.rdbTypeZiplist, z.bytes)) == [b("x"), b("5")])
        // Type 14: nodes of ziplists.
        var q = RDBPlainSink()
        q.rdbLength(2)
        zl.withUnsafeBytes { q.rdbString($0) }
        zl.withUnsafeBytes { q.rdbString($0) }
        #expect(elements(try decode(ListValue.rdbTypeQuicklist, q.bytes)) == [b("x"), b("5"), b("x"), b("5")])
        // Type 18 with a plain node and an empty listpack (skipped).
        var p = RDBPlainSink()
        p.rdbLength(2)
        p.rdbLength(1)
        b("plain").withUnsafeBytes { p.rdbString($0) }
        p.rdbLength(2)
        let empty = Listpack.new()
        p.rdbString(Listpack.bytes(empty))
        free(empty)
        let loaded = try decode(ListValue.rdbTypeQuicklist2, p.bytes)
        #expect(elements(loaded) == [b("plain")] && loaded.nodes.count == 1)
    }

    @Test func corruptRecordsAreRefused() {
        let l = ListValue()
        for i in 0..<50 { b("element-\(i)").withUnsafeBytes { l.push($0, head: false) } }
        let good = encode(l)
        // Every truncation throws.
        for cut in 0..<good.count {
            #expect(throws: (any Error).self) { _ = try decode(ListValue.rdbTypeQuicklist2, Array(good[0..<cut])) }
        }
        // An unknown container.
        var bad = good
        bad[1] = 3
        #expect(throws: (any Error).self) { _ = try decode(ListValue.rdbTypeQuicklist2, bad) }
        // Flipped bytes never crash: refused or a well-formed list.
        var rng = SplitMix64(seed: 7)
        for _ in 0..<2000 {
            var flipped = good
            flipped[Int(rng.next() % UInt64(good.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
            if let loaded = try? decode(ListValue.rdbTypeQuicklist2, flipped) { checkInvariants(loaded) }
        }
    }
}
