import Testing
import TestSupport
@testable import Values

// The commands an AOF base of commands holds per value (rewriteAppendOnlyFileRio): RESP
// framing, the split of variadic commands by 64 items, and a stream's XADD/XSETID/XGROUP.

/// The commands of RESP bytes, each a list of its arguments as strings.
private func parse(_ bytes: [UInt8]) -> [[String]] {
    var out: [[String]] = []
    var i = 0
    func line() -> String {
        let start = i
        while bytes[i] != 13 { i += 1 }
        defer { i += 2 }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }
    while i < bytes.count {
        let argc = Int(line().dropFirst())!
        var args: [String] = []
        for _ in 0..<argc {
            let n = Int(line().dropFirst())!
            args.append(String(decoding: bytes[i..<(i + n)], as: UTF8.self))
            i += n + 2
        }
        out.append(args)
    }
    return out
}

@Suite struct RewriteCommandsTests {
    @Test func listSplitsByAOFRewriteItemsPerCmd() {
        let l = ListValue()
        for i in 0..<130 { Array("e\(i)".utf8).withUnsafeBytes { l.push($0, head: false) } }
        var out = RewriteCommands()
        Array("k".utf8).withUnsafeBytes { l.writeRewriteCommands(key: $0, to: &out) }
        let cmds = parse(out.bytes)
        #expect(cmds.map(\.count) == [66, 66, 4])
        #expect(cmds.allSatisfy { $0[0] == "RPUSH" && $0[1] == "k" })
        #expect(cmds.flatMap { $0.dropFirst(2) } == (0..<130).map { "e\($0)" })
    }

    @Test func hashPairsCountTwicePerItem() {
        let h = Hash()
        for i in 0..<65 {
            Array("f\(i)".utf8).withUnsafeBytes { f in Array("v".utf8).withUnsafeBytes { _ = h.set(f, $0) } }
        }
        var out = RewriteCommands()
        Array("h".utf8).withUnsafeBytes { h.writeRewriteCommands(key: $0, to: &out) }
        #expect(parse(out.bytes).map(\.count) == [2 + 128, 2 + 2])
    }

    @Test func emptyStreamUsesTheMaxlenTrickAndSetsItsID() {
        let s = Stream()
        s.lastID = StreamID(ms: 5, seq: 1)
        s.entriesAdded = 3
        s.maxDeletedEntryID = StreamID(ms: 5, seq: 1)
        _ = Array("g".utf8).withUnsafeBytes { s.createGroup(named: $0, lastID: StreamID(ms: 5, seq: 1), entriesRead: 3) }
        var out = RewriteCommands()
        Array("st".utf8).withUnsafeBytes { s.writeRewriteCommands(key: $0, to: &out) }
        #expect(parse(out.bytes) == [
            ["XADD", "st", "MAXLEN", "0", "0-1", "x", "y"],
            ["XSETID", "st", "5-1", "ENTRIESADDED", "3", "MAXDELETEDID", "5-1"],
            ["XGROUP", "CREATE", "st", "g", "5-1", "ENTRIESREAD", "3"],
        ])
    }

    @Test func integersAndScoresAsRedisPrintsThem() {
        var out = RewriteCommands()
        out.bulk(Int64(-42))
        out.bulk(score: 0.1)
        out.bulk(score: -.infinity)
        #expect(String(decoding: out.bytes, as: UTF8.self) == "$3\r\n-42\r\n$19\r\n0.10000000000000001\r\n$4\r\n-inf\r\n")
    }
}
