import Glibc
import Testing
import RESP
@testable import Server
import TestSupport

extension RDBWriter {
    func put(_ key: [UInt8], _ value: [UInt8], expireAtMs: Int64 = 0) throws {
        try key.withUnsafeBytes { k in try value.withUnsafeBytes { v in try writeString(key: k, value: v, expireAtMs: expireAtMs) } }
    }

    func put(_ record: RDBRecord) throws {
        switch record.value {
        case .string(let value):
            try put(record.key, value, expireAtMs: record.expireAtMs)
        case .object(let o):
            try record.key.withUnsafeBytes { k in
                try o.snapshotEncoding().withUnsafeBytes {
                    try writeObject(key: k, type: o.rdbType, encoding: $0, expireAtMs: record.expireAtMs)
                }
            }
        case .unsupported:
            Issue.record("a record of a type not held cannot be written")
        }
    }
}

let standardAux: [(String, String)] = [
    ("redis-ver", "7.0.15"), ("redis-bits", "64"), ("ctime", "1700000000"), ("used-mem", "1039072"), ("aof-base", "0"),
]

@Suite struct RDBWriterTests {
    @Test func roundTripsThroughTheReader() throws {
        let dir = makeTempDir("w")
        defer { removeTree(dir) }
        var rng = SplitMix64(seed: 7)
        var expected: [RDBRecord] = []
        let values: [[UInt8]] = [
            bytes("0"), bytes("-1"), bytes("127"), bytes("128"), bytes("-32768"), bytes("2147483647"),
            bytes("-2147483648"), bytes("2147483648"), bytes("007"), bytes("+5"), bytes("-0"), bytes(" 1"),
            [], bytes("hello"), [0, 13, 10, 0], bytes(String(repeating: "abc", count: 7)),
            bytes(String(repeating: "xyz", count: 1000)), [UInt8](repeating: 9, count: 200_000),
            (0..<100_000).map { _ in UInt8(truncatingIfNeeded: rng.next()) },
        ]
        let writer = try RDBWriter(path: dir + "/dump.rdb")
        try writer.writeHeader(aux: standardAux)
        for db in [0, 5, 200] {
            try writer.selectDB(db, keys: values.count, expires: 2)
            for (i, value) in values.enumerated() {
                let expire: Int64 = i == 3 ? 1_900_000_000_123 : i == 4 ? 1 : 0
                let record = RDBRecord(db: db, key: bytes(i == 0 ? "\(i)" : "k\(i)"), value: .string(value), expireAtMs: expire)
                try writer.put(record)
                expected.append(record)
            }
        }
        try writer.commit()
        #expect(!fileExists(writer.tempPath))
        let file = readFile(dir + "/dump.rdb")!
        #expect(writer.bytesWritten == file.count)
        let (records, aux) = try loadAll(path: dir + "/dump.rdb")
        #expect(records == expected)
        #expect(aux == Dictionary(uniqueKeysWithValues: standardAux))
    }

    /// Strings are encoded as Redis's rdbSaveRawString: canonical 32-bit integers as INT8/16/32,
    /// LZF above 20 bytes when it saves 4 bytes or more, otherwise length-prefixed.
    @Test func encodesStringsAsRedisDoes() throws {
        func encoded(_ value: String, compression: Bool = true) throws -> [UInt8] {
            let dir = makeTempDir("enc")
            defer { removeTree(dir) }
            let writer = try RDBWriter(path: dir + "/d.rdb")
            writer.compression = compression
            try writer.put(bytes("k"), bytes(value))
            try writer.commit()
            let file = readFile(dir + "/d.rdb")!
            #expect(file.prefix(3) == [0, 1, UInt8(ascii: "k")])
            return Array(file[3..<(file.count - 9)])  // minus EOF and checksum
        }
        #expect(try encoded("12345") == [0xC1, 0x39, 0x30])
        #expect(try encoded("-1") == [0xC0, 0xFF])
        #expect(try encoded("-2000000000") == [0xC2, 0x00, 0x6c, 0xca, 0x88])
        #expect(try encoded("12345678901") == [11] + bytes("12345678901"))
        #expect(try encoded("007") == [3] + bytes("007"))
        #expect(try encoded("hello hello hello hello world world world")
                == [0xC3, 0x17, 0x29] + hexBytes("0668656c6c6f2068e0080504776f726c64e00105016c64"))
        #expect(try encoded(String(repeating: "a", count: 20)) == [20] + bytes(String(repeating: "a", count: 20)))
        #expect(try encoded(String(repeating: "a", count: 21)) == [0xC3, 0x06, 0x15, 0x01, 0x61, 0x61, 0xe0, 0x0a, 0x00])
        #expect(try encoded(String(repeating: "a", count: 54), compression: false) == [54] + bytes(String(repeating: "a", count: 54)))
        let long = String(repeating: "z", count: 70)
        #expect(try encoded(long, compression: false) == [0x40, 70] + bytes(long))
    }

    @Test func headerAndFraming() throws {
        let dir = makeTempDir("frame")
        defer { removeTree(dir) }
        let writer = try RDBWriter(path: dir + "/d.rdb")
        try writer.writeHeader(aux: [("redis-bits", "64")])
        try writer.selectDB(16384, keys: 70000, expires: 1)
        try writer.put(bytes("k"), bytes("v"), expireAtMs: 0x0102_0304_0506_0708)
        try writer.commit()
        let file = readFile(dir + "/d.rdb")!
        let body = bytes("REDIS0010") + [0xFA, 10] + bytes("redis-bits") + [0xC0, 64]
            + [0xFE, 0x80, 0, 0, 0x40, 0] + [0xFB, 0x80, 0, 1, 0x11, 0x70, 1]
            + [0xFC, 8, 7, 6, 5, 4, 3, 2, 1] + [0, 1, UInt8(ascii: "k"), 1, UInt8(ascii: "v"), 0xFF]
        #expect(Array(file.prefix(body.count)) == body)
        let crc = CRC64.checksum(body)
        #expect(Array(file.suffix(8)) == (0..<8).map { UInt8(truncatingIfNeeded: crc >> (8 * UInt64($0))) })
    }

    @Test func checksumOffAndOldVersions() throws {
        let dir = makeTempDir("old")
        defer { removeTree(dir) }
        let record = RDBRecord(db: 0, key: bytes("k"), value: .string(bytes("v")), expireAtMs: 1_234_567)
        let noChecksum = try RDBWriter(path: dir + "/a.rdb")
        noChecksum.checksum = false
        try noChecksum.writeHeader(aux: [])
        try noChecksum.put(record)
        try noChecksum.commit()
        let a = readFile(dir + "/a.rdb")!
        #expect(a.suffix(9) == [0xFF, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(try loadAll(a).records == [record])

        let v4 = try RDBWriter(path: dir + "/b.rdb", version: 4)
        try v4.writeHeader(aux: [])
        try v4.put(record)
        try v4.commit()
        let b = readFile(dir + "/b.rdb")!
        #expect(b.prefix(9) == bytes("REDIS0004")[...])
        #expect(b.last == 0xFF)
        #expect(try loadAll(b).records == [record])
    }

    @Test func commitReplacesTheTargetAtomically() throws {
        let dir = makeTempDir("replace")
        defer { removeTree(dir) }
        writeFile(dir + "/dump.rdb", bytes("old content"))
        let writer = try RDBWriter(path: dir + "/dump.rdb")
        #expect(writer.tempPath.hasPrefix(dir + "/temp-"))
        #expect(writer.tempPath.hasSuffix(".rdb"))
        try writer.writeHeader(aux: [])
        try writer.put(bytes("k"), bytes("v"))
        #expect(readFile(dir + "/dump.rdb") == bytes("old content"))  // untouched until commit
        try writer.commit()
        #expect(try loadAll(path: dir + "/dump.rdb").records.count == 1)
    }

    @Test func tempFilesAreUniqueAndRelativePathsWork() throws {
        let a = try RDBWriter(path: "relative-dump.rdb")
        let b = try RDBWriter(path: "relative-dump.rdb")
        #expect(a.tempPath != b.tempPath)
        #expect(!a.tempPath.contains("/"))
        #expect(fileExists(a.tempPath) && fileExists(b.tempPath))
        a.abort()
        b.abort()
        #expect(!fileExists(a.tempPath) && !fileExists(b.tempPath))
        #expect(RDBWriter.directory(of: "/x/y/dump.rdb") == "/x/y")
        #expect(RDBWriter.directory(of: "/dump.rdb") == "/")
        #expect(RDBWriter.directory(of: "dump.rdb") == ".")
    }

    /// ENOSPC from /dev/full standing in for the temp file: the error is thrown, the temp file
    /// removed and the previous dump left in place.
    @Test func writeErrorLeavesTargetUntouched() throws {
        let dir = makeTempDir("full")
        defer { removeTree(dir) }
        writeFile(dir + "/dump.rdb", bytes("previous"))
        for bigValue in [false, true] {
            let writer = try RDBWriter(path: dir + "/dump.rdb")
            let full = open("/dev/full", O_WRONLY)
            try #require(full >= 0)
            dup2(full, writer.fd)
            close(full)
            do {
                try writer.writeHeader(aux: standardAux)
                try writer.put(bytes("k"), [UInt8](repeating: 1, count: bigValue ? 1 << 20 : 10))
                try writer.commit()
                Issue.record("expected a write error")
            } catch let e as RDBWriteError {
                #expect(e.code == ENOSPC)
                #expect(e.reason == "No space left on device")
                #expect(e.operation == "write")
            }
            #expect(!fileExists(writer.tempPath))
            #expect(readFile(dir + "/dump.rdb") == bytes("previous"))
            #expect(throws: RDBWriteError.self) { try writer.commit() }  // finished writers refuse
        }
    }

    @Test func openAndRenameErrors() throws {
        #expect(throws: RDBWriteError.self) { try RDBWriter(path: "/nonexistent-dir/dump.rdb") }
        let dir = makeTempDir("rename")
        defer { removeTree(dir) }
        let target = dir + "/adir"
        mkdir(target, 0o755)
        writeFile(target + "/inside", [1])  // a non-empty directory can't be renamed over
        let writer = try RDBWriter(path: target)
        try writer.writeHeader(aux: [])
        do {
            try writer.commit()
            Issue.record("expected a rename error")
        } catch let e as RDBWriteError {
            #expect(e.operation == "rename")
        }
        #expect(!fileExists(writer.tempPath))
        unlink(target + "/inside")
        rmdir(target)
    }

    @Test func abortAndDeinitRemoveTheTempFile() throws {
        let dir = makeTempDir("abort")
        defer { removeTree(dir) }
        let writer = try RDBWriter(path: dir + "/dump.rdb")
        try writer.writeHeader(aux: standardAux)
        let temp = writer.tempPath
        #expect(fileExists(temp))
        writer.abort()
        writer.abort()
        #expect(!fileExists(temp))
        #expect(!fileExists(dir + "/dump.rdb"))
        var dropped: String?
        do {
            let w = try RDBWriter(path: dir + "/dump.rdb")
            dropped = w.tempPath
            try w.writeHeader(aux: [])
        }
        #expect(!fileExists(dropped!))
    }

    @Test func canonicalIntegersFollowString2ll() {
        func parse(_ s: String) -> Int64? { bytes(s).withUnsafeBytes { parseStrictInt($0).map { Int64($0) } } }
        #expect(parse("0") == 0)
        #expect(parse("-1") == -1)
        #expect(parse("9223372036854775807") == Int64.max)
        #expect(parse("-9223372036854775808") == Int64.min)
        for bad in ["", "-", "-0", "00", "01", "+1", " 1", "1 ", "1a", "9223372036854775808", "-9223372036854775809",
                    "99999999999999999999", "1.0"] {
            #expect(parse(bad) == nil, "\(bad)")
        }
    }
}
