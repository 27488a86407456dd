/// A 64-bit dictionary key that is an id we hand out (transaction, client) or already a
/// hash (lock keys from KeyHash): spread by one multiply-xorshift instead of SipHash,
/// which cost ~90 instructions a lookup, and a cross-shard transaction makes dozens of
/// lookups in lock tables. Never for bytes a client chooses.
public struct IDKey: Hashable {
    public let raw: UInt64
    @inlinable public init(_ raw: UInt64) { self.raw = raw }
    @inlinable public static func == (a: IDKey, b: IDKey) -> Bool { a.raw == b.raw }
    @inlinable public func hash(into hasher: inout Hasher) { hasher.combine(raw) }
    @inlinable public func _rawHashValue(seed: Int) -> Int {
        var x = raw ^ UInt64(UInt(bitPattern: seed))
        x = (x ^ (x >> 32)) &* 0xD6E8_FEB8_6659_FD93
        x = (x ^ (x >> 32)) &* 0xD6E8_FEB8_6659_FD93
        return Int(truncatingIfNeeded: x ^ (x >> 32))
    }
}

/// A dictionary keyed by `IDKey`, spoken to in plain UInt64s.
public struct IDMap<Value>: Sequence {
    public typealias Storage = [IDKey: Value]
    public var storage: Storage = [:]

    public init() {}

    @inlinable public subscript(key: UInt64) -> Value? {
        get { storage[IDKey(key)] }
        _modify { yield &storage[IDKey(key)] }
    }

    @inlinable public subscript(key: UInt64, default value: @autoclosure () -> Value) -> Value {
        get { storage[IDKey(key), default: value()] }
        _modify { yield &storage[IDKey(key), default: value()] }
    }

    @inlinable public var isEmpty: Bool { storage.isEmpty }
    @inlinable public var count: Int { storage.count }
    @inlinable public func index(forKey key: UInt64) -> Storage.Index? { storage.index(forKey: IDKey(key)) }
    @inlinable public var values: Storage.Values {
        get { storage.values }
        _modify { yield &storage.values }
    }
    @inlinable public mutating func remove(at i: Storage.Index) { storage.remove(at: i) }
    @inlinable @discardableResult
    public mutating func removeValue(forKey key: UInt64) -> Value? { storage.removeValue(forKey: IDKey(key)) }
    @inlinable public mutating func removeAll() { storage.removeAll() }
    @inlinable public mutating func removeAll(keepingCapacity: Bool) { storage.removeAll(keepingCapacity: keepingCapacity) }

    public func makeIterator() -> AnyIterator<(key: UInt64, value: Value)> {
        var base = storage.makeIterator()
        return AnyIterator { base.next().map { (key: $0.key.raw, value: $0.value) } }
    }
}
