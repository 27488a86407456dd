import Foundation
import Testing
@testable import Server
import TestSupport
import Values

/// Finds an executable on PATH (the interop tests skip when redis-server is absent).
func findExecutable(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for dir in path.split(separator: ":") where access("\(dir)/\(name)", X_OK) == 0 { return "\(dir)/\(name)" }
    return nil
}

/// Runs a program to completion, feeding `stdin`; returns its stdout and exit status.
@discardableResult
func run(_ executable: String, _ args: [String], stdin: [UInt8]? = nil) throws -> (out: [UInt8], status: Int32) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = args
    let outPipe = Pipe()
    p.standardOutput = outPipe
    p.standardError = FileHandle.nullDevice
    let inPipe = Pipe()
    p.standardInput = inPipe
    try p.run()
    // Feed stdin from another thread so a large input can't deadlock against a full stdout pipe.
    let input = stdin ?? []
    let writer = Thread {
        inPipe.fileHandleForWriting.write(Data(input))
        try? inPipe.fileHandleForWriting.close()
    }
    writer.start()
    let out = outPipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return ([UInt8](out), p.terminationStatus)
}

/// A redis-server on a Unix socket in its own directory, with no save points.
final class RedisServer {
    static let serverPath = findExecutable("redis-server")
    static let cliPath = findExecutable("redis-cli")
    static var available: Bool { serverPath != nil && cliPath != nil }

    let dir: String
    let socket: String
    let process = Process()

    init(dir: String, dbfilename: String = "dump.rdb", extra: [String] = []) throws {
        self.dir = dir
        socket = dir + "/redis.sock"
        process.executableURL = URL(fileURLWithPath: Self.serverPath!)
        process.arguments = ["--port", "0", "--unixsocket", socket, "--dir", dir, "--dbfilename", dbfilename,
                             "--save", "", "--appendonly", "no", "--logfile", dir + "/redis.log"] + extra
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if !process.isRunning { throw ServerFailed(log: log) }
            if access(socket, F_OK) == 0, (try? cli(["PING"]))?.out == bytes("PONG\n") { return }
            usleep(20_000)
        }
        process.terminate()
        throw ServerFailed(log: log)
    }

    struct ServerFailed: Error, CustomStringConvertible {
        let log: String
        var description: String { "redis-server did not come up:\n\(log)" }
    }

    var log: String { readFile(dir + "/redis.log").map { String(decoding: $0, as: UTF8.self) } ?? "" }

    @discardableResult
    func cli(_ args: [String], db: Int = 0, stdin: [UInt8]? = nil) throws -> (out: [UInt8], status: Int32) {
        try run(Self.cliPath!, ["-s", socket, "-n", String(db)] + args, stdin: stdin)
    }

    /// A reply's text without the newline redis-cli adds.
    func value(_ args: [String], db: Int = 0) throws -> [UInt8] {
        let out = try cli(args, db: db).out
        return Array(out.dropLast())
    }

    /// Sets a (possibly binary) value exactly, through redis-cli -x (last argument from stdin).
    func set(_ key: String, _ value: [UInt8], db: Int = 0) throws {
        let r = try cli(["-x", "SET", key], db: db, stdin: value)
        #expect(r.out == bytes("OK\n"), "SET \(key)")
    }

    func stop() {
        _ = try? cli(["SHUTDOWN", "NOSAVE"])
        process.waitUntilExit()
    }
}

/// Values covering every string encoding Redis picks, and their boundaries.
func interopValues() -> [(key: String, value: [UInt8])] {
    var rng = SplitMix64(seed: 99)
    var values: [(String, [UInt8])] = []
    for v in ["0", "-1", "127", "128", "-128", "-129", "32767", "32768", "-32768", "65535", "2147483647",
              "-2147483648", "2147483648", "9223372036854775807", "007", "+5", "-0", "1.5"] {
        values.append(("int:\(v)", bytes(v)))
    }
    values.append(("empty", []))
    values.append(("short", bytes("hello")))
    values.append(("twenty", bytes(String(repeating: "a", count: 20))))
    values.append(("twentyone", bytes(String(repeating: "a", count: 21))))
    values.append(("words", bytes("hello hello hello hello world world world")))
    values.append(("compressible", bytes(String(repeating: "abcdefghij", count: 500))))
    values.append(("binary", [0, 1, 13, 10, 0, 255, 13, 10] + bytes("\r\n$3\r\nfoo")))
    values.append(("random", (0..<3000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }))
    values.append(("big", (0..<300_000).map { UInt8(truncatingIfNeeded: ($0 / 7) % 13) }))
    values.append(("12345", bytes("integer key")))
    return values
}

@Suite(.enabled(if: RedisServer.available, "needs redis-server and redis-cli"), .serialized)
struct RDBInteropTests {
    /// redis-server 7.0 writes, RDBReader reads: every string encoding, TTLs set in seconds
    /// and in milliseconds, several databases, and other types skipped as unsupported.
    @Test func readsWhatRedisWrites() throws {
        let dir = makeTempDir("interop-read")
        defer { removeTree(dir) }
        let redis = try RedisServer(dir: dir)
        defer { redis.stop() }
        let values = interopValues()
        for (key, value) in values { try redis.set(key, value) }
        try redis.set("in-db-3", bytes("three"), db: 3)
        try redis.set("in-db-15", bytes("fifteen"), db: 15)
        try redis.set("secs", bytes("s"))
        try redis.cli(["EXPIREAT", "secs", "4000000000"])
        try redis.set("millis", bytes("m"))
        try redis.cli(["PEXPIREAT", "millis", "4000000000123"])
        try redis.set("ttl-db-3", bytes("t"), db: 3)
        try redis.cli(["PEXPIREAT", "ttl-db-3", "4100000000999"], db: 3)
        let ints = (0..<600).map { "\($0)" }
        let expectedTypes: [String: UInt8] = [:]  // every type redis-server writes here loads
        try redis.cli(["RPUSH", "list", "a", "b", "c"])
        try redis.cli(["HSET", "smallhash", "f", "v"])
        try redis.cli(["HSET", "bighash"] + ints.flatMap { ["f\($0)", $0] })
        try redis.cli(["SADD", "intset", "1", "2", "3"])
        try redis.cli(["SADD", "strset"] + ints.map { "m\($0)" })
        try redis.cli(["ZADD", "smallzset", "1", "a", "2.5", "b"])
        try redis.cli(["ZADD", "bigzset"] + ints.flatMap { [$0, "m\($0)"] })
        try redis.cli(["XADD", "stream", "1-1", "f", "v"])
        try redis.cli(["XADD", "stream", "2-1", "f", "w"])
        try redis.cli(["XGROUP", "CREATE", "stream", "g", "0"])
        try redis.cli(["XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", "stream", ">"])
        let library = "#!lua name=mylib\nredis.register_function('f', function() return 1 end)"
        #expect(try redis.value(["FUNCTION", "LOAD", library]) == bytes("mylib"))  // an 0xF5 record
        try redis.set("after-types", bytes("still read"))
        #expect(try redis.cli(["SAVE"]).out == bytes("OK\n"))

        let (records, aux) = try loadAll(path: dir + "/dump.rdb")
        #expect(aux["redis-ver"]?.hasPrefix("7.") == true)
        #expect(aux["redis-bits"] == "64")
        var byKey: [String: RDBRecord] = [:]
        for r in records { byKey["\(r.db)/" + String(decoding: r.key, as: UTF8.self)] = r }
        #expect(byKey.count == records.count, "no duplicate keys")
        #expect(records.count == values.count + expectedTypes.count + 14)  // + list, hashes, sets, sorted sets, stream, db 3/15, TTL keys...
        for (key, value) in values {
            #expect(byKey["0/\(key)"]?.value == .string(value), "\(key)")
            #expect(byKey["0/\(key)"]?.expireAtMs == 0)
        }
        #expect(byKey["3/in-db-3"]?.value == .string(bytes("three")))
        #expect(byKey["15/in-db-15"]?.value == .string(bytes("fifteen")))
        #expect(byKey["0/secs"]?.expireAtMs == 4_000_000_000_000)
        #expect(byKey["0/millis"]?.expireAtMs == 4_000_000_000_123)
        #expect(byKey["3/ttl-db-3"]?.expireAtMs == 4_100_000_000_999)
        #expect(byKey["0/after-types"]?.value == .string(bytes("still read")))
        for (key, type) in expectedTypes { #expect(byKey["0/\(key)"]?.value == .unsupported(type: type), "\(key)") }
        if case .object(let o)? = byKey["0/list"]?.value, let l = o as? ListValue {
            #expect(l.encodingName == "quicklist" && elementsOf(l) == ["a", "b", "c"])
        } else { Issue.record("list did not load as a list") }
        if case .object(let o)? = byKey["0/intset"]?.value, let set = o as? SetValue {
            #expect(set.encodingName == "intset" && set.members() == [bytes("1"), bytes("2"), bytes("3")])
        } else { Issue.record("intset did not load as a set") }
        if case .object(let o)? = byKey["0/strset"]?.value, let set = o as? SetValue {
            #expect(set.encodingName == "hashtable" && set.count == ints.count)
        } else { Issue.record("strset did not load as a set") }
        if case .object(let o)? = byKey["0/smallhash"]?.value, let h = o as? Hash {
            #expect(h.encodingName == "listpack" && pairsOf(h) == ["f": "v"])
        } else { Issue.record("smallhash did not load as a hash") }
        if case .object(let o)? = byKey["0/bighash"]?.value, let h = o as? Hash {
            #expect(h.encodingName == "hashtable")
            #expect(pairsOf(h) == Dictionary(uniqueKeysWithValues: ints.map { ("f\($0)", $0) }))
        } else { Issue.record("bighash did not load as a hash") }
        for (key, encoding, count) in [("smallzset", "listpack", 2), ("bigzset", "skiplist", 600)] {
            guard case .object(let o) = byKey["0/\(key)"]?.value, let z = o as? SortedSet else { Issue.record("\(key) did not load"); continue }
            #expect(z.encodingName == encoding && z.count == count)
        }
        guard case .object(let o) = byKey["0/stream"]?.value, let s = o as? Values.Stream else { Issue.record("the stream did not load"); return }
        #expect(entries(s) == ["1-1 f=v", "2-1 f=w"])
        #expect(s.groups.count == 1 && s.groups[0].pel.count == 1 && s.groups[0].consumers.first?.name == bytes("alice"))
    }

    /// RDBWriter fed what RDBReader read from a strings-only Redis dump writes the very
    /// same bytes: encodings, LZF output, RESIZEDB, expires and checksum all match Redis,
    /// with rdbcompression and rdbchecksum on and off.
    @Test(arguments: [(true, true), (false, true), (true, false)])
    func rewritesARedisDumpByteForByte(compression: Bool, checksum: Bool) throws {
        let dir = makeTempDir("interop-same")
        defer { removeTree(dir) }
        // rdbchecksum can only be set at start-up.
        let redis = try RedisServer(dir: dir, extra: ["--rdbcompression", compression ? "yes" : "no",
                                                      "--rdbchecksum", checksum ? "yes" : "no"])
        defer { redis.stop() }
        for (key, value) in interopValues() { try redis.set(key, value) }
        try redis.set("ttl", bytes("v"))
        try redis.cli(["PEXPIREAT", "ttl", "4000000000123"])
        try redis.set("other-db", bytes(String(repeating: "xy", count: 40)), db: 7)
        try redis.cli(["HSET", "smallhash", "f", "v", "n", "12", "neg", "-5000", "long", String(repeating: "ab", count: 30)])
        try redis.cli(["SAVE"])
        let original = readFile(dir + "/dump.rdb")!
        #expect(original.suffix(8).allSatisfy { $0 == 0 } == !checksum)
        let ours = try rewrite(original, to: dir + "/ours.rdb", compression: compression, checksum: checksum)
        #expect(ours.count == original.count)
        if let i = ours.indices.first(where: { $0 < original.count && ours[$0] != original[$0] }) {
            Issue.record("first difference at byte \(i)")
        }
    }

    /// Writes the records of `dump` with RDBWriter, in file order, and returns the file.
    private func rewrite(_ dump: [UInt8], to path: String, compression: Bool, checksum: Bool) throws -> [UInt8] {
        let (records, aux) = try loadAll(dump)
        // The aux fields in file order (the reader returns a dictionary).
        let order = ["redis-ver", "redis-bits", "ctime", "used-mem", "aof-base"]
        #expect(Set(aux.keys) == Set(order))
        let writer = try RDBWriter(path: path)
        writer.compression = compression
        writer.checksum = checksum
        try writer.writeHeader(aux: order.map { ($0, aux[$0]!) })
        var current = -1
        for r in records {
            if r.db != current {
                current = r.db
                let inDB = records.filter { $0.db == r.db }
                try writer.selectDB(r.db, keys: inDB.count, expires: inDB.filter { $0.expireAtMs != 0 }.count)
            }
            try writer.put(r)
        }
        try writer.commit()
        return readFile(path)!
    }

    /// RDBWriter writes, redis-server 7.0 loads it at start-up: keys, values and TTLs match,
    /// and redis-check-rdb finds the file sound.
    @Test func redisLoadsWhatWeWrite() throws {
        let dir = makeTempDir("interop-write")
        defer { removeTree(dir) }
        let values = interopValues()
        let writer = try RDBWriter(path: dir + "/ours.rdb")
        try writer.writeHeader(aux: standardAux)
        let big = (0..<600).map { ("f\($0)", String(repeating: "v", count: $0 % 80)) }
        try writer.selectDB(0, keys: values.count + 4, expires: 2)
        for (key, value) in values { try writer.put(bytes(key), value) }
        try writer.put(RDBRecord(db: 0, key: bytes("smallhash"), value: .object(hashOf([("a", "1"), ("b", "-20")])), expireAtMs: 0))
        try writer.put(RDBRecord(db: 0, key: bytes("bighash"), value: .object(hashOf(big)), expireAtMs: 0))
        try writer.put(bytes("ttl"), bytes("v"), expireAtMs: 4_000_000_000_123)
        try writer.put(bytes("expired"), bytes("gone"), expireAtMs: 1_000)  // Redis drops it on load
        try writer.selectDB(9, keys: 1, expires: 0)
        try writer.put(bytes("nine"), bytes("9"))
        try writer.selectDB(15, keys: 1, expires: 1)
        try writer.put(bytes("fifteen"), [0, 15], expireAtMs: 4_100_000_000_000)
        try writer.commit()

        if let check = findExecutable("redis-check-rdb") {
            let r = try run(check, [dir + "/ours.rdb"])
            #expect(r.status == 0)
            #expect(String(decoding: r.out, as: UTF8.self).contains("RDB looks OK!"))
        }

        let redis = try RedisServer(dir: dir, dbfilename: "ours.rdb")
        defer { redis.stop() }
        #expect(try redis.value(["DBSIZE"]) == bytes(String(values.count + 3)))
        #expect(try redis.value(["OBJECT", "ENCODING", "smallhash"]) == bytes("listpack"))
        #expect(try redis.value(["HGET", "smallhash", "b"]) == bytes("-20"))
        #expect(try redis.value(["OBJECT", "ENCODING", "bighash"]) == bytes("hashtable"))
        #expect(try redis.value(["HLEN", "bighash"]) == bytes("600"))
        #expect(try redis.value(["HGET", "bighash", "f79"]) == bytes(String(repeating: "v", count: 79)))
        for (key, value) in values { #expect(try redis.value(["GET", key]) == value, "\(key)") }
        #expect(try redis.value(["PEXPIRETIME", "ttl"]) == bytes("4000000000123"))
        #expect(try redis.value(["EXISTS", "expired"]) == bytes("0"))
        #expect(try redis.value(["GET", "nine"], db: 9) == bytes("9"))
        #expect(try redis.value(["GET", "fifteen"], db: 15) == [0, 15])
        #expect(try redis.value(["PEXPIRETIME", "fifteen"], db: 15) == bytes("4100000000000"))
        #expect(try redis.value(["DBSIZE"], db: 15) == bytes("1"))
    }
}

/// rdbtools (pip install rdbtools) parses a dump of ours. It reads RDB versions up to 9,
/// so the dump is written as version 9 (strings are encoded the same in 9 and 10).
@Suite(.enabled(if: findExecutable("rdb") != nil, "needs rdbtools (pip install rdbtools)"))
struct RDBToolsInteropTests {
    @Test func rdbtoolsReadsOurDump() throws {
        let dir = makeTempDir("rdbtools")
        defer { removeTree(dir) }
        let values = interopValues()
        let writer = try RDBWriter(path: dir + "/ours.rdb", version: 9)
        try writer.writeHeader(aux: standardAux)
        try writer.selectDB(0, keys: values.count, expires: 0)
        for (key, value) in values { try writer.put(bytes(key), value) }
        try writer.selectDB(2, keys: 1, expires: 1)
        try writer.put(bytes("ttl"), bytes("v"), expireAtMs: 4_000_000_000_000)
        try writer.commit()

        let r = try run(findExecutable("rdb")!, ["--command", "protocol", "--escape", "raw", dir + "/ours.rdb"])
        #expect(r.status == 0)
        let commands = parseRESPCommands(r.out)
        var expected: [[[UInt8]]] = [[bytes("SELECT"), bytes("0")]]
        for (key, value) in values { expected.append([bytes("SET"), bytes(key), value]) }
        expected.append([bytes("SELECT"), bytes("2")])
        expected.append([bytes("SET"), bytes("ttl"), bytes("v")])
        expected.append([bytes("EXPIREAT"), bytes("ttl"), bytes("4000000000")])
        #expect(commands == expected)
    }
}

/// Splits rdbtools' protocol output (RESP arrays of bulk strings) into commands.
func parseRESPCommands(_ data: [UInt8]) -> [[[UInt8]]] {
    var i = 0
    func line() -> String {
        let start = i
        while i + 1 < data.count, !(data[i] == 13 && data[i + 1] == 10) { i += 1 }
        defer { i += 2 }
        return String(decoding: data[start..<i], as: UTF8.self)
    }
    var commands: [[[UInt8]]] = []
    while i < data.count {
        guard let n = Int(line().dropFirst()) else { break }
        var args: [[UInt8]] = []
        for _ in 0..<n {
            guard let len = Int(line().dropFirst()), i + len <= data.count else { return commands }
            args.append(Array(data[i..<i + len]))
            i += len + 2
        }
        commands.append(args)
    }
    return commands
}
