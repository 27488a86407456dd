#if canImport(Glibc)
import Glibc
#endif

// A stream's RDB object encoding (Redis 7's rdbSaveObject / rdbLoadObject for
// RDB_TYPE_STREAM_LISTPACKS, _2 and _3).

extension Stream {
    public static let rdbTypeV1: UInt8 = 15   // RDB_TYPE_STREAM_LISTPACKS
    public static let rdbTypeV2: UInt8 = 19   // RDB_TYPE_STREAM_LISTPACKS_2 (Redis 7.0)
    public static let rdbTypeV3: UInt8 = 21   // RDB_TYPE_STREAM_LISTPACKS_3 (Redis 7.2)

    // MARK: Writing (rdbSaveObject, OBJ_STREAM, RDB 10)

    /// Writes the stream as Redis 7.0 does (type 19): the nodes keyed by their master ID
    /// (128-bit big-endian), metadata, then each group with its PEL and consumers.
    public func writeRDB<S: RDBItemSink>(to sink: inout S) throws {
        try sink.rdbLength(UInt64(nodes.count))
        for node in nodes { try writeNode(node, to: &sink) }
        try writeMetadataAndGroups(to: &sink)
    }

    /// Steps over the nodes (about 32 bytes of listpack per element of `budget`), then the
    /// metadata and groups in the last step, as `writeRDB` writes them.
    public func writeRDBStep(to sink: inout RDBPlainSink, cursor: inout Int, budget: Int) -> Bool {
        writeRDBSteps(to: &sink, cursor: &cursor, budget: budget, length: nodes.count, elements: length) { sink, from, limit in
            let start = sink.bytes.count
            let bytes = limit > Int.max / 32 ? Int.max : limit * 32  // Int.max: finish at once
            var i = from
            while i < nodes.count && sink.bytes.count - start < bytes {
                try! writeNode(nodes[i], to: &sink)  // the plain sink never throws
                i += 1
            }
            if i < nodes.count { return i }
            try! writeMetadataAndGroups(to: &sink)
            return nil
        }
    }

    private func writeNode<S: RDBItemSink>(_ node: StreamNode, to sink: inout S) throws {
        try Stream.withRawID(node.master) { try sink.rdbString($0) }
        try sink.rdbString(Listpack.bytes(node.lp))
    }

    private func writeMetadataAndGroups<S: RDBItemSink>(to sink: inout S) throws {
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
