import RESP
import Synchronization

/// Redis 7.0's keyspace notification classes (server.h NOTIFY_*), the bits of
/// `notify-keyspace-events`.
public enum KeyspaceEvent {
    public static let keyspace = 1 << 0     // K
    public static let keyevent = 1 << 1     // E
    public static let generic = 1 << 2      // g
    public static let string = 1 << 3       // $
    public static let list = 1 << 4         // l
    public static let set = 1 << 5          // s
    public static let hash = 1 << 6         // h
    public static let zset = 1 << 7         // z
    public static let expired = 1 << 8      // x
    public static let evicted = 1 << 9      // e
    public static let stream = 1 << 10      // t
    public static let keyMiss = 1 << 11     // m
    public static let module = 1 << 13      // d
    public static let new = 1 << 14         // n

    /// The configured classes, published at start-up and after each CONFIG SET; each worker
    /// copies it into its shard once per loop pass (`Shard.notifyFlags`).
    public static let configured = Atomic<Int>(0)

    /// keyspaceEventsStringToFlags (the config value is already validated).
    public static func flags(_ classes: String) -> Int {
        var flags = 0
        for ch in classes {
            switch ch {
            case "A": flags |= generic | string | list | set | hash | zset | expired | evicted | stream | module
            case "g": flags |= generic
            case "$": flags |= string
            case "l": flags |= list
            case "s": flags |= set
            case "h": flags |= hash
            case "z": flags |= zset
            case "x": flags |= expired
            case "e": flags |= evicted
            case "K": flags |= keyspace
            case "E": flags |= keyevent
            case "t": flags |= stream
            case "m": flags |= keyMiss
            case "d": flags |= module
            case "n": flags |= new
            default: break
            }
        }
        return flags
    }
}

/// The notifications a shard's commands made, kept until its worker publishes them at the
/// end of the loop pass (a command's handler may be writing into its client's output, which
/// a notification for that same client must not touch meanwhile). Records: db, event length,
/// key length (UInt32 each), then the event and the key.
public struct PendingNotifications: ~Copyable {
    var bytes = ByteBuffer(capacity: 0)
    public var isEmpty: Bool { bytes.count == 0 }

    public init() {}

    mutating func add(db: Int, event: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer) {
        var header = (UInt32(db), UInt32(event.count), UInt32(key.count))
        withUnsafeBytes(of: &header) { bytes.append(UnsafeRawBufferPointer(rebasing: $0[0..<12])) }
        bytes.append(event)
        bytes.append(key)
    }

    /// Where the next notification will start, and forgetting those made since (a script
    /// run that was undone: its events never happened).
    public var mark: Int { bytes.count }
    public mutating func forget(since mark: Int) {
        if bytes.count > mark { bytes.count = mark }
    }

    /// Calls `body(db, event, key)` for each record, then forgets them.
    public mutating func drain(_ body: (Int, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        var at = 0
        let base = UnsafeRawPointer(bytes.base)
        while at + 12 <= bytes.count {
            let db = Int(base.loadUnaligned(fromByteOffset: at, as: UInt32.self))
            let eventCount = Int(base.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self))
            let keyCount = Int(base.loadUnaligned(fromByteOffset: at + 8, as: UInt32.self))
            let event = UnsafeRawBufferPointer(start: base + at + 12, count: eventCount)
            let key = UnsafeRawBufferPointer(start: base + at + 12 + eventCount, count: keyCount)
            body(db, event, key)
            at += 12 + eventCount + keyCount
        }
        bytes.clear()
        bytes.shrinkIfEmpty(to: 4096)
    }
}

extension Shard {
    /// Redis's notifyKeyspaceEvent: records `event` on `key` if its class is configured.
    /// (Command handlers use `ShardContext.notify`, which tests the flags itself: calling
    /// a method of the shard from the Server module cost a retain/release per SET.)
    @inline(__always)
    public func notify(_ type: Int, _ event: StaticString, db: Int, key: UnsafeRawBufferPointer) {
        if notifyFlags & type != 0 { recordNotification(event, db: db, key: key) }
    }

    @inline(never)
    public func recordNotification(_ event: StaticString, db: Int, key: UnsafeRawBufferPointer) {
        notifications.add(db: db, event: UnsafeRawBufferPointer(start: event.utf8Start, count: event.utf8CodeUnitCount),
                          key: key)
    }
}
