@testable import Server
import Testing

@Suite struct OperationTableTests {
    private func finishAll(_ slots: [Int], in table: inout OperationTable) {
        for slot in slots { table.release(slot) }
        table.recycleRetired()
    }

    private func startOperations(_ n: Int, in table: inout OperationTable) -> [Int] {
        (0..<n).map { _ in table.register(MultiShardOperation(internalWithDB: 0) { _, _ in true }) }
    }

    @Test func aPassFinishingMoreThanTheOldLimitKeepsThemAllForReuse() {
        var table = OperationTable()
        finishAll(startOperations(1600, in: &table), in: &table)
        #expect(table.spareCount == 1600)
        #expect(table.inFlight == 0)
    }

    @Test func thePoolStopsAtItsLimit() {
        var table = OperationTable()
        finishAll(startOperations(OperationTable.maxSpare + 100, in: &table), in: &table)
        #expect(table.spareCount == OperationTable.maxSpare)
    }

    @Test func trimmingKeepsTheRecentPeakThenGivesBackTheBurst() {
        var table = OperationTable()
        finishAll(startOperations(1000, in: &table), in: &table)
        table.trimSpare()  // the burst was since the last trim: kept
        #expect(table.spareCount == 1000)
        let running = startOperations(10, in: &table)
        table.trimSpare()  // quiet since: down to what stays pooled
        #expect(table.spareCount == OperationTable.keptSpare)
        #expect(table.inFlight == 10)
        finishAll(running, in: &table)
        #expect(table.spareCount == OperationTable.keptSpare + 10)
    }

    @Test func aReleasedSlotIsReusedWithANewGeneration() {
        var table = OperationTable()
        let first = MultiShardOperation(internalWithDB: 0) { _, _ in true }
        let slot = table.register(first)
        let generation = first.generation
        table.release(slot)
        let second = MultiShardOperation(internalWithDB: 0) { _, _ in true }
        #expect(table.register(second) == slot)
        #expect(table.operation(slot: slot, generation: generation) == nil)
        #expect(table.operation(slot: slot, generation: second.generation) === second)
    }
}
