import CShim
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
public struct Waker: Sendable {
    public let fd: Int32
    public init() {
        fd = vk_eventfd()
        precondition(fd >= 0, "eventfd failed: errno \(errno)")
    }
    public func wake() { _ = vk_eventfd_signal(fd) }
    public func drain() { _ = vk_eventfd_drain(fd) }
}

