import Testing
@testable import Shards

@Suite struct SlabBufferTests {
    func contents(_ buffer: borrowing SlabBuffer<UInt64>) -> [UInt64] { Array(buffer.elements(0..<buffer.count)) }

    /// Insertion at the front, middle and end, growing past the capacity: the elements after
    /// the insertion point move up in order.
    @Test func insertKeepsTheOrderAroundTheInsertedBlock() {
        var buffer = SlabBuffer<UInt64>(capacity: 2)
        for v: UInt64 in [1, 2, 3] { buffer.append(v) }
        let block: [UInt64] = [10, 11]
        block.withUnsafeBufferPointer { buffer.insert(contentsOf: $0, at: 1) }
        #expect(contents(buffer) == [1, 10, 11, 2, 3])
        block.withUnsafeBufferPointer { buffer.insert(contentsOf: $0, at: 0) }
        #expect(contents(buffer) == [10, 11, 1, 10, 11, 2, 3])
        block.withUnsafeBufferPointer { buffer.insert(contentsOf: $0, at: buffer.count) }
        #expect(contents(buffer) == [10, 11, 1, 10, 11, 2, 3, 10, 11])
        let long = (100..<140).map { UInt64($0) }
        long.withUnsafeBufferPointer { buffer.insert(contentsOf: $0, at: 2) }
        #expect(contents(buffer) == [10, 11] + long + [1, 10, 11, 2, 3, 10, 11])
        [UInt64]().withUnsafeBufferPointer { buffer.insert(contentsOf: $0, at: 3) }
        #expect(buffer.count == 49)
    }
}
