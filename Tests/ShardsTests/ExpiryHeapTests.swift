import Testing
import Shards
import TestSupport

@Suite struct ExpiryHeapTests {
    @Test func popsInDeadlineOrderWithRandomDeadlines() {
        var rng = SplitMix64(seed: 11)
        var heap = ExpiryHeap()
        let entries = (0..<5000).map { makeEntry("k\($0)") }
        var deadlines: [Int64] = []
        for e in entries {
            let d = Int64(rng.next() % 1000)  // many duplicates
            heap.push(deadline: d, entry: e)
            deadlines.append(d)
        }
        #expect(heap.count == 5000)
        #expect(heap.earliest == deadlines.min())
        var popped: [Int64] = []
        while let item = heap.popFirst() {
            popped.append(item.deadline)
            #expect(deadlines[Int(string(item.entry.key).dropFirst())!] == item.deadline)
        }
        #expect(popped == deadlines.sorted())
        #expect(heap.count == 0)
        #expect(heap.earliest == nil)
        for e in entries { e.free() }
    }

    @Test func popDueStopsAtNow() {
        var heap = ExpiryHeap()
        let e = makeEntry("k")
        for d in [50, 10, 40, 20, 30] as [Int64] { heap.push(deadline: d, entry: e) }
        #expect(e.heapReferences == 5)
        #expect(heap.popDue(now: 5) == nil)
        var due: [Int64] = []
        while let item = heap.popDue(now: 30) { due.append(item.deadline) }
        #expect(due == [10, 20, 30])
        #expect(heap.count == 2)
        #expect(heap.earliest == 40)
        heap.removeAll { _ in }
        #expect(heap.count == 0)
        e.free()
    }

    @Test func interleavedPushAndPopStayOrdered() {
        var rng = SplitMix64(seed: 5)
        var heap = ExpiryHeap()
        let e = makeEntry("k")
        var model: [Int64] = []
        for round in 0..<20_000 {
            if rng.next() % 3 != 0 || model.isEmpty {
                let d = Int64(rng.next() % 100_000)
                heap.push(deadline: d, entry: e)
                model.append(d)
            } else {
                let item = heap.popFirst()!
                let smallest = model.min()!
                #expect(item.deadline == smallest, "round \(round)")
                model.remove(at: model.firstIndex(of: smallest)!)
            }
        }
        #expect(heap.count == model.count)
        heap.removeAll { _ in }
        e.free()
    }

    @Test func compactDropsRejectedItemsAndKeepsHeapOrder() {
        var rng = SplitMix64(seed: 9)
        var heap = ExpiryHeap()
        let live = makeEntry("live"), stale = makeEntry("stale")
        for _ in 0..<3000 {
            let d = Int64(rng.next() % 1_000_000)
            heap.push(deadline: d, entry: d % 2 == 0 ? live : stale)
        }
        let staleCount = Int(stale.heapReferences)
        var dropped = 0
        heap.compact(isLive: { $0.entry == live }, drop: { item in
            #expect(item.entry == stale)
            dropped += 1
        })
        #expect(dropped == staleCount)
        #expect(heap.count == 3000 - staleCount)
        // Pushes after a compaction still land in order.
        for d in [5, 999_999_999, 17] as [Int64] { heap.push(deadline: d, entry: live) }
        var last = Int64.min
        var n = 0
        while let item = heap.popFirst() {
            #expect(item.entry == live)
            #expect(item.deadline % 2 == 0 || [5, 999_999_999, 17].contains(item.deadline))
            #expect(item.deadline >= last)
            last = item.deadline
            n += 1
        }
        #expect(n == 3000 - staleCount + 3)
        live.free(); stale.free()
    }

    @Test func compactToNothingAndToEverything() {
        var heap = ExpiryHeap()
        let e = makeEntry("k")
        for d in 0..<100 as Range<Int64> { heap.push(deadline: 100 - d, entry: e) }
        heap.compact(isLive: { _ in true }, drop: { _ in Issue.record("nothing should drop") })
        #expect(heap.count == 100)
        #expect(heap.earliest == 1)
        heap.compact(isLive: { _ in false }, drop: { _ in })
        #expect(heap.count == 0)
        #expect(heap.popFirst() == nil)
        e.free()
    }
}
