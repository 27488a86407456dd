import RESP
import Shards
import Values

/// What a collection command finds at its key (Redis's lookupKeyWrite + checkType).
enum ValueLookup<Value> { case missing, wrongType, found(Value) }

extension ShardContext {
    /// The value of type `V` at `key` for a read (hit/miss counted): nil and `missing`
    /// written if absent, nil and WRONGTYPE if another type (lookupKeyReadOrReply +
    /// checkType). Every collection type's read lookup.
    func value<V: ValueType>(_ type: V.Type, forReadAt key: UnsafeRawBufferPointer, _ out: inout ByteBuffer,
                             missing: (inout ByteBuffer) -> Void) -> V? {
        guard let e = shard.lookupForRead(db: db, key: key) else { missing(&out); return nil }
        guard e.kind == .object, let v = e.object as? V else { out.writeError(Errors.wrongType); return nil }
        return v
    }

    /// The value of type `V` at `key` for a write (no hit/miss counted); WRONGTYPE written
    /// if another type.
    func value<V: ValueType>(_ type: V.Type, forWriteAt key: UnsafeRawBufferPointer,
                             _ out: inout ByteBuffer) -> ValueLookup<V> {
        guard let e = shard.lookup(db: db, key: key) else { return .missing }
        guard e.kind == .object, let v = e.object as? V else { out.writeError(Errors.wrongType); return .wrongType }
        return .found(v)
    }
}
