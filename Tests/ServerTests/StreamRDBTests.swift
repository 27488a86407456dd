import Glibc
import Testing
@testable import Server
import Shards
import Values
import TestSupport

// Streams in dumps and snapshots: the RDB encoding round trips, every truncation and
// corrupt byte fails cleanly, older and newer stream types load, and a snapshot copy
// is the stream as it was when the snapshot began.

/// A one-key dump of stream `s` written by RDBWriter.
func streamDump(_ s: Stream, key: String = "s", compression: Bool, expireAtMs: Int64 = 0) throws -> [UInt8] {
    let writer = RDBWriter(memoryWithVersion: 10)
    writer.compression = compression
    try writer.writeHeader(aux: standardAux)
    try writer.selectDB(0, keys: 1, expires: expireAtMs == 0 ? 0 : 1)
    let enc = encoding(s)
    try bytes(key).withUnsafeBytes { k in
        try enc.withUnsafeBytes { try writer.writeObject(key: k, type: Stream.rdbTypeV2, encoding: $0, expireAtMs: expireAtMs) }
    }
    try writer.commit()
    return writer.memoryOutput!
}

/// The encoding of `s` as RDB type 15 or 21.
func encodeStream(_ s: Stream, type: UInt8) -> [UInt8] {
    var o = RDBPlainSink()
    o.rdbLength(UInt64(s.nodes.count))
    for n in s.nodes {
        var raw = (n.master.ms.bigEndian, n.master.seq.bigEndian)
        withUnsafeBytes(of: &raw) { o.rdbString($0) }
        o.rdbString(Listpack.bytes(n.lp))
    }
    o.rdbLength(UInt64(s.length)); o.rdbLength(s.lastID.ms); o.rdbLength(s.lastID.seq)
    if type != Stream.rdbTypeV1 {
        for v in [s.firstID.ms, s.firstID.seq, s.maxDeletedEntryID.ms, s.maxDeletedEntryID.seq, s.entriesAdded] {
            o.rdbLength(v)
        }
    }
    func millis(_ t: Int64) { var le = t.littleEndian; withUnsafeBytes(of: &le) { o.rdbRaw($0) } }
    func id(_ i: StreamID) { var raw = (i.ms.bigEndian, i.seq.bigEndian); withUnsafeBytes(of: &raw) { o.rdbRaw($0) } }
    o.rdbLength(UInt64(s.groups.count))
    for g in s.groups {
        g.name.withUnsafeBytes { o.rdbString($0) }
        o.rdbLength(g.lastID.ms); o.rdbLength(g.lastID.seq)
        if type != Stream.rdbTypeV1 { o.rdbLength(UInt64(bitPattern: g.entriesRead)) }
        o.rdbLength(UInt64(g.pel.count))
        for (i, n) in zip(g.pel.keys, g.pel.values) { id(i); millis(n.deliveryTime); o.rdbLength(UInt64(n.deliveryCount)) }
        o.rdbLength(UInt64(g.consumers.count))
        for c in g.consumers {
            c.name.withUnsafeBytes { o.rdbString($0) }
            millis(c.seenTime)
            if type == Stream.rdbTypeV3 { millis(77) }
            o.rdbLength(UInt64(c.pel.count))
            for i in c.pel.keys { id(i) }
        }
    }
    return o.bytes
}

@Suite struct StreamRDBTests {
    @Test func encodingRoundTrips() throws {
        let s = sampleStream()
        #expect(s.nodes.count >= 2, "a middle node went with its deleted entries")
        let back = try decode(encoding(s))
        #expect(encoding(back) == encoding(s))
        #expect(entries(back) == entries(s))
        #expect(entries(back, reverse: true) == entries(s).reversed())
        #expect(back.length == s.length && back.lastID == s.lastID && back.firstID == s.firstID)
        #expect(back.maxDeletedEntryID == s.maxDeletedEntryID && back.entriesAdded == s.entriesAdded)
        let g = try #require(back.groups.first)
        #expect(g.name == bytes("idle") && back.groups[1].name == bytes("readers"))
        let readers = back.groups[1]
        #expect(readers.pel.count == 7 && readers.entriesRead == 41)
        #expect(readers.consumers.map(\.name) == [bytes("12345"), bytes("alice"), bytes("nobody")])
        for (id, nack) in zip(readers.pel.keys, readers.pel.values) {
            #expect(nack.consumer?.pel[id] === nack, "the consumer's PEL shares the group's NACK")
        }
        #expect(g.entriesRead == -1)
    }

    @Test(arguments: [true, false])
    func dumpRoundTrips(compression: Bool) throws {
        let s = sampleStream()
        let dump = try streamDump(s, compression: compression, expireAtMs: 4_000_000_000_000)
        let (records, _) = try loadAll(dump)
        #expect(records == [RDBRecord(db: 0, key: bytes("s"), value: .object(s), expireAtMs: 4_000_000_000_000)])
        let plain = try streamDump(s, compression: false)
        #expect(compression == (dump.count < plain.count), "listpacks are LZF-compressed")
    }

    @Test func anEmptyStreamWithAGroupRoundTrips() throws {
        let s = Stream()
        s.lastID = StreamID(ms: 5, seq: 5)
        s.entriesAdded = 3
        s.maxDeletedEntryID = StreamID(ms: 5, seq: 5)
        _ = bytes("g").withUnsafeBytes { s.createGroup(named: $0, lastID: s.lastID, entriesRead: 3) }
        let back = try decode(encoding(s))
        #expect(encoding(back) == encoding(s) && back.length == 0 && back.nodes.isEmpty)
    }

    @Test func everyTruncationFailsCleanly() throws {
        let enc = encoding(sampleStream(entries: 40))
        for n in 0..<enc.count {
            #expect(throws: (any Error).self, "prefix of \(n) bytes") { try decode(Array(enc[0..<n])) }
        }
        // The same through the file reader, cut anywhere inside the record.
        let dump = try streamDump(sampleStream(entries: 40), compression: true)
        let recordStart = dump.count - 9 - 1 - enc.count  // generous: the record is compressed
        for cut in max(recordStart, 0)..<(dump.count - 9) {
            #expect(throws: RDBError.self, "dump cut at \(cut)") { try loadAll(Array(dump[0..<cut])) }
        }
    }

    /// Any byte of the encoding set to any of several values: the load fails, or what it
    /// loads can be read, trimmed and deleted from without a crash.
    @Test func corruptBytesNeverCrash() throws {
        let enc = encoding(sampleStream(entries: 24))
        var loaded = 0
        for i in 0..<enc.count {
            for v: UInt8 in [0x00, 0x01, 0x03, 0x7F, 0x80, 0xC0, 0xE0, 0xF0, 0xF4, 0xFE, 0xFF, enc[i] ^ 0x02] {
                var bad = enc
                bad[i] = v
                guard let s = try? decode(bad) else { continue }
                loaded += 1
                exercise(s)
            }
        }
        #expect(loaded > 0, "some changes (in values, times) still load")
    }

    private func exercise(_ s: Stream) {
        let all = entries(s)
        _ = entries(s, reverse: true)
        _ = s.edgeID(first: true)
        _ = s.edgeID(first: false)
        _ = s.firstEntryIDWithTombstones
        for g in s.groups { _ = s.lag(of: g) }
        let copy: Stream = s.duplicate()
        var deleted = 0
        copy.forEach(from: .zero, to: .max) { _ in true }
        for line in all.prefix(3) {
            let parts = line.split(separator: " ")[0].split(separator: "-")
            if copy.delete(StreamID(ms: UInt64(parts[0])!, seq: UInt64(parts[1])!)) { deleted += 1 }
        }
        copy.trim(.maxLength(2), approximate: false, limit: 0)
        copy.trim(.minID(.max), approximate: true, limit: 0)
        #expect(deleted <= 3)
    }

    @Test func structuralCorruptionIsNamed() throws {
        let s = sampleStream(entries: 10, withGroups: false)
        var enc = encoding(s)
        // The node key is the second item: a 16-byte string after the node count.
        #expect(enc[0] == 1 && enc[1] == 16)
        enc[1] = 15
        #expect(throws: (any Error).self) { try decode(enc) }
        // A length that disagrees with the entries.
        var sink = RDBPlainSink()
        try s.writeRDB(to: &sink)
        let good = sink.bytes
        let lengthAt = 1 + 1 + 16 + (good.count > 0 ? lengthPrefixSize(good, at: 18) : 0) + Listpack.totalBytes(s.nodes[0].lp)
        var bad = good
        bad[lengthAt] = UInt8(s.length + 1)
        #expect(throws: RDBPlainError.self) { try decode(bad) }
    }

    private func lengthPrefixSize(_ b: [UInt8], at i: Int) -> Int { b[i] >> 6 == 0 ? 1 : b[i] >> 6 == 1 ? 2 : 5 }

    /// Type 15 (Redis 5/6: no first ID, tombstone, counters) and type 21 (Redis 7.2:
    /// consumers' active time) load as Redis does.
    @Test func olderAndNewerStreamTypesLoad() throws {
        let s = sampleStream()
        let v1 = try decode(encodeStream(s, type: Stream.rdbTypeV1), type: Stream.rdbTypeV1)
        #expect(entries(v1) == entries(s))
        #expect(v1.entriesAdded == UInt64(s.length) && v1.maxDeletedEntryID == .zero && v1.firstID == s.firstID)
        #expect(v1.groups[1].entriesRead == v1.estimateDistanceFromFirstEverEntry(s.groups[1].lastID))
        let v3 = try decode(encodeStream(s, type: Stream.rdbTypeV3), type: Stream.rdbTypeV3)
        #expect(encoding(v3) == encoding(s))
        #expect(v3.groups[1].consumers[1].activeTime == 77)
    }

    /// BGSAVE's copy-on-write snapshot holds the stream as it was when it began, whatever
    /// XADD, XDEL and XTRIM do to it before the walk reaches it.
    @Test func snapshotCopyIsThePointInTimeStream() throws {
        let shard = Shard(index: 0, databases: 1)
        for i in 0..<2000 {
            bytes("k\(i)").withUnsafeBytes { k in bytes("v").withUnsafeBytes { v in
                _ = shard.setString(db: 0, key: k, value: v, expireAt: 0) } }
        }
        var streams: [Stream] = []
        for i in 0..<20 {
            let s = sampleStream(entries: 120, withGroups: i % 2 == 0)
            streams.append(s)
            bytes("s\(i)").withUnsafeBytes { k in
                shard.insertNew(Entry.makeObject(key: k, hash: KeyTable.hash(k), object: s), db: 0, expireAt: 0)
            }
        }
        let before = streams.map(encoding)
        shard.beginSnapshot(requester: 0)
        var copy: [[UInt8]]?
        var step = 0
        while copy == nil {
            copy = shard.advanceSnapshot(budget: 200)
            let i = step % 20
            let s = streams[i]
            bytes("s\(i)").withUnsafeBytes { k in
                // As the stream commands do: look the stream up, change it, note the change.
                _ = shard.lookup(db: 0, key: k)
                appendEntry(s, StreamID(ms: s.lastID.ms + 1, seq: 0), [("late", "\(step)")])
                if let first = s.edgeID(first: true) { s.delete(first) }
                s.trim(.maxLength(50), approximate: false, limit: 0)
                if let g = s.groups.first, let id = g.pel.keys.first { g.pel.remove(id)?.consumer?.pel.remove(id) }
                shard.noteModified(db: 0, key: k)
            }
            step += 1
        }
        var found: [String: [UInt8]] = [:]
        for chunk in copy! {
            chunk.withUnsafeBytes { b in
                SnapshotRecord.forEach(in: b) { _, key, value, _, type in
                    if type != 0 { #expect(type == Stream.rdbTypeV2); found[String(decoding: key, as: UTF8.self)] = Array(value) }
                }
            }
        }
        #expect(found.count == 20)
        for i in 0..<20 { #expect(found["s\(i)"] == before[i], "s\(i)") }
        #expect(step > 5, "the streams changed while the copy ran")
    }
}

/// Dumps with streams exchanged with redis-server 7.0.
@Suite(.enabled(if: RedisServer.available, "needs redis-server and redis-cli"), .serialized)
struct StreamRDBInteropTests {
    /// Commands through one redis-cli (reads them from stdin, one per line).
    private func script(_ redis: RedisServer, _ lines: [String]) throws {
        _ = try redis.cli([], stdin: Array((lines.joined(separator: "\n") + "\n").utf8))
    }

    /// A Redis dump with streams (several nodes, tombstones, groups, PELs, claimed and
    /// acknowledged entries, consumers without pending entries, an emptied stream) read and
    /// written back by us is byte for byte Redis's, compressed or not.
    @Test(arguments: [true, false])
    func rewritesARedisStreamDumpByteForByte(compression: Bool) throws {
        let dir = makeTempDir("interop-streams")
        defer { removeTree(dir) }
        let redis = try RedisServer(dir: dir, extra: ["--rdbcompression", compression ? "yes" : "no"])
        defer { redis.stop() }
        var lines = (0..<350).map { "XADD s \(1000 + $0 / 3)-\($0 % 3) f v\($0) n \($0)" }
        lines += (0..<40).map { "XADD s * other \(String(repeating: "x", count: $0 * 3 + 1))" }
        lines += ["XDEL s 1000-1 1010-2 " + (120..<230).map { "\(1000 + $0 / 3)-\($0 % 3)" }.joined(separator: " "),
                  "XGROUP CREATE s readers 0", "XGROUP CREATE s late $ ENTRIESREAD 380",
                  "XREADGROUP GROUP readers alice COUNT 7 STREAMS s >",
                  "XREADGROUP GROUP readers 42 COUNT 4 STREAMS s >",
                  "XACK s readers 1000-2", "XCLAIM s readers bob 0 1001-0 1001-1",
                  "XGROUP CREATECONSUMER s readers idle",
                  "XADD e 5-5 k v", "XDEL e 5-5", "XADD t MAXLEN ~ 10 * a b", "SET str plain", "SAVE"]
        try script(redis, lines)
        let original = try #require(readFile(dir + "/dump.rdb"))
        let (records, aux) = try loadAll(original)
        let streams = records.filter { if case .object = $0.value { return true } else { return false } }
        #expect(streams.count == 3)
        let writer = try RDBWriter(path: dir + "/ours.rdb")
        writer.compression = compression
        try writer.writeHeader(aux: ["redis-ver", "redis-bits", "ctime", "used-mem", "aof-base"].map { ($0, aux[$0]!) })
        try writer.selectDB(0, keys: records.count, expires: 0)
        for r in records {
            switch r.value {
            case .object(let o):
                let enc = o.snapshotEncoding()
                try r.key.withUnsafeBytes { k in
                    try enc.withUnsafeBytes { try writer.writeObject(key: k, type: o.rdbType, encoding: $0, expireAtMs: 0) }
                }
            default:
                try writer.put(r)
            }
        }
        try writer.commit()
        let ours = try #require(readFile(dir + "/ours.rdb"))
        #expect(try loadAll(ours).records == records)
        // Redis's lzf_compress leaves its hash table uninitialized (INIT_HTAB 0), so the
        // matches it finds in a blob depend on what ran before: compressed listpacks need
        // not be byte for byte; the uncompressed dump must be.
        guard !compression else { return }
        #expect(ours.count == original.count)
        if let i = ours.indices.first(where: { $0 < original.count && ours[$0] != original[$0] }) {
            func hex(_ b: ArraySlice<UInt8>) -> String { b.map { String($0, radix: 16) }.joined(separator: " ") }
            Issue.record("first difference at byte \(i) of \(original.count): \(hex(original[max(i - 40, 0)..<min(i + 30, original.count)])) / ours \(hex(ours[max(i - 40, 0)..<min(i + 30, ours.count)]))")
        }
    }

    /// Our dump of a stream loads into redis-server 7.0 with the same entries, metadata,
    /// groups, PEL and consumers, and redis-check-rdb finds it sound.
    @Test func redisLoadsOurStreams() throws {
        let dir = makeTempDir("interop-streams-w")
        defer { removeTree(dir) }
        let s = sampleStream()
        let dump = try streamDump(s, compression: true)
        let fd = open(dir + "/ours.rdb", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = dump.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
        close(fd)
        if let check = findExecutable("redis-check-rdb") {
            let r = try run(check, [dir + "/ours.rdb"])
            #expect(String(decoding: r.out, as: UTF8.self).contains("RDB looks OK!"))
        }
        let redis = try RedisServer(dir: dir, dbfilename: "ours.rdb")
        defer { redis.stop() }
        #expect(try redis.value(["XLEN", "s"]) == bytes(String(s.length)))
        let range = String(decoding: try redis.value(["XRANGE", "s", "-", "+"]), as: UTF8.self)
            .split(separator: "\n").map(String.init)
        #expect(range == entries(s).flatMap { line -> [String] in
            let parts = line.split(separator: " ")
            return [String(parts[0])] + parts.dropFirst().flatMap { $0.split(separator: "=", maxSplits: 1).map(String.init) }
        })
        let info = String(decoding: try redis.value(["XINFO", "STREAM", "s"]), as: UTF8.self).split(separator: "\n").map(String.init)
        func field(_ name: String) -> String? { info.firstIndex(of: name).map { info[$0 + 1] } }
        #expect(field("last-generated-id") == s.lastID.description)
        #expect(field("max-deleted-entry-id") == s.maxDeletedEntryID.description)
        #expect(field("entries-added") == String(s.entriesAdded))
        #expect(field("groups") == "2")
        #expect(try redis.value(["XPENDING", "s", "readers"]).split(separator: UInt8(ascii: "\n")).first.map(Array.init) == bytes("7"))
        let consumers = String(decoding: try redis.value(["XINFO", "CONSUMERS", "s", "readers"]), as: UTF8.self)
        #expect(consumers.contains("alice") && consumers.contains("12345") && consumers.contains("nobody"))
    }
}
