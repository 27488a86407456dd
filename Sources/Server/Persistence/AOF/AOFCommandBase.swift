import Shards
import Values
#if canImport(Glibc)
import Glibc
#endif

/// An AOF base written as commands (`aof-use-rdb-preamble no`), as Redis 7.0's
/// rewriteAppendOnlyFileRio writes it: a timestamp annotation if enabled, FUNCTION LOAD per
/// library, then per database with keys a SELECT, per key the commands that rebuild it
/// (SET for strings, HyperLogLogs and bitmaps included; the types' own commands otherwise:
/// `ValueType.writeRewriteCommands`) and PEXPIREAT for a key with a TTL.
enum AOFCommandBase {
    /// Writes the base of the snapshot `parts` to `path`, fsynced. Returns an error or nil.
    static func write(parts: [[UInt8]], prefix: Int, path: String, timestamp: Bool) -> String? {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return "Can't open \(path): \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        var out = RewriteCommands()
        out.bytes.reserveCapacity(Self.flushAt + 64 * 1024)
        var failed: String?
        func flushIfFull(force: Bool = false) {
            guard failed == nil, force || out.bytes.count >= Self.flushAt else { return }
            if !AOFFile.writeAll(fd, out.bytes) { failed = "Write error: \(String(cString: strerror(errno)))" }
            out.bytes.removeAll(keepingCapacity: true)
        }
        if timestamp { out.bytes += Array("#TS:\(Clock.unixMilliseconds() / 1000)\r\n".utf8) }
        for library in FunctionRegistry.shared.catalog.ordered {
            out.array(3)
            out.bulk("FUNCTION")
            out.bulk("LOAD")
            out.bulk(library.code)
        }
        var databases = Set<Int>()
        for part in parts {
            part.withUnsafeBytes { b in SnapshotRecord.forEach(in: b, from: prefix) { db, _, _, _, _ in databases.insert(db) } }
        }
        for db in databases.sorted() {
            out.array(2)
            out.bulk("SELECT")
            out.bulk(Int64(db))
            for part in parts {
                part.withUnsafeBytes { b in
                    SnapshotRecord.forEach(in: b, from: prefix) { recordDB, key, value, at, type in
                        guard recordDB == db, failed == nil else { return }
                        if type == RDB.typeString {
                            out.array(3)
                            out.bulk("SET")
                            out.bulk(key)
                            out.bulk(value)
                        } else {
                            guard let object = try? ValueTypes.decodeSnapshot(rdbType: type, value) else {
                                failed = "Can't decode the snapshot of a value of RDB type \(type)"
                                return
                            }
                            object.writeRewriteCommands(key: key, to: &out)
                        }
                        if at != 0 {
                            out.array(3)
                            out.bulk("PEXPIREAT")
                            out.bulk(key)
                            out.bulk(at)
                        }
                        flushIfFull()
                    }
                }
            }
        }
        flushIfFull(force: true)
        if let failed { return failed }
        return fsync(fd) == 0 ? nil : "fsync: \(String(cString: strerror(errno)))"
    }

    private static let flushAt = 1 << 20
}
