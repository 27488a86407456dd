import Testing
@testable import Server

@Suite struct ReplySinkTests {
    /// Every shard request carries a sink: the operation generation sits in the padding after
    /// `kind`, so a request stays the size it was.
    @Test func generationFitsInThePadding() {
        #expect(MemoryLayout<ReplySink>.size == 20)
        #expect(MemoryLayout<ReplySink>.stride == 24)
        let sink = ReplySink(kind: .operation, generation: 7, index: 3, id: 9, ticket: 1)
        #expect(sink.generation == 7 && sink.index == 3 && sink.id == 9 && sink.ticket == 1)
    }
}
