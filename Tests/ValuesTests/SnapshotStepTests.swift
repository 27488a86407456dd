import Testing
import TestSupport
@testable import Values

// A snapshot copies a big value in steps (`writeRDBStep`): whatever the step size, the
// bytes are exactly those `writeRDB` writes in one go, for every type and encoding.

private func whole(_ v: some ValueType) -> [UInt8] {
    var sink = RDBPlainSink()
    try! v.writeRDB(to: &sink)
    return sink.bytes
}

private func inSteps(_ v: some ValueType, budget: Int) -> (bytes: [UInt8], steps: Int) {
    var sink = RDBPlainSink()
    var cursor = 0
    var steps = 1
    while !v.writeRDBStep(to: &sink, cursor: &cursor, budget: budget) { steps += 1 }
    return (sink.bytes, steps)
}

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

private func sortedSet(_ n: Int) -> SortedSet {
    let limits = SortedSetLimits(maxEntries: 128, maxValue: 64)
    let z = SortedSet(firstMemberLength: 8, limits: limits)
    for i in 0..<n { bytes("member:\(i)").withUnsafeBytes { z.insert($0, score: Double(i % 97) / 3, limits: limits) } }
    return z
}

private func hash(_ n: Int) -> Hash {
    let h = Hash()
    for i in 0..<n {
        bytes("field:\(i)").withUnsafeBytes { f in bytes("value \(i)").withUnsafeBytes { _ = h.set(f, $0) } }
    }
    return h
}

private func set(_ n: Int) -> SetValue {
    let s = SetValue()
    for i in 0..<n { bytes("member:\(i)").withUnsafeBytes { _ = s.add($0) } }
    return s
}

private func list(_ n: Int, compressDepth: Int) -> ListValue {
    let l = ListValue(fill: -2, compressDepth: compressDepth)
    for i in 0..<n { bytes("element number \(i)").withUnsafeBytes { l.push($0, head: false) } }
    l.settle()
    return l
}

@Test(arguments: [1, 7, 100, 4096])
func stepsWriteWhatWriteRDBWrites(budget: Int) {
    for n in [0, 1, 5, 200, 5000] {
        if n > 0 {
            let z = sortedSet(n), h = hash(n), s = set(n)
            #expect(inSteps(z, budget: budget).bytes == whole(z), "zset \(n)")
            #expect(inSteps(h, budget: budget).bytes == whole(h), "hash \(n)")
            #expect(inSteps(s, budget: budget).bytes == whole(s), "set \(n)")
        }
        if n > 0 {
            for groups in [false, true] {
                let st = sampleStream(entries: n, withGroups: groups && n > 50)
                #expect(inSteps(st, budget: budget).bytes == whole(st), "stream \(n) groups \(groups)")
            }
        }
        for depth in [0, 1] {
            let l = list(n, compressDepth: depth)
            #expect(inSteps(l, budget: budget).bytes == whole(l), "list \(n) depth \(depth)")
        }
    }
}

/// A copy begun in steps is finished at once (budget Int.max) when a command is about to
/// touch the value: that step must end it.
@Test func aStepOfUnlimitedBudgetFinishesTheCopy() {
    func finishes(_ v: some ValueType) -> Bool {
        var sink = RDBPlainSink()
        var cursor = 0
        guard !v.writeRDBStep(to: &sink, cursor: &cursor, budget: 10) else { return false }
        guard v.writeRDBStep(to: &sink, cursor: &cursor, budget: Int.max) else { return false }
        return sink.bytes == whole(v)
    }
    #expect(finishes(sortedSet(500)))
    #expect(finishes(hash(1000)))  // above the listpack limit (512)
    #expect(finishes(set(500)))
    #expect(finishes(list(5000, compressDepth: 1)))
    #expect(finishes(sampleStream(entries: 2000)))
}

@Test func bigValuesTakeManyStepsAndSmallOnesOne() {
    #expect(inSteps(sortedSet(5000), budget: 100).steps >= 50)
    #expect(inSteps(hash(5000), budget: 100).steps >= 50)
    #expect(inSteps(set(5000), budget: 100).steps >= 50)
    #expect(inSteps(list(5000, compressDepth: 0), budget: 100).steps >= 10)  // a node (~400 elements) per step
    #expect(inSteps(sampleStream(entries: 5000), budget: 100).steps >= 10)
    #expect(inSteps(sortedSet(50), budget: 100).steps == 1)
    #expect(inSteps(hash(50), budget: 100).steps == 1)
}
