import CShim
import Synchronization
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// A thin epoll wrapper: one per worker thread. Registrations carry a 64-bit token
/// that the owner interprets (a connection's fd, the listener, the wake eventfd).
public struct EventLoop: ~Copyable {
    public let fd: Int32
    private let events: OpaquePointer
    public let capacity: Int

    public init(capacity: Int = 1024) {
        fd = vk_epoll_create()
        precondition(fd >= 0, "epoll_create1 failed: errno \(errno)")
        self.capacity = capacity
        events = vk_events_create(Int32(capacity))
    }

    deinit {
        vk_events_destroy(events)
        close(fd)
    }

    public static let readable = VK_EPOLLIN
    public static let writable = VK_EPOLLOUT
    public static let hangup = VK_EPOLLHUP | VK_EPOLLERR | VK_EPOLLRDHUP

    @discardableResult public func add(_ watched: Int32, events mask: UInt32, token: UInt64) -> Bool {
        vk_epoll_add(fd, watched, mask, token) == 0
    }
    @discardableResult public func modify(_ watched: Int32, events mask: UInt32, token: UInt64) -> Bool {
        vk_epoll_modify(fd, watched, mask, token) == 0
    }
    public func remove(_ watched: Int32) { _ = vk_epoll_delete(fd, watched) }

    /// Waits up to `timeoutMs` (-1 forever); returns how many events are ready.
    public func wait(timeoutMs: Int32) -> Int { Int(vk_epoll_wait(fd, events, timeoutMs)) }
    public func token(_ i: Int) -> UInt64 { vk_events_data(events, Int32(i)) }
    public func flags(_ i: Int) -> UInt32 { vk_events_flags(events, Int32(i)) }
}

/// A counter fd that wakes a sleeping loop: written by other threads, read by the owner.
///
/// The owner says when it is about to block (`willSleep`, then one last look at its rings)
/// and when it is back (`awake`); producers signal only a sleeping owner (`wakeIfAsleep`),
/// so two busy threads exchange messages without a system call. Both sides' stores and
/// loads (the flag here, the ring's tail) are sequentially consistent: an owner that finds
/// its rings empty after raising the flag and a producer that pushed before reading it
/// cannot both miss (Dekker's pattern; an eventcount).
public final class Waker: Sendable {
    public let fd: Int32
    private let asleep = Atomic<Bool>(false)

    public init() {
        fd = vk_eventfd()
        precondition(fd >= 0, "eventfd failed: errno \(errno)")
    }

    /// Signals the owner whether or not it sleeps (for producers outside the ring protocol).
    public func wake() { _ = vk_eventfd_signal(fd) }

    /// Producer side, after a push: signals the owner only if it is blocked or about to be.
    @inline(__always)
    public func wakeIfAsleep() {
        if asleep.load(ordering: .sequentiallyConsistent), asleep.exchange(false, ordering: .sequentiallyConsistent) {
            wake()
        }
    }

    /// Owner side: raise before the last look at the rings that precedes a blocking wait.
    public func willSleep() { asleep.store(true, ordering: .sequentiallyConsistent) }

    /// Owner side: after the wait, or when the last look found work.
    public func awake() { asleep.store(false, ordering: .relaxed) }

    public func drain() { _ = vk_eventfd_drain(fd) }
}

