import Glibc
import Testing
@testable import Server
import TestSupport
import Values

@Suite struct RDBReaderTests {
    @Test func readsARedisDump() throws {
        let (records, aux) = try loadAll(redisDump)
        #expect(records == redisDumpRecords)
        #expect(aux["redis-ver"] == "7.0.15")
        #expect(aux["redis-bits"] == "64")  // INT8-encoded in the file
        #expect(aux["aof-base"] == "0")
        #expect(aux["ctime"] == "1795709566")
    }

    @Test func everyTruncationThrows() {
        for n in 0..<redisDump.count {
            #expect(throws: RDBError.self, "prefix of \(n) bytes") { try loadAll(Array(redisDump[0..<n])) }
        }
    }

    @Test func everyTruncationThrowsFromAFileToo() throws {
        let dir = makeTempDir("trunc")
        defer { removeTree(dir) }
        for n in stride(from: 0, to: redisDump.count, by: 3) {
            writeFile(dir + "/d.rdb", Array(redisDump[0..<n]))
            #expect(throws: RDBError.self, "prefix of \(n) bytes") { try loadAll(path: dir + "/d.rdb") }
        }
    }

    @Test func truncationReportsWhereTheItemStarts() {
        // The 41-byte "txt" value's LZF block is cut short: the error points at its header.
        let cut = redisDump.count - 120
        do {
            _ = try loadAll(Array(redisDump[0..<cut]))
            Issue.record("expected an error")
        } catch let e as RDBError {
            #expect(e.message == "Unexpected end of file")
            #expect(e.offset <= cut)
            #expect(e.description == "Unexpected end of file at byte \(e.offset)")
        } catch { Issue.record("unexpected \(error)") }
    }

    /// With the checksum on, any one changed byte makes the load fail (CRC-64 catches every
    /// error burst up to 64 bits), and nothing crashes on the way.
    @Test func everyFlippedByteThrowsWithChecksum() {
        for i in 0..<redisDump.count {
            for mask: UInt8 in [0x01, 0x10, 0x80, 0xff] {
                var dump = redisDump
                dump[i] ^= mask
                #expect(throws: RDBError.self, "byte \(i) ^ \(mask)") { try loadAll(dump) }
            }
        }
    }

    /// Without a checksum, a changed byte may go unnoticed, but must never crash the reader.
    @Test func flippedBytesNeverCrashWithoutChecksum() {
        var unchecked = redisDump
        for i in unchecked.count - 8..<unchecked.count { unchecked[i] = 0 }
        #expect((try? loadAll(unchecked))?.records == redisDumpRecords)
        for i in 0..<unchecked.count - 8 {
            for mask: UInt8 in [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff] {
                var dump = unchecked
                dump[i] ^= mask
                _ = try? loadAll(dump)
                _ = try? loadAll(dump, verifyChecksum: false)
            }
        }
    }

    @Test func randomGarbageNeverCrashes() {
        var rng = SplitMix64(seed: 42)
        let header = bytes("REDIS0011")
        for round in 0..<30000 {
            var dump = header
            let len = rng.below(64)
            for _ in 0..<len {
                // Bias towards opcodes, types and length prefixes so the parser gets somewhere.
                let pick = rng.below(4)
                dump.append(pick == 0 ? UInt8(0xF5 + rng.below(11)) : pick == 1 ? UInt8(rng.below(22))
                            : UInt8(truncatingIfNeeded: rng.next()))
            }
            if round % 2 == 0 {
                // Valid-looking splice of the Redis dump's body.
                let start = 9 + rng.below(redisDump.count - 9)
                dump += redisDump[start..<min(redisDump.count, start + rng.below(60))]
            }
            _ = try? loadAll(dump)
            _ = try? loadAll(dump, verifyChecksum: false)
        }
    }

    @Test func wrongChecksum() throws {
        var dump = redisDump
        dump[dump.count - 1] ^= 0x55
        do {
            _ = try loadAll(dump)
            Issue.record("expected an error")
        } catch let e as RDBError {
            #expect(e.message.hasPrefix("Wrong RDB checksum"))
            #expect(e.offset == dump.count - 8)
        }
        #expect(try loadAll(dump, verifyChecksum: false).records == redisDumpRecords)
    }

    @Test func headerErrors() {
        func message(_ dump: [UInt8]) -> String? {
            do { _ = try loadAll(dump); return nil } catch let e as RDBError { return e.description } catch { return "\(error)" }
        }
        #expect(message(bytes("REDIX0010") + [0xff]) == "Wrong signature trying to load DB from file at byte 0")
        #expect(message(bytes("REDIS00a1") + [0xff]) == "Wrong signature trying to load DB from file at byte 5")
        #expect(message(bytes("REDIS0012") + [0xff]) == "Can't handle RDB format version 12 at byte 5")
        #expect(message(bytes("REDIS0000") + [0xff]) == "Can't handle RDB format version 0 at byte 5")
        #expect(message(bytes("REDIS")) == "Unexpected end of file at byte 0")
        #expect(message([]) == "Unexpected end of file at byte 0")
    }

    @Test func everyVersionFromOneToEleven() throws {
        for v in 1...11 {
            var b = DumpBuilder(version: v)
            b.setString("k", "v")
            let dump = b.finished()
            #expect(dump.count == 9 + 5 + 1 + (v >= 5 ? 8 : 0))
            #expect(try loadAll(dump).records == [RDBRecord(db: 0, key: bytes("k"), value: .string(bytes("v")), expireAtMs: 0)])
        }
    }

    /// Version 4 and older have no checksum trailer: nothing is read after EOF.
    @Test func oldVersionWithoutTrailer() throws {
        var b = DumpBuilder(version: 3)
        b.op(RDB.opSelectDB)
        b.length(2)
        b.op(RDB.opExpireTime)
        b.littleEndian(2_000_000_000, 4)
        b.setString("old", "value")
        let (records, _) = try loadAll(b.finished())
        #expect(records == [RDBRecord(db: 2, key: bytes("old"), value: .string(bytes("value")), expireAtMs: 2_000_000_000_000)])
    }

    @Test func integerEncodedStrings() throws {
        var b = DumpBuilder(version: 10)
        let cases: [(String, (inout DumpBuilder) -> Void)] = [
            ("0", { $0.int8(0) }), ("-128", { $0.int8(-128) }), ("127", { $0.int8(127) }),
            ("-1", { $0.int8(-1) }), ("-32768", { $0.int16(-32768) }), ("32767", { $0.int16(32767) }),
            ("300", { $0.int16(300) }), ("-2147483648", { $0.int32(Int32.min) }),
            ("2147483647", { $0.int32(Int32.max) }), ("65536", { $0.int32(65536) }),
        ]
        for (i, c) in cases.enumerated() {
            b.op(RDB.typeString)
            b.int16(Int16(i))  // integer-encoded keys too
            c.1(&b)
        }
        let (records, _) = try loadAll(b.finished())
        #expect(records.map(\.key) == cases.indices.map { bytes(String($0)) })
        #expect(records.map(\.value) == cases.map { .string(bytes($0.0)) })
    }

    @Test func expireOpcodesApplyToTheNextKeyOnly() throws {
        var b = DumpBuilder(version: 10)
        b.op(RDB.opExpireTimeMs)
        b.littleEndian(1_700_000_000_123, 8)
        b.op(RDB.opIdle)
        b.length(1000)
        b.setString("ms", "1")
        b.setString("none", "2")
        b.op(RDB.opExpireTime)
        b.littleEndian(1_700_000_000, 4)
        b.op(RDB.opFreq)
        b.op(7)
        b.setString("secs", "3")
        b.op(RDB.opExpireTimeMs)
        b.littleEndian(0, 8)
        b.setString("zero", "4")
        b.op(RDB.opExpireTime)
        b.littleEndian(UInt64(UInt32(bitPattern: -5)), 4)
        b.setString("negative", "5")
        let (records, _) = try loadAll(b.finished())
        #expect(records.map(\.expireAtMs) == [1_700_000_000_123, 0, 1_700_000_000_000, 1, 1])
    }

    /// A version 11 file (Redis 7.2) with everything this reader must skip around the keys.
    @Test func handMadeVersion11File() throws {
        var b = DumpBuilder(version: 11)
        b.aux("redis-ver", "7.2.4")
        b.op(RDB.opAux)
        b.string("redis-bits")
        b.int8(64)
        // Module AUX data: id, UINT 'when' opcode, when, typed items, EOF.
        b.op(RDB.opModuleAux)
        b.length(0x1234_5678_9abc_d001)
        b.length(2)
        b.length(2)
        moduleItems(&b)
        b.op(RDB.opFunction2)
        b.string("#!lua name=mylib\nredis.register_function('f', function() return 1 end)")
        b.op(RDB.opFunctionPreGA)
        b.string("oldlib")
        b.string("LUA")
        b.length(1)
        b.string("a description")
        b.string("return 1")
        b.op(RDB.opSelectDB)
        b.length(3)
        b.op(RDB.opResizeDB)
        b.length(4)
        b.length(1)
        // A set as a listpack (type 20, new in version 11).
        b.op(RDB.typeSetListpack)
        b.string("set")
        b.string([0x0d, 0, 0, 0, 2, 0, 0x81, 0x61, 2, 0x81, 0x62, 2, 0xff])
        // A stream with a consumer group, PEL and a consumer with active time (type 21).
        b.op(RDB.opExpireTimeMs)
        b.littleEndian(1_800_000_000_000, 8)
        b.op(RDB.typeStreamListpacks3)
        b.string("stream")
        streamBody(&b, type: RDB.typeStreamListpacks3)
        // A module value (type 7).
        b.op(RDB.typeModule2)
        b.string("mod")
        b.length(0x1234_5678_9abc_d001)
        moduleItems(&b)
        // Strings in every encoding.
        b.op(RDB.typeString)
        b.string("lzf")
        let long = bytes(String(repeating: "abcdefgh", count: 40))
        let compressed = LZF.compress(long)!
        b.lzf(compressed, size: long.count)
        b.op(RDB.typeString)
        b.int32(-123456)
        b.string([0, 13, 10, 255])
        b.setString("", "empty key")
        b.setString("empty value", "")
        let big = [UInt8](repeating: 7, count: 20000)  // 32-bit length prefix
        b.op(RDB.typeString)
        b.string("big")
        b.string(big)

        let (records, aux) = try loadAll(b.finished())
        #expect(aux == ["redis-ver": "7.2.4", "redis-bits": "64"])
        // Redis 7.0 has no listpack set: it loads as a table.
        let set = records.first
        #expect(set?.key == bytes("set") && set?.db == 3)
        if case .object(let o)? = set?.value, let sv = o as? SetValue {
            #expect(sv.encodingName == "hashtable" && Set(sv.members()) == [bytes("a"), bytes("b")])
        } else { Issue.record("the listpack set did not load as a set") }
        #expect(Array(records.dropFirst()) == [
            RDBRecord(db: 3, key: bytes("stream"), value: .object(sampleStream(entries: 5)), expireAtMs: 1_800_000_000_000),
            RDBRecord(db: 3, key: bytes("mod"), value: .unsupported(type: 7), expireAtMs: 0),
            RDBRecord(db: 3, key: bytes("lzf"), value: .string(long), expireAtMs: 0),
            RDBRecord(db: 3, key: bytes("-123456"), value: .string([0, 13, 10, 255]), expireAtMs: 0),
            RDBRecord(db: 3, key: [], value: .string(bytes("empty key")), expireAtMs: 0),
            RDBRecord(db: 3, key: bytes("empty value"), value: .string([]), expireAtMs: 0),
            RDBRecord(db: 3, key: bytes("big"), value: .string(big), expireAtMs: 0),
        ])
    }

    /// Every value type not held yet is parsed past, so the keys after it still load; hashes,
    /// lists, sets and sorted sets of every encoding load.
    @Test func skipsEveryOtherValueType() throws {
        var b = DumpBuilder(version: 9)
        var expected: [UInt8] = []
        let ziplistX5: [UInt8] = [16, 0, 0, 0, 13, 0, 0, 0, 2, 0, 0, 1, 0x78, 3, 0xF6, 0xFF]  // "x", 5
        func key(_ type: UInt8) {
            b.op(type)
            b.string("t\(type)")
            expected.append(type)
        }
        key(RDB.typeList); b.length(2); b.string("a"); b.int8(5)
        key(RDB.typeSet); b.length(1); b.string("m")
        key(RDB.typeZSet); b.length(3); b.string("x"); b.op(3); b.raw(bytes("1.5"))
        b.string("y"); b.op(254); b.string("z"); b.op(255)
        key(RDB.typeHash); b.length(1); b.string("f"); b.string("v")
        key(RDB.typeZSet2); b.length(1); b.string("m"); b.littleEndian(0x3ff8_0000_0000_0000, 8)
        key(RDB.typeHashZipmap); b.string([1, 1] + bytes("f") + [1, 0] + bytes("v") + [0xFF])
        key(RDB.typeListZiplist); b.string(ziplistX5)
        key(RDB.typeSetIntset); b.string([2, 0, 0, 0, 1, 0, 0, 0, 5, 0])
        key(RDB.typeZSetZiplist); b.string([16, 0, 0, 0, 13, 0, 0, 0, 2, 0, 0, 0x01, 0x61, 3, 0xF2, 0xFF])  // zset ziplist "a" 1
        key(RDB.typeHashZiplist); b.string([17, 0, 0, 0, 13, 0, 0, 0, 2, 0, 0, 1] + bytes("f") + [3, 1] + bytes("v") + [0xFF])
        key(RDB.typeListQuicklist); b.length(2); b.string(ziplistX5); b.string(ziplistX5)
        key(RDB.typeStreamListpacks); streamBody(&b, type: RDB.typeStreamListpacks)
        key(RDB.typeHashListpack); b.string([13, 0, 0, 0, 2, 0, 0x81] + bytes("f") + [2, 0x81] + bytes("v") + [2, 0xFF])
        key(RDB.typeZSetListpack); b.string([12, 0, 0, 0, 2, 0, 0x81, 0x61, 0x02, 0x01, 0x01, 0xFF])  // "a" 1
        key(RDB.typeListQuicklist2); b.length(2); b.length(2); b.string([13, 0, 0, 0, 2, 0, 0x81, 0x78, 2, 0x81, 0x79, 2, 0xFF])
        b.length(1); b.string("plain")
        key(RDB.typeStreamListpacks2); streamBody(&b, type: RDB.typeStreamListpacks2)
        b.setString("last", "ok")
        let (records, _) = try loadAll(b.finished())
        let streamTypes = [RDB.typeStreamListpacks, RDB.typeStreamListpacks2]
        for (r, type) in zip(records.dropLast(), expected) {
            if [RDB.typeHash, RDB.typeHashZipmap, RDB.typeHashZiplist, RDB.typeHashListpack].contains(type) {
                #expect(r.value == .object(hashOf([("f", "v")])), "type \(type)")
            } else if [RDB.typeZSet, RDB.typeZSet2, RDB.typeZSetZiplist, RDB.typeZSetListpack].contains(type) {
                guard case .object(let o) = r.value, let z = o as? SortedSet else { Issue.record("type \(type) did not load as a zset"); continue }
                var got: [String] = []
                z.forEach { m, s in got.append(String(decoding: m, as: UTF8.self) + "=" + ZScore.text(s)) }
                let want = [RDB.typeZSet: ["z=-inf", "x=1.5", "y=inf"], RDB.typeZSet2: ["m=1.5"]][type] ?? ["a=1"]
                #expect(got == want)
            } else if type == RDB.typeSet || type == RDB.typeSetIntset {
                guard case .object(let o) = r.value, let set = o as? SetValue else { Issue.record("type \(type) did not load as a set"); continue }
                #expect(set.members() == [bytes(type == RDB.typeSet ? "m" : "5")])
            } else if [RDB.typeList, RDB.typeListZiplist, RDB.typeListQuicklist, RDB.typeListQuicklist2].contains(type) {
                guard case .object(let o) = r.value, let l = o as? ListValue else { Issue.record("type \(type) did not load as a list"); continue }
                let want = [RDB.typeList: ["a", "5"], RDB.typeListZiplist: ["x", "5"], RDB.typeListQuicklist: ["x", "5", "x", "5"]][type]
                    ?? ["x", "y", "plain"]
                #expect(elementsOf(l) == want, "type \(type)")
            } else if streamTypes.contains(type) {
                guard case .object(let o) = r.value, let s = o as? Stream else { Issue.record("type \(type) did not load as a stream"); continue }
                #expect(entries(s) == entries(sampleStream(entries: 5)))
            } else {
                #expect(r.value == .unsupported(type: type))
            }
        }
        #expect(records.dropLast().map(\.key) == expected.map { bytes("t\($0)") })
        #expect(records.last == RDBRecord(db: 0, key: bytes("last"), value: .string(bytes("ok")), expireAtMs: 0))
    }

    @Test func unsupportedTypesFailClearly() {
        for type: UInt8 in [6, 8, 22, 25, 100, 0xF4] {
            var b = DumpBuilder(version: 10)
            b.setString("before", "x")
            let at = b.bytes.count
            b.op(type)
            b.string("key")
            b.string("value")
            do {
                _ = try loadAll(b.finished())
                Issue.record("type \(type) loaded")
            } catch let e as RDBError {
                #expect(e.description == "Unsupported value type \(type) at byte \(at)")
            } catch { Issue.record("unexpected \(error)") }
        }
    }

    @Test func corruptStructuresFailClearly() {
        func message(_ build: (inout DumpBuilder) -> Void) -> String? {
            var b = DumpBuilder(version: 10)
            build(&b)
            do { _ = try loadAll(b.finished()); return nil } catch let e as RDBError { return e.message } catch { return "\(error)" }
        }
        #expect(message { $0.op(0); $0.raw([0x82]) } == "Unknown length encoding 0x82")
        #expect(message { $0.op(0); $0.raw([0xC4]) } == "Unknown RDB string encoding type 4")
        #expect(message { $0.op(0); $0.string("k"); $0.lzf([0x00, 0x61, 0x20, 0x00], size: 5) } == "Invalid LZF compressed string")
        #expect(message { $0.op(RDB.opSelectDB); $0.raw([0xC0]) } == "Unexpected string encoding where a length belongs")
        #expect(message { $0.op(RDB.typeListQuicklist2); $0.string("l"); $0.length(1); $0.length(3); $0.string("x") }
                == "Quicklist integrity check failed.")
        #expect(message { $0.op(RDB.opModuleAux); $0.length(1); $0.length(5); $0.length(0) } == "bad when_opcode")
        #expect(message { $0.op(RDB.typeModule2); $0.string("m"); $0.length(1); $0.length(9) } == "Unknown module value opcode 9")
        #expect(message { $0.op(RDB.opSelectDB); $0.length(UInt64(Int32.max) + 1) }
                == "Bad database number \(UInt64(Int32.max) + 1)")
    }

    /// Declared sizes far beyond the input are refused before anything is allocated.
    @Test func hugeDeclaredLengthsDoNotAllocate() {
        func message(_ build: (inout DumpBuilder) -> Void) -> String? {
            var b = DumpBuilder(version: 10)
            build(&b)
            do { _ = try loadAll(b.finished()); return nil } catch let e as RDBError { return e.message } catch { return "\(error)" }
        }
        #expect(message { $0.op(0); $0.length(1 << 62) } == "Unexpected end of file")
        #expect(message { $0.op(0); $0.string("k"); $0.length(UInt64.max) } == "Unexpected end of file")
        #expect(message { $0.op(0); $0.string("k"); $0.lzf([0, 0x61], size: 1 << 40) } == "Invalid LZF compressed string")
        #expect(message { $0.op(0); $0.string("k"); $0.raw([0xC3]); $0.length(1 << 40); $0.length(4) } == "Unexpected end of file")
        #expect(message { $0.op(RDB.typeList); $0.string("k"); $0.length(1 << 62) } != nil)
        #expect(message { $0.op(RDB.typeStreamListpacks2); $0.string("s"); $0.length(UInt64.max) } == "Unexpected end of file")
    }

    @Test func bodyErrorsPropagateUnchanged() {
        struct Stop: Error, Equatable { let key: [UInt8] }
        var seen = 0
        #expect(throws: Stop(key: bytes("neg"))) {
            _ = try RDBReader.load(bytes: redisDump) { record in
                seen += 1
                if record.key == bytes("neg") { throw Stop(key: record.key) }
            }
        }
        #expect(seen == 3)
    }

    @Test func fileErrors() throws {
        do {
            _ = try loadAll(path: "/nonexistent/dump.rdb")
            Issue.record("expected an error")
        } catch let e as RDBError {
            #expect(e.systemError == ENOENT)
            #expect(e.message.hasPrefix("Can't open /nonexistent/dump.rdb: No such file or directory"))
        }
        #expect(throws: RDBError.self) { try loadAll(path: "/tmp") }
    }

    /// A file much larger than the read window: windowed reads and the CRC give the same
    /// result as reading from memory.
    @Test func largeFileMatchesInMemoryRead() throws {
        var b = DumpBuilder(version: 10)
        var rng = SplitMix64(seed: 9)
        for i in 0..<3000 {
            let value = (0..<rng.below(300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            b.op(RDB.typeString)
            b.string("key:\(i)")
            b.string(value)
        }
        b.op(RDB.typeString)
        b.string("huge")
        b.string((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let dump = b.finished()
        let dir = makeTempDir("large")
        defer { removeTree(dir) }
        writeFile(dir + "/dump.rdb", dump)
        let fromFile = try loadAll(path: dir + "/dump.rdb")
        let fromMemory = try loadAll(dump)
        #expect(fromFile.records.count == 3001)
        #expect(fromFile.records == fromMemory.records)
        var corrupt = dump
        corrupt[150_000] ^= 1
        writeFile(dir + "/corrupt.rdb", corrupt)
        #expect(throws: RDBError.self) { try loadAll(path: dir + "/corrupt.rdb") }
    }
}

/// Module v2 items: every typed opcode, then EOF.
private func moduleItems(_ b: inout DumpBuilder) {
    b.length(RDB.moduleOpUInt); b.length(1 << 40)
    b.length(RDB.moduleOpSInt); b.length(5)
    b.length(RDB.moduleOpFloat); b.littleEndian(0x3fc0_0000, 4)
    b.length(RDB.moduleOpDouble); b.littleEndian(0x3ff8_0000_0000_0000, 8)
    b.length(RDB.moduleOpString); b.string("module string")
    b.length(RDB.moduleOpEOF)
}

/// A stream value in the given type's layout, with one listpack, a group, its PEL and a consumer.
/// A valid stream of RDB type `type` (the sample of StreamRDBTests, small).
private func streamBody(_ b: inout DumpBuilder, type: UInt8) {
    b.raw(encodeStream(sampleStream(entries: 5), type: type))
}
