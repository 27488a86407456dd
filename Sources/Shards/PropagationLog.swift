import RESP
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A global order taken on many threads and consumed elsewhere: each thing takes the next
/// number on the thread that makes it, and a consumer learns below which number nothing
/// can still arrive. Two users: replicated writes (every record is numbered when it is
/// made, so the sequencer merges the workers' logs in the order the writes took effect;
/// see docs/ARCHITECTURE.md, Replication) and multi-shard lock requests (LockOrder).
public final class OrderClock: Sendable {
    public let next = Atomic<UInt64>(1)
    /// Per worker: a lower bound of the numbers it has taken but not yet handed over
    /// (`UInt64.max`: none). A consumer takes only what is below every floor.
    public let floors: [PendingFloor]

    public init(workers: Int) { floors = (0..<workers).map { _ in PendingFloor() } }

    /// Everything numbered below the result has reached the consumer's rings (if it was
    /// made at all). Reads the clock before the floors: see PropagationLog.stamp.
    /// `excluding`: a consumer that is also that producer and already holds every number it
    /// took: its own floor cannot hide anything from it. It must take its next numbers above
    /// the result (not from a range reserved before the call).
    public func safeBound(excluding worker: Int? = nil) -> UInt64 {
        var bound = next.load(ordering: .sequentiallyConsistent)
        for (i, f) in floors.enumerated() where i != worker {
            bound = min(bound, f.value.load(ordering: .sequentiallyConsistent))
        }
        return bound
    }
}

public final class PendingFloor: Sendable {
    public let value = Atomic<UInt64>(.max)
    public init() {}
}

/// One worker's replication records since its last hand-off to the sequencer.
///
/// Record layout (native endianness; it never leaves the process):
///     0 u64 sequence   8 u64 tag   16 u64 parent tag   24 i32 db   28 u8 kind   32 u32 length   36 payload
/// `tag` groups the records of one multi-shard operation or transaction (0: a write of its own);
/// a `complete` record closes the group: the sequencer then emits it whole, as MULTI ... EXEC
/// when it holds several commands, or folds it into `parent tag`'s group (an operation started
/// inside EXEC).
public final class PropagationLog: @unchecked Sendable {  // owned by one worker thread; its buffers move to the sequencer
    public enum Kind: UInt8 {
        /// A RESP command array to replay.
        case command = 0
        /// Bytes of a master's stream, forwarded verbatim (a replica feeding its own replicas).
        case raw = 1
        /// Closes group `tag`; payload: the command to propagate instead of the group's own
        /// records (a multi-shard command propagated as itself), or empty.
        case complete = 2
        /// A point in the stream a full resync's snapshot corresponds to; payload: its id (u64).
        case snapshot = 3
        /// An internal part changed data (its operation propagates as the original command).
        case touched = 4
    }
    public static let headerSize = 36
    /// Bits above the kind (header offset 28): where a record does not go. A replica's
    /// own writes go to its AOF only (its replicas get its master's stream as `raw`);
    /// PUBLISH goes to replicas only (Redis's forceCommandPropagation(c, PROPAGATE_REPL)).
    public static let notForReplicas: UInt32 = 1 << 8
    public static let notForAOF: UInt32 = 1 << 9

    public private(set) var buffer = ByteBuffer(capacity: 0)
    /// Group of the records being made (set around a part of a multi-shard operation).
    public var tag: UInt64 = 0
    /// Set by a handler that propagated its own rewritten form: the dispatcher then does not
    /// propagate the command as it came.
    public var propagatedExplicitly = false
    /// False on a replica without an AOF: its stream is the master's, passed on as `raw`
    /// records. A replica with an AOF records its writes for the AOF only (`forAOFOnly`).
    public var recordsOwnWrites = true
    public var forAOFOnly = false
    /// Set around a record that must not reach the AOF (PUBLISH).
    public var excludesAOF = false
    public var isEmpty: Bool { buffer.count == 0 }

    private let clock: OrderClock
    private let floor: PendingFloor

    public init(clock: OrderClock, worker: Int) {
        self.clock = clock
        floor = clock.floors[worker]
    }

    /// Numbers a new record. The floor is published before the first number is taken (and
    /// stays until the hand-off), so a sequencer that read the clock first and then this
    /// floor never emits past a record still in this buffer.
    @inline(__always) private func stamp() -> UInt64 {
        if buffer.count == 0 { floor.value.store(clock.next.load(ordering: .sequentiallyConsistent), ordering: .sequentiallyConsistent) }
        return clock.next.add(1, ordering: .sequentiallyConsistent).oldValue
    }

    private func header(_ kind: Kind, db: Int, tag: UInt64, parent: UInt64 = 0, length: Int) {
        let routing = (forAOFOnly ? Self.notForReplicas : 0) | (excludesAOF ? Self.notForAOF : 0)
        var h = (stamp(), tag, parent, Int32(db), UInt32(kind.rawValue) | routing, UInt32(length))
        withUnsafeBytes(of: &h) { buffer.append(UnsafeRawBufferPointer(rebasing: $0[0..<Self.headerSize])) }
    }

    /// The command as it came (`args`), in database `db`.
    public func command(db: Int, _ args: Arguments) {
        var length = 0
        for i in 0..<args.count { length += Self.bulkSize(args[i].count) }
        length += Self.headerDigits(args.count) + 3
        header(.command, db: db, tag: tag, length: length)
        let start = buffer.count
        buffer.writeArrayHeader(args.count)
        for i in 0..<args.count { buffer.writeBulk(args[i]) }
        precondition(buffer.count - start == length, "propagation length")
    }

    /// A rewritten command (SET ... PXAT, PEXPIREAT, DEL of an expired key...).
    public func command(db: Int, _ parts: [UnsafeRawBufferPointer]) {
        var scratch = ByteBuffer(capacity: 64)
        scratch.writeArrayHeader(parts.count)
        for p in parts { scratch.writeBulk(p) }
        header(.command, db: db, tag: tag, length: scratch.count)
        buffer.append(scratch.readable)
        propagatedExplicitly = true
    }

    /// Convenience for rewritten forms built from strings and byte views.
    public func command(db: Int, _ parts: PropagatedArgument...) { command(db: db, arguments: parts) }

    public func command(db: Int, arguments parts: [PropagatedArgument]) {
        var owned: [[UInt8]] = []
        for p in parts {
            switch p {
            case .text(let s): owned.append(Array(s.utf8))
            case .bytes(let b): owned.append(Array(b))
            }
        }
        var views: [UnsafeRawBufferPointer] = []
        func gather(_ i: Int) {
            if i == owned.count { command(db: db, views); return }
            owned[i].withUnsafeBytes { views.append($0); gather(i + 1) }
        }
        gather(0)
    }

    /// Master stream bytes to pass on unchanged.
    public func raw(_ bytes: UnsafeRawBufferPointer) {
        header(.raw, db: -1, tag: 0, length: bytes.count)
        buffer.append(bytes)
    }

    /// A key that expired, as the DEL Redis propagates (never part of a group).
    public func expired(db: Int, key: UnsafeRawBufferPointer) {
        guard recordsOwnWrites else { return }
        var scratch = ByteBuffer(capacity: 32 + key.count)
        scratch.writeArrayHeader(2)
        scratch.append("$3\r\nDEL\r\n")
        scratch.writeBulk(key)
        header(.command, db: db, tag: 0, length: scratch.count)
        buffer.append(scratch.readable)
    }

    /// Marks group `tag` as having changed data. Outside a group it means nothing (there is
    /// no operation to propagate as itself), and a mark with tag 0 would open a group that
    /// never closes.
    public func touched() {
        guard tag != 0 else { return }
        header(.touched, db: 0, tag: tag, length: 0)
    }

    /// Closes group `tag`: emit it (or `replacement`, if any record came) or fold it into `parent`.
    public func complete(tag: UInt64, parent: UInt64 = 0, db: Int = 0, replacement: UnsafeRawBufferPointer? = nil) {
        header(.complete, db: db, tag: tag, parent: parent, length: replacement?.count ?? 0)
        if let replacement { buffer.append(replacement) }
    }

    /// Where the next record will start: a mark for `discard`.
    public var mark: Int { buffer.count }

    /// Drops the records of group `tag` made since `mark` (a script run abandoned to run
    /// again elsewhere, whose writes were undone), keeping the others made meanwhile (the
    /// DEL of a key that expired on access). The records have not been handed off: a run
    /// never spans a loop pass's hand-off. Their numbers are simply skipped (the sequencer
    /// merges by order, not by count); a buffer left empty clears its floor, as handOff would.
    public func discard(tag: UInt64, since mark: Int) {
        guard buffer.count > mark else { return }
        var kept = ByteBuffer(capacity: 0)
        let base = UnsafeRawBufferPointer(start: buffer.base, count: buffer.count)
        var o = mark
        while o + Self.headerSize <= buffer.count {
            let r = Self.record(in: base, at: o)
            if r.tag != tag { kept.append(UnsafeRawBufferPointer(rebasing: base[o..<r.next])) }
            o = r.next
        }
        buffer.count = mark
        buffer.append(kept.readable)
        if buffer.count == 0 { floor.value.store(.max, ordering: .sequentiallyConsistent) }
    }

    public func snapshotPoint(id: UInt64) {
        var v = id
        header(.snapshot, db: 0, tag: 0, length: 8)
        withUnsafeBytes(of: &v) { buffer.append($0) }
    }

    /// Hands the records over (end of the worker's loop iteration) and clears the floor
    /// once they are on their way: `publish` pushes them to the sequencer.
    public func handOff(_ publish: (consuming ByteBuffer) -> Void) {
        guard buffer.count > 0 else { return }
        var taken = ByteBuffer(capacity: 0)
        swap(&taken, &buffer)
        publish(taken)
        floor.value.store(.max, ordering: .sequentiallyConsistent)
    }

    @inline(__always) static func headerDigits(_ n: Int) -> Int {
        var digits = 1, v = n
        while v >= 10 { v /= 10; digits += 1 }
        return digits
    }
    @inline(__always) static func bulkSize(_ n: Int) -> Int { 1 + headerDigits(n) + 2 + n + 2 }

    /// One record read back.
    public struct Record {
        public let sequence: UInt64, tag: UInt64, parent: UInt64, db: Int, kind: Kind
        /// `notForReplicas`, `notForAOF`.
        public let routing: UInt32
        public let payload: UnsafeRawBufferPointer
        /// Offset of the record after this one.
        public let next: Int
    }

    /// The record at offset `o` of `bytes` (a whole number of records, as handed off).
    @inline(__always)
    public static func record(in bytes: UnsafeRawBufferPointer, at o: Int) -> Record {
        let length = Int(bytes.loadUnaligned(fromByteOffset: o + 32, as: UInt32.self))
        let start = o + headerSize
        let kindField = bytes.loadUnaligned(fromByteOffset: o + 28, as: UInt32.self)
        return Record(sequence: bytes.loadUnaligned(fromByteOffset: o, as: UInt64.self),
                      tag: bytes.loadUnaligned(fromByteOffset: o + 8, as: UInt64.self),
                      parent: bytes.loadUnaligned(fromByteOffset: o + 16, as: UInt64.self),
                      db: Int(bytes.loadUnaligned(fromByteOffset: o + 24, as: Int32.self)),
                      kind: Kind(rawValue: UInt8(truncatingIfNeeded: kindField)) ?? .command,
                      routing: kindField & (notForReplicas | notForAOF),
                      payload: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)]), next: start + length)
    }

    /// Calls `body` for each record in `bytes`.
    public static func forEach(in bytes: UnsafeRawBufferPointer,
                               _ body: (_ sequence: UInt64, _ tag: UInt64, _ parent: UInt64, _ db: Int, _ kind: Kind,
                                        _ payload: UnsafeRawBufferPointer) -> Void) {
        var o = 0
        while o + headerSize <= bytes.count {
            let r = record(in: bytes, at: o)
            body(r.sequence, r.tag, r.parent, r.db, r.kind, r.payload)
            o = r.next
        }
    }
}

public enum PropagatedArgument {
    case text(String)
    case bytes(UnsafeRawBufferPointer)
}
