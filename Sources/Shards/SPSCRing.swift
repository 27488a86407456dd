import Synchronization

/// A bounded single-producer single-consumer ring.
///
/// Exactly one thread pushes and exactly one thread pops; no lock. `push` reports whether
/// the consumer had drained everything before this element: only then may it be asleep
/// waiting for one (its `Waker` says whether it is), so pushes onto a ring with work in it
/// never look further. The tail store and the head load on each side are sequentially
/// consistent, so a consumer that finds the ring empty just before sleeping and a producer
/// that finds it non-empty cannot both miss; `hasElements` is the consumer's last look.
public final class SPSCRing<Element>: @unchecked Sendable {
    // Memory: `buffer` slots are written only by the producer before publishing `tail`,
    // and read only by the consumer after observing `tail`.
    private let buffer: UnsafeMutablePointer<Element>
    public let capacity: Int
    private let mask: Int
    private let head = Atomic<Int>(0)  // next slot to pop; written by the consumer
    private let tail = Atomic<Int>(0)  // next slot to fill; written by the producer

    public init(capacity: Int) {
        var c = 2
        while c < capacity { c <<= 1 }
        self.capacity = c
        mask = c - 1
        buffer = .allocate(capacity: c)
    }

    deinit {
        while pop() != nil {}
        buffer.deallocate()
    }

    public enum PushResult { case full, pushed(wakeConsumer: Bool) }

    /// Producer side.
    public func push(_ element: Element) -> PushResult {
        let t = tail.load(ordering: .relaxed)
        if t - head.load(ordering: .acquiring) >= capacity { return .full }
        (buffer + (t & mask)).initialize(to: element)
        tail.store(t + 1, ordering: .sequentiallyConsistent)
        return .pushed(wakeConsumer: head.load(ordering: .sequentiallyConsistent) == t)
    }

    /// Consumer side.
    public func pop() -> Element? {
        let h = head.load(ordering: .relaxed)
        if h == tail.load(ordering: .sequentiallyConsistent) { return nil }
        let element = (buffer + (h & mask)).move()
        head.store(h + 1, ordering: .sequentiallyConsistent)
        return element
    }

    /// Consumer side, before it sleeps: sequentially consistent with the producer's push.
    public var hasElements: Bool {
        head.load(ordering: .relaxed) != tail.load(ordering: .sequentiallyConsistent)
    }

    /// Approximate, for either side.
    public var isEmpty: Bool { head.load(ordering: .relaxed) == tail.load(ordering: .relaxed) }
}
