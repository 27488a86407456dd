import Glibc
import Testing
import TestSupport
@testable import Values

// Stream (listpack nodes in Redis's layout): node limits, reads both ways, delete and trim,
// the snapshot encoding at edge sizes and under truncation, and the ValueType members.

private func id(_ ms: UInt64, _ seq: UInt64 = 0) -> StreamID { StreamID(ms: ms, seq: seq) }

/// A stream of `n` entries with IDs 1-0...n-0 and one field "f" = "v<i>".
private func stream(_ n: Int) -> Stream {
    let s = Stream()
    for i in 1...max(n, 1) where n > 0 { appendEntry(s, id(UInt64(i)), [("f", "v\(i)")]) }
    return s
}

@Suite struct StreamTests {
    @Test func emptyStreamRoundTrips() throws {
        let s = Stream()
        #expect(s.nodes.isEmpty && s.length == 0 && s.edgeID(first: true) == nil)
        let back = try decode(encoding(s))
        #expect(encoding(back) == encoding(s) && back.nodes.isEmpty)
    }

    @Test func oneEntry() throws {
        let s = stream(1)
        #expect(s.nodes.count == 1 && s.length == 1 && s.firstID == id(1) && s.lastID == id(1))
        #expect(entries(s) == ["1-0 f=v1"])
        let back = try decode(encoding(s))
        #expect(entries(back) == ["1-0 f=v1"] && encoding(back) == encoding(s))
    }

    /// stream-node-max-entries (100 by default): a node closes after 100 entries.
    @Test func nodeEntryLimit() throws {
        let s = stream(250)
        #expect(s.nodes.map(\.master) == [id(1), id(101), id(201)])
        #expect(entries(s).count == 250 && entries(s, reverse: true) == entries(s).reversed())
        #expect(entries(try decode(encoding(s))) == entries(s))
    }

    /// stream-node-max-bytes (4096 by default): a node closes before it would reach the limit.
    @Test func nodeByteLimit() {
        let s = Stream()
        let big = String(repeating: "x", count: 1500)
        for i in 1...6 { appendEntry(s, id(UInt64(i)), [("f", big)]) }
        #expect(s.nodes.count == 3)
        for n in s.nodes { #expect(Listpack.totalBytes(n.lp) < 4096) }
    }

    /// Entries whose fields differ from the master entry's are stored with their own fields.
    @Test func differentFieldsAndSameFields() {
        let s = Stream()
        appendEntry(s, id(1), [("a", "1"), ("b", "2")])
        appendEntry(s, id(2), [("a", "3"), ("b", "4")])
        appendEntry(s, id(3), [("c", "5")])
        #expect(entries(s) == ["1-0 a=1 b=2", "2-0 a=3 b=4", "3-0 c=5"])
        #expect(StreamNodeCheck.isValid(s.nodes[0].lp))
    }

    @Test func deleteAndTrim() throws {
        let s = stream(250)
        #expect(s.delete(id(5)) && !s.delete(id(5)) && !s.contains(id(5)) && s.length == 249)
        let removed = s.trim(.maxLength(60), approximate: false, limit: 0)
        #expect(removed == 189 && s.length == 60)
        #expect(s.edgeID(first: true) == id(191))
        #expect(s.nodes.first?.master == id(101), "whole nodes before the first kept entry are dropped")
        let back = try decode(encoding(s))
        #expect(entries(back) == entries(s) && back.length == 60)
        let minTrimmed = s.trim(.minID(id(240)), approximate: false, limit: 0)
        #expect(minTrimmed == 49 && s.edgeID(first: true) == id(240))
    }

    /// Cut at every byte: always a thrown error, never a crash or a half-loaded stream.
    @Test func everyTruncationOfTheEncodingThrows() {
        let full = encoding(sampleStream(entries: 30))
        for cut in 0..<full.count {
            #expect(throws: (any Error).self, "cut at \(cut)") { try decode(Array(full[0..<cut])) }
        }
    }

    // MARK: As a value type

    @Test func registryFindsStreamsByEveryRDBType() {
        for t: UInt8 in [15, 19, 21] { #expect(ValueTypes.type(forRDB: t) == Stream.self) }
        for t: UInt8 in [0, 6, 7, 255] { #expect(ValueTypes.type(forRDB: t) == nil) }
        for t: UInt8 in [1, 10, 14, 18] { #expect(ValueTypes.type(forRDB: t) == ListValue.self) }
        for t: UInt8 in [2, 11, 20] { #expect(ValueTypes.type(forRDB: t) == SetValue.self) }
        for t: UInt8 in [4, 9, 13, 16] { #expect(ValueTypes.type(forRDB: t) == Hash.self) }
    }

    @Test func valueTypeMembers() throws {
        let s = sampleStream(entries: 40)
        #expect(s.typeName == "stream" && s.encodingName == "stream" && s.rdbType == 19)
        let decoded = try s.snapshotEncoding().withUnsafeBytes { try ValueTypes.decodeSnapshot(rdbType: 19, $0) }
        #expect(decoded.snapshotEncoding() == s.snapshotEncoding())
        #expect(stream(300).memoryUsage > stream(3).memoryUsage)
        #expect(stream(3).memoryUsage > 0)
    }

    /// COPY's copy shares nothing: changing the copy leaves the original as it was.
    @Test func duplicateIsDeep() {
        let s = sampleStream(entries: 40)
        let before = encoding(s)
        let copy = s.duplicate()
        #expect(encoding(copy) == before)
        appendEntry(copy, id(UInt64.max), [("x", "y")])
        _ = copy.trim(.maxLength(1), approximate: false, limit: 0)
        copy.groups[0].pel = SortedIDMap()
        #expect(encoding(s) == before)
    }

    /// The digest sees entries' IDs, fields and values, and nothing else (not node layout).
    @Test func digestFollowsContent() {
        struct Recorder: ValueDigest {
            var items: [[UInt8]] = []
            mutating func mix(_ bytes: UnsafeRawBufferPointer) { items.append(Array(bytes)) }
            mutating func mix(bigEndian value: UInt32) { items.append([UInt8(value)]) }
            mutating func xor(_ bytes: UnsafeRawBufferPointer) { items.append(Array(bytes)) }
            mutating func xorElement(_ build: (inout Recorder) -> Void) { build(&self) }
        }
        var d = Recorder()
        let s = Stream()
        appendEntry(s, id(7, 1), [("f", "v")])
        s.digest(into: &d)
        #expect(d.items == [[6], bytes("7.1"), bytes("f"), bytes("v")])
    }
}
