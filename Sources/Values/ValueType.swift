/// A type of value a key can hold besides a string (stream; list, hash, set, zset next).
/// Everything the server's generic code asks of a value goes through this protocol: TYPE,
/// OBJECT ENCODING, the RDB encoding (dumps, snapshots, a replica's full-sync load), MEMORY
/// USAGE, DEBUG DIGEST-VALUE and COPY. Register the type in `ValueTypes.all`.
public protocol ValueType: AnyObject, SendableMetatype {
    /// TYPE's reply (and SCAN's TYPE filter).
    static var typeName: String { get }
    /// The RDB type bytes `readRDB` accepts (older and newer versions of the encoding).
    static var rdbTypesRead: [UInt8] { get }
    /// Reads a value of RDB type `type` (one of `rdbTypesRead`), validating it so no later
    /// command can trip over it; anything malformed throws `source.rdbCorrupt(...)`.
    static func readRDB<S: RDBItemSource & ~Copyable>(type: UInt8, from source: inout S) throws -> Self

    /// OBJECT ENCODING's reply for this value.
    var encodingName: String { get }
    /// The RDB type byte `writeRDB` writes.
    var rdbType: UInt8 { get }
    /// Writes the value as Redis writes this RDB type (rdbSaveObject).
    func writeRDB<S: RDBItemSink>(to sink: inout S) throws
    /// MEMORY USAGE's estimate of the bytes the value takes (without the key's entry).
    var memoryUsage: Int { get }
    /// Mixes the value into `digest` as Redis's xorObjectDigest does for its type (the
    /// type's OBJ_* code first), so DEBUG DIGEST agrees with redis-server's.
    func digest<D: ValueDigest>(into digest: inout D)
    /// A deep copy sharing nothing mutable (COPY).
    func duplicate() -> Self
    /// True for a collection with no element: Redis never keeps one under a key, and skips
    /// one read from a dump (RDB_LOAD_ERR_EMPTY_KEY).
    var isEmptyCollection: Bool { get }
    /// Appends the commands that rebuild the value under `key` (an AOF base written as
    /// commands: Redis's rewriteListObject, rewriteSetObject, ...).
    func writeRewriteCommands(key: UnsafeRawBufferPointer, to out: inout RewriteCommands)
    /// A snapshot's copy of a big value, in steps between commands (encoding a 1M-member set
    /// at once would hold its shard for the whole time): appends the next part of what
    /// `writeRDB` writes, about `budget` elements, from `cursor` (0 before the first step),
    /// and returns true once the encoding is complete. The value does not change between
    /// steps: the shard finishes the copy before anything touches the value.
    func writeRDBStep(to sink: inout RDBPlainSink, cursor: inout Int, budget: Int) -> Bool
}

extension ValueType {
    public var typeName: String { Self.typeName }
    public var isEmptyCollection: Bool { false }

    /// The copy a snapshot takes: the value's RDB encoding, made now, so later writes cannot
    /// reach it (plain strings; the RDB writer compresses them if asked).
    public func snapshotEncoding() -> [UInt8] {
        var sink = RDBPlainSink()
        try! writeRDB(to: &sink)  // the plain sink never throws
        return sink.bytes
    }

    /// Values without steps of their own are encoded whole in one step.
    public func writeRDBStep(to sink: inout RDBPlainSink, cursor: inout Int, budget: Int) -> Bool {
        try! writeRDB(to: &sink)  // the plain sink never throws
        return true
    }

    /// `writeRDBStep` for a length-prefixed run of items: `length` first, then `step(from:
    /// limit:)` from position `cursor - 1` on, which writes and returns the next position
    /// (nil once done). Values of no more than `budget` elements are written whole.
    public func writeRDBSteps(to sink: inout RDBPlainSink, cursor: inout Int, budget: Int, length: Int,
                              elements: Int? = nil,
                              _ step: (inout RDBPlainSink, _ from: Int, _ limit: Int) -> Int?) -> Bool {
        if cursor == 0 {
            if (elements ?? length) <= budget { try! writeRDB(to: &sink); return true }
            sink.rdbLength(UInt64(length))
            cursor = 1
        }
        guard let next = step(&sink, cursor - 1, budget) else { return true }
        cursor = next + 1
        return false
    }
}

/// What a value mixes its digest into (Redis's mixDigest and xorDigest over a 20-byte SHA1
/// state; the server provides it).
public protocol ValueDigest {
    /// mixDigest: XOR the SHA1 of `bytes` in, then replace the state by its own SHA1.
    mutating func mix(_ bytes: UnsafeRawBufferPointer)
    /// mixDigest of a 32-bit integer in network byte order (the OBJ_* type codes).
    mutating func mix(bigEndian value: UInt32)
    /// xorDigest: XOR the SHA1 of `bytes` in (order-free collections use it).
    mutating func xor(_ bytes: UnsafeRawBufferPointer)
    /// xorDigest of an element digest: `build` mixes an element's parts into a fresh zero
    /// digest (Redis's eledigest), which is then XORed in (hash pairs, sorted-set members).
    mutating func xorElement(_ build: (inout Self) -> Void)
}
