/// The record format of a shard's snapshot copy: db u32, key length u32, value length u32,
/// expire-at i64, then the key and value bytes (native endianness: it never leaves the
/// process). Written by the shards (SAVE's copy and BGSAVE's copy-on-write snapshot) and
/// read by whoever writes the RDB file; one encoder and one decoder for both.
public enum SnapshotRecord {
    public static let headerSize = 20

    /// Emits the record of string entry `e` as database `db`, in two or more byte runs.
    @inline(__always)
    public static func encode(_ e: Entry, db: Int, _ emit: (UnsafeRawBufferPointer) -> Void) {
        var header = (UInt32(db), UInt32(e.keyLength), UInt32(e.valueLength), e.expireAt)
        withUnsafeBytes(of: &header) { h in
            emit(UnsafeRawBufferPointer(rebasing: h[0..<12]))   // the tuple pads before the Int64
            emit(UnsafeRawBufferPointer(rebasing: h[16..<24]))
        }
        emit(e.key)
        emit(e.value)
    }

    /// The same record for a key and value that are not an entry (a replica's full-sync load).
    public static func encode(db: Int, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, expireAt: Int64,
                              _ emit: (UnsafeRawBufferPointer) -> Void) {
        var header = (UInt32(db), UInt32(key.count), UInt32(value.count), expireAt)
        withUnsafeBytes(of: &header) { h in
            emit(UnsafeRawBufferPointer(rebasing: h[0..<12]))
            emit(UnsafeRawBufferPointer(rebasing: h[16..<24]))
        }
        emit(key)
        emit(value)
    }

    public static func size(of e: Entry) -> Int { headerSize + e.keyLength + e.valueLength }

    /// Calls `body(db, key, value, expireAt)` for every whole record in `bytes` from `offset`.
    public static func forEach(in bytes: UnsafeRawBufferPointer, from offset: Int = 0,
                               _ body: (Int, UnsafeRawBufferPointer, UnsafeRawBufferPointer, Int64) throws -> Void) rethrows {
        var o = offset
        while o + headerSize <= bytes.count {
            let db = Int(bytes.loadUnaligned(fromByteOffset: o, as: UInt32.self))
            let kl = Int(bytes.loadUnaligned(fromByteOffset: o + 4, as: UInt32.self))
            let vl = Int(bytes.loadUnaligned(fromByteOffset: o + 8, as: UInt32.self))
            let at = bytes.loadUnaligned(fromByteOffset: o + 12, as: Int64.self)
            let start = o + headerSize
            guard start + kl + vl <= bytes.count else { return }
            try body(db, UnsafeRawBufferPointer(rebasing: bytes[start..<(start + kl)]),
                     UnsafeRawBufferPointer(rebasing: bytes[(start + kl)..<(start + kl + vl)]), at)
            o = start + kl + vl
        }
    }
}
