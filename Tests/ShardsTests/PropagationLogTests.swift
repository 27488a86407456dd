import RESP
import Testing
@testable import Shards

@Suite struct PropagationLogTests {
    struct Record: Equatable {
        var sequence: UInt64, tag: UInt64, parent: UInt64, db: Int, kind: PropagationLog.Kind, payload: String
    }

    func records(_ log: PropagationLog) -> [Record] {
        var out: [Record] = []
        log.handOff { bytes in
            PropagationLog.forEach(in: bytes.readable) { seq, tag, parent, db, kind, payload in
                out.append(Record(sequence: seq, tag: tag, parent: parent, db: db, kind: kind,
                                  payload: String(decoding: payload, as: UTF8.self)))
            }
        }
        return out
    }

    func withArguments(_ words: [String], _ body: (Arguments) -> Void) {
        var bytes: [UInt8] = []
        var spans: [ArgSpan] = []
        for w in words {
            spans.append(ArgSpan(offset: bytes.count, count: w.utf8.count))
            bytes += Array(w.utf8)
        }
        bytes.withUnsafeBytes { b in
            spans.withUnsafeBufferPointer { s in
                body(Arguments(base: b.baseAddress!, spans: s.baseAddress!, count: s.count))
            }
        }
    }

    @Test func commandsAreRESPArraysNumberedInOrder() {
        let clock = OrderClock(workers: 1)
        let log = PropagationLog(clock: clock, worker: 0)
        withArguments(["SET", "k", "v"]) { log.command(db: 3, $0) }
        log.command(db: 0, .text("PEXPIREAT"), .text("k"), .text("123"))
        log.tag = 7
        withArguments(["INCR", "n"]) { log.command(db: 0, $0) }
        log.complete(tag: 7)
        let r = records(log)
        #expect(r.map(\.payload) == ["*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
                                     "*3\r\n$9\r\nPEXPIREAT\r\n$1\r\nk\r\n$3\r\n123\r\n",
                                     "*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n", ""])
        #expect(r.map(\.sequence) == [1, 2, 3, 4])
        #expect(r.map(\.db) == [3, 0, 0, 0])
        #expect(r.map(\.tag) == [0, 0, 7, 7])
        #expect(r.map(\.kind) == [.command, .command, .command, .complete])
    }

    /// A replica's own records are for its AOF only, PUBLISH for replicas only: the routing
    /// bits ride above the kind, which reads back unchanged.
    @Test func routingBitsSayWhereARecordDoesNotGo() {
        let log = PropagationLog(clock: OrderClock(workers: 1), worker: 0)
        withArguments(["SET", "k", "v"]) { log.command(db: 0, $0) }
        log.excludesAOF = true
        log.command(db: 0, .text("PUBLISH"), .text("c"), .text("m"))
        log.excludesAOF = false
        log.forAOFOnly = true
        withArguments(["INCR", "n"]) { log.command(db: 0, $0) }
        log.complete(tag: 9)
        var routing: [UInt32] = []
        var kinds: [PropagationLog.Kind] = []
        log.handOff { bytes in
            var o = 0
            while o < bytes.count {
                let r = PropagationLog.record(in: bytes.readable, at: o)
                routing.append(r.routing)
                kinds.append(r.kind)
                o = r.next
            }
        }
        #expect(routing == [0, PropagationLog.notForAOF, PropagationLog.notForReplicas, PropagationLog.notForReplicas])
        #expect(kinds == [.command, .command, .command, .complete])
    }

    @Test func theFloorCoversUnsentRecordsUntilHandOff() {
        let clock = OrderClock(workers: 2)
        let a = PropagationLog(clock: clock, worker: 0)
        let b = PropagationLog(clock: clock, worker: 1)
        #expect(clock.safeBound() == 1)
        a.raw(UnsafeRawBufferPointer(start: nil, count: 0))   // takes number 1, floor 1
        b.raw(UnsafeRawBufferPointer(start: nil, count: 0))   // number 2, floor 2
        #expect(clock.safeBound() == 1)                       // a still holds 1
        _ = records(a)
        #expect(clock.safeBound() == 2)                       // b still holds 2
        _ = records(b)
        #expect(clock.safeBound() == 3)                       // nothing outstanding
    }

    /// An abandoned script run's records (its group) are dropped, others made meanwhile
    /// stay; a log left empty clears its floor, so the sequencer is not held back.
    @Test func discardDropsOneGroupSinceTheMark() {
        let clock = OrderClock(workers: 1)
        let log = PropagationLog(clock: clock, worker: 0)
        log.tag = 1
        log.touched()
        let mark = log.mark
        log.tag = 7
        log.touched()
        withBytes("k") { log.expired(db: 0, key: $0) }   // tag 0: kept
        log.touched()
        log.discard(tag: 7, since: mark)
        #expect(records(log).map(\.tag) == [1, 0])
        let empty = PropagationLog(clock: clock, worker: 0)
        empty.tag = 3
        empty.touched()
        empty.discard(tag: 3, since: 0)
        #expect(empty.isEmpty && clock.safeBound() == clock.next.load(ordering: .relaxed))
    }

    /// A part of an operation without a group (tag 0: its records go out as they come)
    /// marks nothing: the mark would open a group that no `complete` ever closes.
    @Test func aChangeMarkOutsideAGroupRecordsNothing() {
        let log = PropagationLog(clock: OrderClock(workers: 1), worker: 0)
        log.touched()
        #expect(log.isEmpty)
        log.tag = 9
        log.touched()
        #expect(records(log).map(\.kind) == [.touched])
    }

    @Test func aReplicaRecordsNoExpiries() {
        let log = PropagationLog(clock: OrderClock(workers: 1), worker: 0)
        log.recordsOwnWrites = false
        "k".utf8CString.withUnsafeBytes { log.expired(db: 0, key: UnsafeRawBufferPointer(rebasing: $0.dropLast())) }
        #expect(log.isEmpty)
    }
}
