import Testing
@testable import Server

@Suite struct BacklogTests {
    func bytes(_ b: Backlog, from offset: Int64) -> [UInt8] {
        var out: [UInt8] = []
        var o = offset
        while o <= b.endOffset {
            let run = b.run(from: o)
            out += Array(run)
            o += Int64(run.count)
        }
        return out
    }

    @Test func offsetsAreRedisOnesAndRunsCrossChunks() {
        let b = Backlog(after: 0)
        #expect(b.startOffset == 1 && b.endOffset == 0 && b.isEmpty)
        let data = (0..<(Backlog.chunkSize * 2 + 100)).map { UInt8(truncatingIfNeeded: $0 * 7) }
        data.withUnsafeBytes { b.append($0) }
        #expect(b.endOffset == Int64(data.count))
        #expect(bytes(b, from: 1) == data)
        #expect(bytes(b, from: 5000) == Array(data[4999...]))
        #expect(b.covers(1) && b.covers(b.endOffset + 1) && !b.covers(b.endOffset + 2))
    }

    @Test func trimKeepsWhatReplicasNeedAndTheConfiguredSize() {
        let b = Backlog(after: 100)
        let chunk = [UInt8](repeating: 1, count: Backlog.chunkSize)
        for _ in 0..<4 { chunk.withUnsafeBytes { b.append($0) } }
        // A replica at the very start pins everything.
        b.trim(toSize: 1, keepFrom: 101)
        #expect(b.startOffset == 101)
        // Without it, history shrinks by whole chunks to no less than the size asked.
        b.trim(toSize: Int64(Backlog.chunkSize), keepFrom: b.endOffset + 1)
        #expect(b.historyLength >= Int64(Backlog.chunkSize))
        #expect(b.historyLength < Int64(Backlog.chunkSize * 2))
        #expect(!b.covers(101))
        b.reset(after: 5000)
        #expect(b.startOffset == 5001 && b.isEmpty)
    }
}
