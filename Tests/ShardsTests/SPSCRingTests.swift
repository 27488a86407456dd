import Testing
import Shards
import Synchronization
#if canImport(Glibc)
import Glibc
import TestSupport
#endif

extension SPSCRing.PushResult {
    var pushed: Bool { if case .pushed = self { true } else { false } }
    var wakes: Bool { if case .pushed(let wake) = self { wake } else { false } }
}

@Suite struct SPSCRingSingleThreadTests {
    @Test func capacityRoundsUpToAPowerOfTwo() {
        #expect(SPSCRing<Int>(capacity: 1).capacity == 2)
        #expect(SPSCRing<Int>(capacity: 3).capacity == 4)
        #expect(SPSCRing<Int>(capacity: 8).capacity == 8)
        #expect(SPSCRing<Int>(capacity: 1000).capacity == 1024)
    }

    @Test func fillsUpThenRefuses() {
        let ring = SPSCRing<Int>(capacity: 4)
        #expect(ring.pop() == nil)
        #expect(ring.isEmpty)
        for i in 0..<4 { #expect(ring.push(i).pushed) }
        guard case .full = ring.push(99) else { Issue.record("push into a full ring succeeded"); return }
        #expect(ring.pop() == 0)
        #expect(ring.push(4).pushed)  // one slot freed, one push fits
        guard case .full = ring.push(100) else { Issue.record("push into a full ring succeeded"); return }
        #expect([ring.pop(), ring.pop(), ring.pop(), ring.pop()] == [1, 2, 3, 4])
        #expect(ring.pop() == nil)
        #expect(ring.isEmpty)
    }

    @Test func wrapsAroundManyTimesInOrder() {
        let ring = SPSCRing<Int>(capacity: 4)
        var next = 0, expected = 0
        var rng = SplitMix64(seed: 3)
        while expected < 10_000 {
            // Push a random burst (until full), pop a random burst: indexes wrap constantly.
            for _ in 0..<Int(rng.next() % 5) where ring.push(next).pushed { next += 1 }
            for _ in 0..<Int(rng.next() % 5) {
                guard let v = ring.pop() else { break }
                #expect(v == expected)
                expected += 1
            }
        }
    }

    @Test func wakeFlagOnlyWhenTheRingWasEmpty() {
        let ring = SPSCRing<Int>(capacity: 8)
        #expect(ring.push(1).wakes)        // empty -> non-empty
        #expect(!ring.push(2).wakes)       // consumer has work already
        #expect(!ring.push(3).wakes)
        #expect(ring.pop() == 1)
        #expect(!ring.push(4).wakes)       // still not drained
        #expect(ring.pop() == 2)
        #expect(ring.pop() == 3)
        #expect(ring.pop() == 4)
        #expect(ring.pop() == nil)
        #expect(ring.push(5).wakes)        // drained: wake again
        #expect(ring.pop() == 5)
        #expect(ring.push(6).wakes)
    }

    @Test func releasesElementsLeftInTheRing() {
        weak var probe: Payload?
        do {
            let ring = SPSCRing<Payload>(capacity: 4)
            let object = Payload()
            probe = object
            _ = ring.push(object)
        }
        #expect(probe == nil)  // the ring's deinit released what was never popped
    }
}

private final class Payload {}

@Suite struct SPSCRingTwoThreadTests {
    /// A producer and a consumer on two OS threads, spinning: every value arrives, in order.
    @Test(.timeLimit(.minutes(2)))
    func millionIntegersInOrderThroughASmallRing() {
        let total = 1_000_000
        let ring = SPSCRing<Int>(capacity: 16)
        let producer = OSThread {
            var i = 0
            while i < total {
                if ring.push(i).pushed { i += 1 } else { sched_yield() }
            }
        }
        let mismatches = Atomic<Int>(0)
        let received = Atomic<Int>(0)
        let consumer = OSThread {
            var expected = 0
            var bad = 0
            while expected < total {
                guard let v = ring.pop() else { sched_yield(); continue }
                if v != expected { bad += 1 }
                expected += 1
            }
            mismatches.store(bad, ordering: .relaxed)
            received.store(expected, ordering: .relaxed)
        }
        producer.join()
        consumer.join()
        let count = received.load(ordering: .relaxed), bad = mismatches.load(ordering: .relaxed)
        #expect(count == total)
        #expect(bad == 0)
        #expect(ring.pop() == nil)
    }

    /// The eventfd protocol with a counting semaphore: the consumer sleeps whenever it finds
    /// the ring empty and the producer signals only on `wakeConsumer`. A lost wake-up would
    /// leave the consumer asleep with work queued (caught by the wait's timeout).
    @Test(.timeLimit(.minutes(2)))
    func consumerThatSleepsWhenEmptyIsAlwaysWoken() {
        let total = 200_000
        let ring = SPSCRing<Int>(capacity: 8)
        let wakeups = Semaphore()
        let lostWakeup = Atomic<Bool>(false)
        let signals = Atomic<Int>(0)
        let producer = OSThread {
            var i = 0
            while i < total {
                switch ring.push(i) {
                case .full: sched_yield()
                case .pushed(let wake):
                    if wake { wakeups.signal(); signals.add(1, ordering: .relaxed) }
                    i += 1
                }
            }
        }
        let consumer = OSThread {
            var expected = 0
            while expected < total {
                if let v = ring.pop() {
                    if v != expected { lostWakeup.store(true, ordering: .relaxed); return }
                    expected += 1
                } else if !wakeups.wait(seconds: 10) {
                    lostWakeup.store(true, ordering: .relaxed)
                    return
                }
            }
        }
        producer.join()
        consumer.join()
        let lost = lostWakeup.load(ordering: .relaxed)
        let signalled = signals.load(ordering: .relaxed)
        #expect(!lost)
        #expect(signalled >= 1)
    }
}

/// A counting semaphore with a timed wait (POSIX sem_t).
final class Semaphore: @unchecked Sendable {
    private let sem = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
    init() { sem_init(sem, 0, 0) }
    deinit { sem_destroy(sem); sem.deallocate() }
    func signal() { sem_post(sem) }
    /// False if `seconds` passed without a signal.
    func wait(seconds: Int) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        deadline.tv_sec += seconds
        while sem_timedwait(sem, &deadline) != 0 {
            if errno == ETIMEDOUT { return false }
        }
        return true
    }
}
