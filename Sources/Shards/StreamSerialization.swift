#if canImport(Glibc)
import Glibc
#endif

// A stream's RDB object encoding (Redis 7's rdbSaveObject / rdbLoadObject for
// RDB_TYPE_STREAM_LISTPACKS, _2 and _3), written to and read from abstract item sinks
// and sources: the snapshot copy (plain bytes, built on the shard), the RDB writer (with
// compression) and the RDB reader (from a file) share one encoder and one decoder.

/// Where the items of an RDB value go: lengths (rdbSaveLen), strings (rdbSaveRawString)
/// and raw fixed-size bytes (PEL IDs, millisecond times).
public protocol RDBItemSink {
    mutating func rdbLength(_ n: UInt64) throws
    mutating func rdbString(_ s: UnsafeRawBufferPointer) throws
    mutating func rdbRaw(_ bytes: UnsafeRawBufferPointer) throws
}

/// Where the items of an RDB value come from. `rdbCorrupt` makes the error thrown for
/// content that reads but makes no sense (the source knows the offset).
public protocol RDBItemSource: ~Copyable {
    mutating func rdbLength() throws -> UInt64
    /// A length counting items that follow: more than the bytes left is a truncation.
    mutating func rdbCount() throws -> Int
    mutating func rdbString() throws -> [UInt8]
    mutating func rdbRaw(_ count: Int) throws -> [UInt8]
    func rdbCorrupt(_ message: String) -> Error
}

/// RDB items appended to a byte array, strings as rdbSaveRawString writes them without
/// compression (integer-encoded when they are short canonical integers, else length +
/// bytes): what Redis writes with rdbcompression off, built cheaply on the shard.
public struct RDBPlainSink: RDBItemSink {
    public var bytes: [UInt8]
    public init(bytes: [UInt8] = []) { self.bytes = bytes }

    public mutating func rdbLength(_ n: UInt64) {
        if n < 1 << 6 {
            bytes.append(UInt8(n))
        } else if n < 1 << 14 {
            bytes.append(0x40 | UInt8(n >> 8)); bytes.append(UInt8(n & 0xFF))
        } else if n <= UInt64(UInt32.max) {
            bytes.append(0x80)
            for i in (0..<4).reversed() { bytes.append(UInt8(truncatingIfNeeded: n >> (8 * UInt64(i)))) }
        } else {
            bytes.append(0x81)
            for i in (0..<8).reversed() { bytes.append(UInt8(truncatingIfNeeded: n >> (8 * UInt64(i)))) }
        }
    }
    public mutating func rdbString(_ s: UnsafeRawBufferPointer) {
        if s.count <= 11, let v = parseInt64(s), v >= -(1 << 31), v < 1 << 31 {
            let width = v >= -(1 << 7) && v < 1 << 7 ? 1 : v >= -(1 << 15) && v < 1 << 15 ? 2 : 4
            bytes.append(0xC0 | UInt8(width == 1 ? 0 : width == 2 ? 1 : 2))
            for i in 0..<width { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * Int64(i)))) }
            return
        }
        rdbLength(UInt64(s.count))
        bytes.append(contentsOf: s)
    }
    public mutating func rdbRaw(_ raw: UnsafeRawBufferPointer) { bytes.append(contentsOf: raw) }
}

/// Error of a plain source: what was wrong and at which byte of the value.
public struct RDBPlainError: Error, CustomStringConvertible {
    public let offset: Int
    public let message: String
    public var description: String { "\(message) at byte \(offset) of the value" }
}

/// Reads RDB items from bytes (what RDBPlainSink wrote; integer-encoded strings too,
/// LZF-compressed ones are refused).
public struct RDBPlainSource: RDBItemSource {
    let bytes: UnsafeRawBufferPointer
    public private(set) var offset = 0
    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    public var isAtEnd: Bool { offset == bytes.count }

    mutating func byte() throws -> UInt8 {
        guard offset < bytes.count else { throw RDBPlainError(offset: offset, message: "Unexpected end of value") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func bigEndian(_ n: Int) throws -> UInt64 {
        var v: UInt64 = 0
        for _ in 0..<n { v = v << 8 | UInt64(try byte()) }
        return v
    }

    public mutating func rdbLength() throws -> UInt64 {
        let first = try byte()
        switch first >> 6 {
        case 0: return UInt64(first & 0x3F)
        case 1: return UInt64(first & 0x3F) << 8 | UInt64(try byte())
        case 2 where first == 0x80: return try bigEndian(4)
        case 2 where first == 0x81: return try bigEndian(8)
        default: throw RDBPlainError(offset: offset - 1, message: "Bad length encoding")
        }
    }

    public mutating func rdbCount() throws -> Int {
        let at = offset
        let n = try rdbLength()
        guard n <= UInt64(bytes.count - offset) else { throw RDBPlainError(offset: at, message: "Unexpected end of value") }
        return Int(n)
    }

    public mutating func rdbString() throws -> [UInt8] {
        if offset < bytes.count && bytes[offset] >> 6 == 3 {
            let encoding = bytes[offset] & 0x3F
            offset += 1
            let width = encoding == 0 ? 1 : encoding == 1 ? 2 : encoding == 2 ? 4 : 0
            guard width > 0 else { throw RDBPlainError(offset: offset - 1, message: "Unsupported string encoding") }
            let raw = try rdbRaw(width)
            var v: UInt64 = 0
            for (i, b) in raw.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
            let shift = UInt64(64 - 8 * width)
            return Array(String(Int64(bitPattern: v << shift) >> Int64(shift)).utf8)
        }
        let n = try rdbLength()
        guard n <= UInt64(bytes.count - offset) else { throw RDBPlainError(offset: offset, message: "Unexpected end of value") }
        return try rdbRaw(Int(n))
    }

    public mutating func rdbRaw(_ count: Int) throws -> [UInt8] {
        guard count <= bytes.count - offset else { throw RDBPlainError(offset: offset, message: "Unexpected end of value") }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    public func rdbCorrupt(_ message: String) -> Error { RDBPlainError(offset: offset, message: message) }
}

/// An object whose value a snapshot copies as its RDB encoding at copy time, so later
/// writes cannot reach the copy.
public protocol SnapshotSerializable: AnyObject {
    /// The RDB type byte of `appendRDB`'s encoding.
    var rdbType: UInt8 { get }
    func appendRDB(to sink: inout RDBPlainSink)
}

extension Stream: SnapshotSerializable {
    public static let rdbTypeV1: UInt8 = 15   // RDB_TYPE_STREAM_LISTPACKS
    public static let rdbTypeV2: UInt8 = 19   // RDB_TYPE_STREAM_LISTPACKS_2 (Redis 7.0)
    public static let rdbTypeV3: UInt8 = 21   // RDB_TYPE_STREAM_LISTPACKS_3 (Redis 7.2)

    public var rdbType: UInt8 { Stream.rdbTypeV2 }

    public func appendRDB(to sink: inout RDBPlainSink) { try! writeRDB(to: &sink) }  // the plain sink never throws

    // MARK: Writing (rdbSaveObject, OBJ_STREAM, RDB 10)

    /// Writes the stream as Redis 7.0 does (type 19): the nodes keyed by their master ID
    /// (128-bit big-endian), metadata, then each group with its PEL and consumers.
    public func writeRDB<S: RDBItemSink>(to sink: inout S) throws {
        try sink.rdbLength(UInt64(nodes.count))
        for node in nodes {
            try Stream.withRawID(node.master) { try sink.rdbString($0) }
            try sink.rdbString(Listpack.bytes(node.lp))
        }
        for v in [UInt64(length), lastID.ms, lastID.seq, firstID.ms, firstID.seq,
                  maxDeletedEntryID.ms, maxDeletedEntryID.seq, entriesAdded] {
            try sink.rdbLength(v)
        }
        try sink.rdbLength(UInt64(groups.count))
        for g in groups {
            try g.name.withUnsafeBytes { try sink.rdbString($0) }
            try sink.rdbLength(g.lastID.ms)
            try sink.rdbLength(g.lastID.seq)
            try sink.rdbLength(UInt64(bitPattern: g.entriesRead))
            try sink.rdbLength(UInt64(g.pel.count))
            for (id, nack) in zip(g.pel.keys, g.pel.values) {
                try Stream.withRawID(id) { try sink.rdbRaw($0) }
                try Stream.withMillis(nack.deliveryTime) { try sink.rdbRaw($0) }
                try sink.rdbLength(UInt64(bitPattern: nack.deliveryCount))
            }
            try sink.rdbLength(UInt64(g.consumers.count))
            for c in g.consumers {
                try c.name.withUnsafeBytes { try sink.rdbString($0) }
                try Stream.withMillis(c.seenTime) { try sink.rdbRaw($0) }
                try sink.rdbLength(UInt64(c.pel.count))
                for id in c.pel.keys { try Stream.withRawID(id) { try sink.rdbRaw($0) } }
            }
        }
    }

    /// The ID as a radix-tree key: ms then seq, both big-endian.
    static func withRawID<R>(_ id: StreamID, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var raw = (id.ms.bigEndian, id.seq.bigEndian)
        return try withUnsafeBytes(of: &raw) { try body($0) }
    }

    /// rdbSaveMillisecondTime: 8 bytes little-endian.
    static func withMillis<R>(_ t: Int64, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var raw = t.littleEndian
        return try withUnsafeBytes(of: &raw) { try body($0) }
    }

    static func rawID(_ b: [UInt8]) -> StreamID {
        var ms: UInt64 = 0, seq: UInt64 = 0
        for i in 0..<8 { ms = ms << 8 | UInt64(b[i]) }
        for i in 8..<16 { seq = seq << 8 | UInt64(b[i]) }
        return StreamID(ms: ms, seq: seq)
    }

    // MARK: Reading (rdbLoadObject, OBJ_STREAM)

    /// Reads a stream of RDB type 15, 19 or 21, validating it so that no later command can
    /// trip over it: every listpack is checked as Redis's deep sanitization does
    /// (streamValidateListpackIntegrity), and the nodes, counts, IDs, groups, PELs and
    /// consumers must agree with each other. Anything else throws `rdbCorrupt`.
    public static func readRDB<S: RDBItemSource & ~Copyable>(type: UInt8, from src: inout S) throws -> Stream {
        let s = Stream()
        var sorted = true
        for _ in 0..<(try src.rdbCount()) {
            let key = try src.rdbString()
            guard key.count == 16 else { throw src.rdbCorrupt("Stream node key entry is not the size of a stream ID") }
            let master = rawID(key)
            let blob = try src.rdbString()
            guard let lp = blob.withUnsafeBytes({ Listpack.copy(of: $0) }) else {
                throw src.rdbCorrupt("Stream listpack integrity check failed.")
            }
            if let last = s.nodes.last, last.master >= master { sorted = false }
            s.nodes.append(StreamNode(master: master, lp: lp))  // freed with `s` on a throw
            guard Listpack.first(lp) != nil else { throw src.rdbCorrupt("Empty listpack inside stream") }
            guard StreamNodeCheck.isValid(lp) else { throw src.rdbCorrupt("Stream listpack integrity check failed.") }
        }
        if !sorted { s.nodes.sort { $0.master < $1.master } }
        for i in s.nodes.indices.dropFirst() where s.nodes[i - 1].master == s.nodes[i].master {
            throw src.rdbCorrupt("Listpack re-added with existing key")
        }
        let length = try src.rdbLength()
        s.lastID = StreamID(ms: try src.rdbLength(), seq: try src.rdbLength())
        if type >= rdbTypeV2 {
            s.firstID = StreamID(ms: try src.rdbLength(), seq: try src.rdbLength())
            s.maxDeletedEntryID = StreamID(ms: try src.rdbLength(), seq: try src.rdbLength())
            s.entriesAdded = try src.rdbLength()
        }
        try s.checkEntries(length: length, src)
        if type < rdbTypeV2 {
            s.entriesAdded = UInt64(s.length)
            s.firstID = s.edgeID(first: true) ?? .zero
        }
        for _ in 0..<(try src.rdbCount()) { try s.readGroup(type: type, from: &src) }
        return s
    }

    /// The nodes' entries against the stream's length and last ID: IDs strictly increasing
    /// from node to node, none above the last ID, live entries adding up to the length.
    private func checkEntries<S: RDBItemSource & ~Copyable>(length declared: UInt64, _ src: borrowing S) throws {
        var live = 0
        var previous: StreamID?
        for node in nodes {
            let info = Stream.masterInfo(node.lp)
            var p = info.firstEntry
            var nodeLive = 0
            while let at = p {
                let (e, flags, next) = Stream.readEntry(node, at: at, master: info)
                if let prev = previous, e.id <= prev { throw src.rdbCorrupt("Stream entry IDs out of order") }
                if e.id < node.master { throw src.rdbCorrupt("Stream entry ID below its node's master ID") }
                previous = e.id
                if flags & Stream.flagDeleted == 0 { nodeLive += 1 }
                p = next
            }
            live += nodeLive
        }
        if let last = previous, last > lastID { throw src.rdbCorrupt("Stream entry ID above the stream's last ID") }
        guard declared == UInt64(live) else {
            throw src.rdbCorrupt(nodes.isEmpty ? "Stream length inconsistent with empty rax"
                                               : "Stream length inconsistent with its entries")
        }
        length = live
    }

    private func readGroup<S: RDBItemSource & ~Copyable>(type: UInt8, from src: inout S) throws {
        let name = try src.rdbString()
        let lastID = StreamID(ms: try src.rdbLength(), seq: try src.rdbLength())
        let entriesRead = type >= Stream.rdbTypeV2 ? Int64(bitPattern: try src.rdbLength())
                                                   : estimateDistanceFromFirstEverEntry(lastID)
        guard let group = name.withUnsafeBytes({ createGroup(named: $0, lastID: lastID, entriesRead: entriesRead) }) else {
            throw src.rdbCorrupt("Duplicated consumer group name \(String(decoding: name, as: UTF8.self))")
        }
        for _ in 0..<(try src.rdbCount()) {
            let id = Stream.rawID(try src.rdbRaw(16))
            let time = Int64(bitPattern: Stream.littleEndian(try src.rdbRaw(8)))
            let count = Int64(bitPattern: try src.rdbLength())
            guard group.pel.insert(id, StreamNACK(deliveryTime: time, deliveryCount: count, consumer: nil)) else {
                throw src.rdbCorrupt("Duplicated global PEL entry loading stream consumer group")
            }
        }
        for _ in 0..<(try src.rdbCount()) {
            let cname = try src.rdbString()
            guard let consumer = cname.withUnsafeBytes({ group.createConsumer(named: $0, now: 0) }) else {
                throw src.rdbCorrupt("Duplicate stream consumer detected.")
            }
            consumer.seenTime = Int64(bitPattern: Stream.littleEndian(try src.rdbRaw(8)))
            if type >= Stream.rdbTypeV3 { consumer.activeTime = Int64(bitPattern: Stream.littleEndian(try src.rdbRaw(8))) }
            for _ in 0..<(try src.rdbCount()) {
                let id = Stream.rawID(try src.rdbRaw(16))
                guard let nack = group.pel[id] else { throw src.rdbCorrupt("Consumer entry not found in group global PEL") }
                guard nack.consumer == nil else {
                    throw src.rdbCorrupt("Duplicated consumer PEL entry  loading a stream consumer group")
                }
                nack.consumer = consumer
                consumer.pel.insert(id, nack)
            }
        }
        for nack in group.pel.values where nack.consumer == nil {
            throw src.rdbCorrupt("Stream CG PEL entry without consumer")
        }
    }

    static func littleEndian(_ b: [UInt8]) -> UInt64 {
        var v: UInt64 = 0
        for (i, byte) in b.enumerated() { v |= UInt64(byte) << (8 * UInt64(i)) }
        return v
    }
}

/// Redis's lpValidateIntegrity (deep) and streamValidateListpackIntegrity in one walk: every
/// element's encoding, data and backlen inside the block and consistent; then the node's
/// layout (master entry, each entry's flags, ID deltas, fields, values and lp-count) and
/// its counters matching the entries. `Listpack.copy(of:)` has checked the header and
/// terminator already.
enum StreamNodeCheck {
    static func isValid(_ lp: UnsafeRawPointer) -> Bool {
        var walk = ElementWalk(lp: lp, total: Listpack.totalBytes(lp))
        guard walk.checkAllElements() else { return false }
        walk.p = Listpack.headerSize
        guard let count = walk.integer(), let deleted = walk.integer(), let masterFields = walk.integer(),
              count >= 0, deleted >= 0, masterFields >= 0 else { return false }
        // No count can exceed the elements a block this size holds (each takes a byte at least):
        // larger ones are corrupt, and would overflow the sums below.
        let most = Int64(Listpack.totalBytes(lp))
        guard count <= most, deleted <= most, masterFields <= most else { return false }
        for _ in 0..<masterFields { guard walk.skip() else { return false } }
        guard walk.integer() == 0 else { return false }
        var live: Int64 = 0, dead: Int64 = 0
        while !walk.atEnd {
            guard let flags = walk.integer(), walk.integer() != nil, walk.integer() != nil else { return false }
            var fields = masterFields
            var extra: Int64 = 3
            let same = flags & Stream.flagSameFields != 0
            if !same {
                guard let n = walk.integer(), n >= 0, n <= most else { return false }
                fields = n
                extra += n + 1
                for _ in 0..<n { guard walk.skip() else { return false } }  // the field names
            }
            for _ in 0..<fields { guard walk.skip() else { return false } }  // the values
            guard let lpCount = walk.integer(), lpCount == fields + extra else { return false }
            if flags & Stream.flagDeleted != 0 { dead += 1 } else { live += 1 }
        }
        return live == count && dead == deleted && live + dead > 0  // Redis drops a node with no entries
    }

    /// A cursor over the elements of a listpack whose bytes are being validated.
    struct ElementWalk {
        let lp: UnsafeRawPointer
        let total: Int
        var p = Listpack.headerSize

        var atEnd: Bool { p >= total - 1 }

        /// The end of the element at `at` (its backlen included), or nil if it is malformed.
        func elementEnd(_ at: Int) -> Int? {
            guard at < total - 1 else { return nil }
            let b = lp.load(fromByteOffset: at, as: UInt8.self)
            let available = total - 1 - at
            let encoded: Int
            if b & 0x80 == 0 {
                encoded = 1
            } else if b & 0xC0 == 0x80 {
                encoded = 1 + Int(b & 0x3F)
            } else if b & 0xE0 == 0xC0 {
                encoded = 2
            } else if b & 0xF0 == 0xE0 {
                guard available >= 2 else { return nil }
                encoded = 2 + (Int(b & 0x0F) << 8 | Int(lp.load(fromByteOffset: at + 1, as: UInt8.self)))
            } else {
                switch b {
                case 0xF1: encoded = 3
                case 0xF2: encoded = 4
                case 0xF3: encoded = 5
                case 0xF4: encoded = 9
                case 0xF0:
                    guard available >= 5 else { return nil }
                    encoded = 5 + Int(UInt32(littleEndian: lp.loadUnaligned(fromByteOffset: at + 1, as: UInt32.self)))
                default: return nil
                }
            }
            let backlen = Listpack.backlenSize(encoded)
            guard encoded + backlen <= available else { return nil }
            var expected: [UInt8] = []
            Listpack.appendBacklen(encoded, into: &expected)
            for (i, byte) in expected.enumerated() where lp.load(fromByteOffset: at + encoded + i, as: UInt8.self) != byte {
                return nil
            }
            return at + encoded + backlen
        }

        /// Walks every element; true if they exactly fill the block and match the header's count.
        mutating func checkAllElements() -> Bool {
            var n = 0
            while !atEnd {
                guard let end = elementEnd(p) else { return false }
                p = end
                n += 1
            }
            let stored = Int(lp.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
            return p == total - 1 && (stored == 65535 || stored == n)
        }

        mutating func skip() -> Bool {
            guard let end = elementEnd(p) else { return false }
            p = end
            return true
        }

        /// The element as an integer (lpGetIntegerIfValid), moving past it; nil if it is not one.
        mutating func integer() -> Int64? {
            guard let end = elementEnd(p) else { return nil }
            let v: Int64?
            switch Listpack.get(lp, p) {
            case .integer(let i): v = i
            case .bytes(let b): v = parseInt64(b)
            }
            p = end
            return v
        }
    }
}

extension Stream {
    /// The ID of the first entry, deleted ones included (Redis's streamGetEdgeID with
    /// skip_tombstones 0), or nil if there is no node.
    public var firstEntryIDWithTombstones: StreamID? {
        guard let node = nodes.first else { return nil }
        let info = Stream.masterInfo(node.lp)
        guard let at = info.firstEntry else { return nil }
        return Stream.readEntry(node, at: at, master: info).entry.id
    }
}
