import CShim
import Values
#if canImport(Glibc)
import Glibc
#endif

/// One key and its value in a single malloc'd block, so a small string key costs one
/// allocation plus a table slot. Layout (little-endian, 32-byte header):
///
///     0  u32 key length          16 i64 expire-at (unix ms, 0 = none)
///     4  u32 value length        24 u8  kind        25 u8 flags
///     8  u32 hash (low 32 bits)  26 u16 expiry-heap references
///    12  u32 last access (s)     28 u16 table id    30 u8 access frequency
///    32  key bytes, then value bytes (or an object reference for non-string kinds)
///
/// The block belongs to the shard thread that owns its table; it is never shared.
public struct Entry: Equatable {
    public let raw: UnsafeMutableRawPointer
    public static let headerSize = 32

    @inlinable public init(raw: UnsafeMutableRawPointer) { self.raw = raw }

    public enum Kind: UInt8 { case string = 0, object = 1 }
    public struct Flags: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// Removed from its table but still referenced by the expiry heap.
        public static let dead = Flags(rawValue: 1)
        /// String written by APPEND/SETRANGE: OBJECT ENCODING says "raw" as Redis does.
        public static let rawEncoding = Flags(rawValue: 2)
        /// Snapshot bookkeeping: the entry has been copied into the running snapshot (or
        /// is newer than it) when this bit equals the shard's current snapshot parity.
        public static let snapshotParity = Flags(rawValue: 16)
        /// String stored without trying the integer encoding (INCRBYFLOAT's result): "embstr"
        /// or "raw" by length even when it reads as an integer.
        public static let notIntegerEncoded = Flags(rawValue: 4)
        /// Integer-encoded string with an object of its own rather than a shared one (what
        /// COPY duplicates): OBJECT REFCOUNT says 1.
        public static let unsharedInteger = Flags(rawValue: 8)
        /// A small hash whose listpack the value area points to, with no `Hash` object
        /// (kind `.object`, so generic code sees an object: `object` makes a view).
        public static let inlineHash = Flags(rawValue: 32)
        /// The flags that tell how Redis would encode a string value.
        public static let encoding: Flags = [.rawEncoding, .notIntegerEncoded, .unsharedInteger]
    }

    /// Allocates a string entry holding copies of `key` and `value`.
    public static func makeString(key: UnsafeRawBufferPointer, hash: UInt32, value: UnsafeRawBufferPointer,
                                  extraCapacity: Int = 0) -> Entry {
        let e = allocate(key: key, hash: hash, valueLength: value.count, extraCapacity: extraCapacity)
        if value.count > 0 { e.valuePointer.copyMemory(from: value.baseAddress!, byteCount: value.count) }
        return e
    }

    /// Allocates an entry with room for `valueLength` value bytes (uninitialized).
    public static func allocate(key: UnsafeRawBufferPointer, hash: UInt32, valueLength: Int,
                                extraCapacity: Int = 0) -> Entry {
        let raw = malloc(headerSize + key.count + valueLength + extraCapacity)!
        raw.storeBytes(of: UInt32(key.count), toByteOffset: 0, as: UInt32.self)
        raw.storeBytes(of: UInt32(valueLength), toByteOffset: 4, as: UInt32.self)
        raw.storeBytes(of: hash, toByteOffset: 8, as: UInt32.self)
        raw.storeBytes(of: 0, toByteOffset: 12, as: UInt32.self)
        raw.storeBytes(of: 0, toByteOffset: 16, as: Int64.self)
        raw.storeBytes(of: 0, toByteOffset: 24, as: UInt64.self)
        if key.count > 0 { (raw + headerSize).copyMemory(from: key.baseAddress!, byteCount: key.count) }
        return Entry(raw: raw)
    }

    @inlinable public var keyLength: Int { Int(raw.load(fromByteOffset: 0, as: UInt32.self)) }
    @inlinable public var valueLength: Int {
        get { Int(raw.load(fromByteOffset: 4, as: UInt32.self)) }
        nonmutating set { raw.storeBytes(of: UInt32(newValue), toByteOffset: 4, as: UInt32.self) }
    }
    @inlinable public var hash: UInt32 { raw.load(fromByteOffset: 8, as: UInt32.self) }
    @inlinable public var lastAccess: UInt32 {
        get { raw.load(fromByteOffset: 12, as: UInt32.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: 12, as: UInt32.self) }
    }
    /// Unix time in milliseconds at which the key expires; 0 when it has no TTL.
    @inlinable public var expireAt: Int64 {
        get { raw.load(fromByteOffset: 16, as: Int64.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: 16, as: Int64.self) }
    }
    @inlinable public var kind: Kind {
        get { Kind(rawValue: raw.load(fromByteOffset: 24, as: UInt8.self)) ?? .string }
        nonmutating set { raw.storeBytes(of: newValue.rawValue, toByteOffset: 24, as: UInt8.self) }
    }
    @inlinable public var flags: Flags {
        get { Flags(rawValue: raw.load(fromByteOffset: 25, as: UInt8.self)) }
        nonmutating set { raw.storeBytes(of: newValue.rawValue, toByteOffset: 25, as: UInt8.self) }
    }
    @inlinable public var heapReferences: UInt16 {
        get { raw.load(fromByteOffset: 26, as: UInt16.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: 26, as: UInt16.self) }
    }
    @inlinable public var tableID: UInt16 {
        get { raw.load(fromByteOffset: 28, as: UInt16.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: 28, as: UInt16.self) }
    }
    @inlinable public var frequency: UInt8 {
        get { raw.load(fromByteOffset: 30, as: UInt8.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: 30, as: UInt8.self) }
    }

    @inlinable public var key: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: raw + Entry.headerSize, count: keyLength)
    }
    @inlinable public var valuePointer: UnsafeMutableRawPointer { raw + Entry.headerSize + keyLength }
    @inlinable public var value: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: valuePointer, count: valueLength)
    }
    /// Bytes the block can hold for the value without reallocating.
    public var valueCapacity: Int { vk_usable(raw) - Entry.headerSize - keyLength }

    @inlinable public func keyEquals(_ other: UnsafeRawBufferPointer) -> Bool {
        let n = keyLength
        return n == other.count && (n == 0 || memcmp(raw + Entry.headerSize, other.baseAddress!, n) == 0)
    }

    // Non-string values: the value area holds one retained object reference, or the
    // listpack of a small hash (`inlineHash`).
    public static func makeObject(key: UnsafeRawBufferPointer, hash: UInt32, object: any ValueType) -> Entry {
        if let h = object as? Hash, let lp = h.takeListpack() { return makeInlineHash(key: key, hash: hash, listpack: lp) }
        return makeObject(key: key, hash: hash, sharing: object)
    }

    /// A hash key whose entry owns the listpack `lp` (at most `Hash.inlineMaxPairs` pairs):
    /// 32 bytes less than a `Hash` object per small hash.
    public static func makeInlineHash(key: UnsafeRawBufferPointer, hash: UInt32, listpack lp: UnsafeMutableRawPointer) -> Entry {
        let e = allocate(key: key, hash: hash, valueLength: MemoryLayout<UnsafeRawPointer>.size)
        e.kind = .object
        e.flags = [.inlineHash]
        e.valuePointer.storeBytes(of: lp, as: UnsafeMutableRawPointer.self)
        return e
    }

    @inlinable public var isInlineHash: Bool { raw.load(fromByteOffset: 25, as: UInt8.self) & Flags.inlineHash.rawValue != 0 }

    /// The listpack of an inline hash; the setter stores its new address after it moved.
    @inlinable public var inlineListpack: UnsafeMutableRawPointer {
        get { valuePointer.loadUnaligned(as: UnsafeMutableRawPointer.self) }
        nonmutating set { valuePointer.storeBytes(of: newValue, as: UnsafeMutableRawPointer.self) }
    }

    /// Turns an inline hash into one held by `object` (which took over or copied the
    /// listpack: the entry no longer frees it).
    public func replaceInlineHash(with object: Hash) {
        precondition(isInlineHash)
        flags.remove(.inlineHash)
        valuePointer.storeBytes(of: Unmanaged.passRetained(object).toOpaque(), as: UnsafeMutableRawPointer.self)
    }

    /// The same for an object taken from another entry (already known to be a value type).
    static func makeObject(key: UnsafeRawBufferPointer, hash: UInt32, sharing object: AnyObject) -> Entry {
        let e = allocate(key: key, hash: hash, valueLength: MemoryLayout<UnsafeRawPointer>.size)
        e.kind = .object
        e.valuePointer.storeBytes(of: Unmanaged.passRetained(object).toOpaque(), as: UnsafeMutableRawPointer.self)
        return e
    }

    public var object: AnyObject? {
        guard kind == .object else { return nil }
        if isInlineHash { return Hash(borrowing: inlineListpack) }
        let p = valuePointer.loadUnaligned(as: UnsafeMutableRawPointer.self)  // keys of any length: the value area is not aligned
        return Unmanaged<AnyObject>.fromOpaque(p).takeUnretainedValue()
    }

    /// Frees the block (and releases an object value). Only for blocks no heap entry references.
    public func free() {
        if isInlineHash {
            Glibc.free(inlineListpack)
        } else if kind == .object {
            let p = valuePointer.loadUnaligned(as: UnsafeMutableRawPointer.self)  // keys of any length: the value area is not aligned
            Unmanaged<AnyObject>.fromOpaque(p).release()
        }
        Glibc.free(raw)
    }

    /// Bytes of memory the block occupies (for MEMORY USAGE-style accounting).
    public var allocatedSize: Int { vk_usable(raw) }
}

@usableFromInline func vk_usable(_ p: UnsafeMutableRawPointer) -> Int { vk_malloc_usable_size(p) }
