import Testing
import Net
import Shards
import Synchronization
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The sleep/wake protocol between a ring's producer and a consumer that blocks in epoll
/// (Waker): a producer signals only a consumer that said it sleeps, and no message is left
/// in the ring while the consumer sleeps.
@Suite struct WakerTests {
    @Test func aBusyConsumerIsNotSignalled() {
        let waker = Waker()
        waker.wakeIfAsleep()
        let loop = EventLoop(capacity: 4)
        loop.add(waker.fd, events: EventLoop.readable, token: 1)
        #expect(loop.wait(timeoutMs: 0) == 0)  // no signal while awake
        waker.willSleep()
        waker.wakeIfAsleep()
        #expect(loop.wait(timeoutMs: 1000) == 1)
        waker.drain()
        waker.wakeIfAsleep()  // the first signal lowered the flag: one signal per sleep
        #expect(loop.wait(timeoutMs: 0) == 0)
    }

    /// Many short bursts with the consumer going to sleep between them: a lost wake-up
    /// leaves an element in the ring while the consumer waits out its whole timeout.
    @Test(.timeLimit(.minutes(2)))
    func noWakeUpIsLost() {
        let ring = SPSCRing<Int>(capacity: 64)
        let waker = Waker()
        let total = 20_000
        let producer = OSThread {
            var next = 0
            while next < total {
                // Bursts of 1-3, then a pause long enough for the consumer to go to sleep.
                for _ in 0..<(1 + next % 3) where next < total {
                    guard case .pushed(let drained) = ring.push(next) else { break }
                    if drained { waker.wakeIfAsleep() }
                    next += 1
                }
                if next % 7 == 0 { sched_yield() }
            }
        }
        let loop = EventLoop(capacity: 4)
        loop.add(waker.fd, events: EventLoop.readable, token: 1)
        var expected = 0, missedWakeUps = 0
        while expected < total {
            while let v = ring.pop() {
                #expect(v == expected)
                expected += 1
            }
            guard expected < total else { break }
            waker.willSleep()
            let timeout: Int32 = ring.hasElements ? 0 : 2000
            if loop.wait(timeoutMs: timeout) == 0 && timeout != 0 && ring.hasElements { missedWakeUps += 1 }
            waker.awake()
            waker.drain()
        }
        producer.join()
        #expect(missedWakeUps == 0)
        #expect(expected == total)
    }
}
