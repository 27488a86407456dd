import Values

/// The record format of a shard's snapshot copy: db u32 (its top byte the RDB type of the
/// value, 0 for a string), key length u32, value length u32, expire-at i64, then the key and
/// value bytes (native endianness: it never leaves the process). A string's value is its
/// bytes; an object's is its RDB encoding, made at copy time. Written by the shards (SAVE's
/// copy and BGSAVE's copy-on-write snapshot) and read by whoever writes the RDB file; one
/// encoder and one decoder for both.
public enum SnapshotRecord {
    public static let headerSize = 20
    static let typeShift: UInt32 = 24

    /// Emits the record of string entry `e` as database `db`, in two or more byte runs.
    @inline(__always)
    public static func encode(_ e: Entry, db: Int, _ emit: (UnsafeRawBufferPointer) -> Void) {
        encode(e, db: db, type: 0, valueLength: e.valueLength, emit)
        emit(e.value)
    }

    /// The record of an object entry, its value's encoding made in place behind the header
    /// and key (no copy of a big encoding), in one go or in steps (`ValueType.writeRDBStep`).
    /// The entry must not change until it is done.
    public struct ObjectCopy {
        public let entry: Entry
        let value: any ValueType
        private var sink = RDBPlainSink()
        private var cursor = 0

        /// Nil if the entry holds no value type.
        public init?(_ e: Entry, db: Int) {
            guard let value = e.object as? any ValueType else { return nil }
            entry = e
            self.value = value
            SnapshotRecord.encode(e, db: db, type: value.rdbType, valueLength: 0) { sink.bytes.append(contentsOf: $0) }
        }

        /// Encodes about `budget` more elements; true once the record is complete.
        public mutating func step(budget: Int) -> Bool {
            guard value.writeRDBStep(to: &sink, cursor: &cursor, budget: budget) else { return false }
            let valueLength = UInt32(sink.bytes.count - SnapshotRecord.headerSize - entry.keyLength)
            withUnsafeBytes(of: valueLength) { sink.bytes.replaceSubrange(8..<12, with: $0) }
            return true
        }

        /// The whole record, once `step` said so.
        public consuming func take() -> [UInt8] { sink.bytes }
    }

    /// Emits the record of object entry `e`: its value's snapshot encoding, made now.
    public static func encodeObject(_ e: Entry, db: Int, _ emit: (UnsafeRawBufferPointer) -> Void) {
        guard var copy = ObjectCopy(e, db: db) else { return }
        while !copy.step(budget: Int.max) {}
        copy.take().withUnsafeBytes { emit($0) }
    }

    @inline(__always)
    private static func encode(_ e: Entry, db: Int, type: UInt8, valueLength: Int, _ emit: (UnsafeRawBufferPointer) -> Void) {
        var header = (UInt32(db) | UInt32(type) << typeShift, UInt32(e.keyLength), UInt32(valueLength), e.expireAt)
        withUnsafeBytes(of: &header) { h in
            emit(UnsafeRawBufferPointer(rebasing: h[0..<12]))   // the tuple pads before the Int64
            emit(UnsafeRawBufferPointer(rebasing: h[16..<24]))
        }
        emit(e.key)
    }

    /// The same record for a key and value that are not an entry (a replica's full-sync load);
    /// `type`: the RDB type of an object's encoding in `value`, 0 for a string.
    public static func encode(db: Int, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, expireAt: Int64,
                              type: UInt8 = 0, _ emit: (UnsafeRawBufferPointer) -> Void) {
        var header = (UInt32(db) | UInt32(type) << typeShift, UInt32(key.count), UInt32(value.count), expireAt)
        withUnsafeBytes(of: &header) { h in
            emit(UnsafeRawBufferPointer(rebasing: h[0..<12]))
            emit(UnsafeRawBufferPointer(rebasing: h[16..<24]))
        }
        emit(key)
        emit(value)
    }

    public static func size(of e: Entry) -> Int { headerSize + e.keyLength + e.valueLength }

    /// Calls `body(db, key, value, expireAt, type)` for every whole record in `bytes` from
    /// `offset` (`type`: the RDB type byte of the value, 0 for a string).
    public static func forEach(in bytes: UnsafeRawBufferPointer, from offset: Int = 0,
                               _ body: (Int, UnsafeRawBufferPointer, UnsafeRawBufferPointer, Int64, UInt8) throws -> Void) rethrows {
        var o = offset
        while o + headerSize <= bytes.count {
            let word = bytes.loadUnaligned(fromByteOffset: o, as: UInt32.self)
            let kl = Int(bytes.loadUnaligned(fromByteOffset: o + 4, as: UInt32.self))
            let vl = Int(bytes.loadUnaligned(fromByteOffset: o + 8, as: UInt32.self))
            let at = bytes.loadUnaligned(fromByteOffset: o + 12, as: Int64.self)
            let start = o + headerSize
            guard start + kl + vl <= bytes.count else { return }
            try body(Int(word & (1 << typeShift - 1)), UnsafeRawBufferPointer(rebasing: bytes[start..<(start + kl)]),
                     UnsafeRawBufferPointer(rebasing: bytes[(start + kl)..<(start + kl + vl)]), at,
                     UInt8(word >> typeShift))
            o = start + kl + vl
        }
    }
}
