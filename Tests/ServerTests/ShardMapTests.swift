import Testing
@testable import Server

@Suite struct ShardMapTests {
    @Test func setsReadsAndRemovesByShard() {
        var m = ShardMap<Int>()
        #expect(m.isEmpty && m[3] == nil)
        m[3] = 30
        m[1] = 10
        m[3] = 31
        #expect(m.count == 2 && m.keys == [3, 1] && m[3] == 31 && m[1] == 10)
        m[3] = nil
        #expect(m.keys == [1] && m[3] == nil)
    }

    @Test func defaultSubscriptAddsOnceAndUpdatesInPlace() {
        var m = ShardMap<[Int]>()
        m[2, default: []].append(1)
        m[2, default: []].append(2)
        m[0, default: []].append(9)
        #expect(m.keys == [2, 0] && m[2] == [1, 2] && m[0] == [9])
        m.updateEach { $0.append(7) }
        #expect(m[2] == [1, 2, 7] && m[0] == [9, 7])
    }
}
