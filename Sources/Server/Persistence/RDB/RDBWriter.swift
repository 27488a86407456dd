import Glibc
import RESP
import Shards
import Synchronization
import Values

/// A failed system call while writing a dump. `reason` is strerror's text, as Redis logs it
/// ("Write error saving DB on disk: No space left on device").
struct RDBWriteError: Error, CustomStringConvertible {
    let operation: String  // "open", "write", "fsync", "close", "rename"
    let path: String
    let code: Int32

    var reason: String { errorText(code) }
    var description: String { "Failed to \(operation) \(path): \(reason)" }
}

/// Writes a dump to `<dir>/temp-<pid>-<n>.rdb` beside the target, then on commit() fsyncs
/// it and renames it over the target, so the target is either the old file or the complete
/// new one. Output goes through a 64 KB buffer; the CRC-64 is folded in as it is flushed.
/// Strings are encoded as Redis's rdbSaveRawString does. Not thread-safe: one writer, one thread.
final class RDBWriter {
    private static let bufferSize = 64 * 1024
    private static let incrementalFsyncBytes = 4 * 1024 * 1024  // Redis's REDIS_AUTOSYNC_BYTES
    private static let sequence = Atomic<Int>(0)

    let path: String
    let tempPath: String
    let version: Int
    /// rdbcompression: LZF-compress strings longer than 20 bytes when that saves space.
    var compression = true
    /// rdbchecksum: when off, the trailer is 0 and readers skip the check.
    var checksum = true
    /// rdb-save-incremental-fsync: fdatasync every 4 MB so the final fsync is short.
    var incrementalFsync = true

    /// Bytes produced so far, buffered ones included.
    private(set) var bytesWritten = 0

    var fd: Int32  // internal for tests, which swap in a failing descriptor
    private let buffer: UnsafeMutablePointer<UInt8>
    private var buffered = 0
    private var crc: UInt64 = 0
    private var unsyncedBytes = 0
    private var finished = false
    private var compressor: LZFCompressor?
    private var scratch: UnsafeMutableRawBufferPointer?

    init(path: String, version: Int = 10) throws {
        precondition(version >= 1 && version <= RDB.maxVersion, "RDB version out of range")
        self.path = path
        self.version = version
        let id = "\(getpid())-\(Self.sequence.add(1, ordering: .relaxed).newValue)"
        let prefix = path.utf8.lastIndex(of: UInt8(ascii: "/")).map { String(path[...$0]) } ?? ""
        tempPath = prefix + "temp-\(id).rdb"
        fd = open(tempPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw RDBWriteError(operation: "open", path: tempPath, code: errno) }
        buffer = .allocate(capacity: Self.bufferSize)
    }

    /// A writer that keeps the dump in memory (`memoryOutput`) instead of a file.
    init(memoryWithVersion version: Int) {
        path = ""
        tempPath = ""
        self.version = version
        fd = -1
        memoryOutput = []
        incrementalFsync = false
        buffer = .allocate(capacity: Self.bufferSize)
    }
    /// The dump, for a writer made with init(memoryWithVersion:).
    private(set) var memoryOutput: [UInt8]?

    deinit {
        if !finished { abort() }
        buffer.deallocate()
        scratch?.deallocate()
    }

    static func directory(of path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "." }
        if slash == path.utf8.startIndex { return "/" }
        return String(path[..<slash])
    }

    // MARK: Records

    /// The magic "REDIS00NN" and the AUX fields, in order (Redis writes redis-ver,
    /// redis-bits, ctime, used-mem, aof-base).
    func writeHeader(aux: [(String, String)]) throws {
        var magic = Array("REDIS".utf8)
        let digits = Array(String(version).utf8)
        magic += [UInt8](repeating: UInt8(ascii: "0"), count: 4 - digits.count) + digits
        try append(magic)
        for (key, value) in aux {
            try append(RDB.opAux)
            try writeRawString(Array(key.utf8))
            try writeRawString(Array(value.utf8))
        }
    }

    /// SELECTDB then RESIZEDB with the database's key and expire counts.
    func selectDB(_ db: Int, keys: Int, expires: Int) throws {
        try append(RDB.opSelectDB)
        try writeLength(UInt64(db))
        try append(RDB.opResizeDB)
        try writeLength(UInt64(keys))
        try writeLength(UInt64(expires))
    }

    /// One string key: EXPIRETIME_MS first when `expireAtMs` is not 0, then type, key, value.
    func writeString(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, expireAtMs: Int64) throws {
        if expireAtMs != 0 {
            let p = try reserve(9)
            p[0] = RDB.opExpireTimeMs
            store(UInt64(bitPattern: expireAtMs), littleEndianBytes: 8, at: p + 1)
        }
        try append(RDB.typeString)
        try writeRawString(key)
        try writeRawString(value)
    }

    /// One object key: `encoding` is its value's RDB encoding as a snapshot copied it (plain
    /// strings, see RDBPlainSink). With compression on, the value is decoded and written
    /// again so its strings (a stream's listpacks) are LZF-compressed as Redis writes them.
    func writeObject(key: UnsafeRawBufferPointer, type: UInt8, encoding: UnsafeRawBufferPointer, expireAtMs: Int64) throws {
        if expireAtMs != 0 {
            let p = try reserve(9)
            p[0] = RDB.opExpireTimeMs
            store(UInt64(bitPattern: expireAtMs), littleEndianBytes: 8, at: p + 1)
        }
        if compression, ValueTypes.type(forRDB: type) != nil {
            // The decoded value's own type byte: decoding may change the encoding (a small
            // sorted set copied as a skiplist loads as a listpack, as Redis loads it).
            let value = try ValueTypes.decodeSnapshot(rdbType: type, encoding)
            try append(value.rdbType)
            try writeRawString(key)
            var sink = self
            try value.writeRDB(to: &sink)
        } else {
            try append(type)
            try writeRawString(key)
            try append(encoding)
        }
    }

    /// DUMP's payload (Redis's createDumpPayload): the value as RDB writes it (type byte,
    /// then its encoding), the RDB version (2 bytes) and a CRC-64 of everything before it
    /// (8 bytes), both little-endian. `string` for a string value, else `object`.
    static func dumpPayload(string: UnsafeRawBufferPointer?, object: (any ValueType)?, compression: Bool = true) -> [UInt8] {
        payload(compression: compression) { writer in
            if let string {
                try writer.append(RDB.typeString)
                try writer.writeRawString(string)
            } else if let object {
                try writer.append(object.rdbType)
                var sink = writer
                try object.writeRDB(to: &sink)
            }
        }
    }

    /// FUNCTION DUMP's payload (functionDumpCommand): each library's code as an RDB
    /// function2 record, then the RDB version and the CRC-64, as DUMP's.
    static func functionsPayload(_ codes: [[UInt8]], compression: Bool = true) -> [UInt8] {
        payload(compression: compression) { try $0.writeFunctions(codes) }
    }

    /// What `body` writes with a memory writer (RDB 10, no checksum of its own), followed by
    /// the version and the CRC-64 that DUMP's and FUNCTION DUMP's payloads end with.
    private static func payload(compression: Bool, _ body: (RDBWriter) throws -> Void) -> [UInt8] {
        let writer = RDBWriter(memoryWithVersion: 10)
        writer.compression = compression
        writer.checksum = false
        do {
            try body(writer)
            try writer.flush()
        } catch {
            preconditionFailure("a memory writer does not fail: \(error)")
        }
        writer.finished = true
        var payload = writer.memoryOutput ?? []
        payload.append(UInt8(writer.version & 0xFF))
        payload.append(UInt8(writer.version >> 8))
        var crc = CRC64.checksum(payload).littleEndian
        withUnsafeBytes(of: &crc) { payload.append(contentsOf: $0) }
        return payload
    }

    /// rdbSaveFunctions: one function2 opcode and the code per library.
    func writeFunctions(_ codes: [[UInt8]]) throws {
        for code in codes {
            try append(RDB.opFunction2)
            try writeRawString(code)
        }
    }

    /// EOF and the checksum, then flush, fsync, rename over the target and fsync the
    /// directory. On failure the temp file is removed and the target left as it was.
    func commit() throws {
        guard !finished else { throw RDBWriteError(operation: "write", path: tempPath, code: EBADF) }
        do {
            try append(RDB.opEOF)
            try flush()
            if version >= 5 {
                // The trailer is not part of its own checksum, so it bypasses the CRC fold.
                var trailer = (checksum ? crc : 0).littleEndian
                try withUnsafeBytes(of: &trailer) { try writeAll($0) }
                bytesWritten += 8
            }
            if memoryOutput != nil {
                finished = true
                return
            }
            guard fsync(fd) == 0 else { throw RDBWriteError(operation: "fsync", path: tempPath, code: errno) }
            let closed = close(fd)
            fd = -1
            guard closed == 0 else { throw RDBWriteError(operation: "close", path: tempPath, code: errno) }
            guard rename(tempPath, path) == 0 else { throw RDBWriteError(operation: "rename", path: path, code: errno) }
            finished = true
        } catch {
            abort()
            throw error
        }
        syncDirectory()
    }

    /// Drops the dump: closes and removes the temp file. Safe to call more than once.
    func abort() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        if !finished && memoryOutput == nil { unlink(tempPath) }
        finished = true
    }

    /// Makes the rename durable. A failure here is not reported: the data is written and
    /// renamed, only its survival of a power cut right now is in doubt.
    private func syncDirectory() {
        let dirfd = open(Self.directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirfd >= 0 else { return }
        fsync(dirfd)
        close(dirfd)
    }

    // MARK: Encoding (rdbSaveRawString, rdbSaveLen)

    private func writeRawString(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeRawString($0) }
    }

    private func writeRawString(_ s: UnsafeRawBufferPointer) throws {
        let len = s.count
        if len <= 11, let value = parseStrictInt(s), try writeInteger(Int64(value)) { return }
        // Under 20 bytes LZF can't compress even "aaaaaaaaaaaaaaaaaa".
        if compression && len > 20, try writeCompressed(s) { return }
        try writeLength(UInt64(len))
        try append(s)
    }

    /// rdbSaveLzfStringObject: worth it only when it saves at least four bytes.
    private func writeCompressed(_ s: UnsafeRawBufferPointer) throws -> Bool {
        let limit = s.count - 4
        if (scratch?.count ?? 0) < limit {
            scratch?.deallocate()
            scratch = .allocate(byteCount: max(limit, 4096), alignment: 8)
        }
        if compressor == nil { compressor = LZFCompressor() }
        let out = UnsafeMutableRawBufferPointer(rebasing: scratch![0..<limit])
        let n = compressor!.compress(s, into: out)
        guard n > 0 else { return false }
        try append(UInt8(0xC0) | UInt8(RDB.encLZF))
        try writeLength(UInt64(n))
        try writeLength(UInt64(s.count))
        try append(UnsafeRawBufferPointer(rebasing: out[0..<n]))
        return true
    }

    private func writeLength(_ len: UInt64) throws {
        if len < 1 << 6 {
            try reserve(1)[0] = UInt8(len)
        } else if len < 1 << 14 {
            let p = try reserve(2)
            p[0] = 0x40 | UInt8(len >> 8)
            p[1] = UInt8(len & 0xff)
        } else if len <= UInt64(UInt32.max) {
            let p = try reserve(5)
            p[0] = 0x80
            store(len, bigEndianBytes: 4, at: p + 1)
        } else {
            let p = try reserve(9)
            p[0] = 0x81
            store(len, bigEndianBytes: 8, at: p + 1)
        }
    }

    /// rdbEncodeInteger: INT8, INT16 or INT32 little-endian; false when out of 32-bit range.
    private func writeInteger(_ v: Int64) throws -> Bool {
        let size: Int
        let encoding: UInt64
        switch v {
        case -(1 << 7)...(1 << 7) - 1: (size, encoding) = (1, RDB.encInt8)
        case -(1 << 15)...(1 << 15) - 1: (size, encoding) = (2, RDB.encInt16)
        case -(1 << 31)...(1 << 31) - 1: (size, encoding) = (4, RDB.encInt32)
        default: return false
        }
        let p = try reserve(1 + size)
        p[0] = 0xC0 | UInt8(encoding)
        store(UInt64(bitPattern: v), littleEndianBytes: size, at: p + 1)
        return true
    }

    // MARK: Buffered output

    private func append(_ byte: UInt8) throws {
        try reserve(1)[0] = byte
    }

    private func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try append($0) }
    }

    private func append(_ bytes: UnsafeRawBufferPointer) throws {
        let n = bytes.count
        guard n > 0, let src = bytes.baseAddress else { return }
        if n > Self.bufferSize - buffered {
            try flush()
            if n >= Self.bufferSize {  // big value: straight from the caller's memory
                try emit(bytes)
                bytesWritten += n
                return
            }
        }
        (buffer + buffered).update(from: src.assumingMemoryBound(to: UInt8.self), count: n)
        buffered += n
        bytesWritten += n
    }

    /// Room for `n` (small) bytes in the buffer, counted as written; the caller fills them.
    @inline(__always) private func reserve(_ n: Int) throws -> UnsafeMutablePointer<UInt8> {
        if Self.bufferSize - buffered < n { try flush() }
        let p = buffer + buffered
        buffered += n
        bytesWritten += n
        return p
    }

    @inline(__always) private func store(_ v: UInt64, littleEndianBytes n: Int, at p: UnsafeMutablePointer<UInt8>) {
        for i in 0..<n { p[i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
    }

    @inline(__always) private func store(_ v: UInt64, bigEndianBytes n: Int, at p: UnsafeMutablePointer<UInt8>) {
        for i in 0..<n { p[i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(n - 1 - i))) }
    }

    private func flush() throws {
        guard buffered > 0 else { return }
        let chunk = UnsafeRawBufferPointer(start: buffer, count: buffered)
        buffered = 0
        try emit(chunk)
    }

    /// Checksums and writes bytes that are part of the dump's content.
    private func emit(_ bytes: UnsafeRawBufferPointer) throws {
        if checksum { crc = CRC64.update(crc, bytes) }
        try writeAll(bytes)
        unsyncedBytes += bytes.count
        if incrementalFsync && unsyncedBytes >= Self.incrementalFsyncBytes {
            unsyncedBytes = 0
            guard fdatasync(fd) == 0 else { throw RDBWriteError(operation: "fsync", path: tempPath, code: errno) }
        }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        if memoryOutput != nil {
            memoryOutput!.append(contentsOf: bytes)
            return
        }
        guard fd >= 0 else { throw RDBWriteError(operation: "write", path: tempPath, code: EBADF) }
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw RDBWriteError(operation: "write", path: tempPath, code: errno)
            }
            offset += n
        }
    }
}

/// The stream encoder writes its items straight into the dump.
extension RDBWriter: RDBItemSink {
    func rdbLength(_ n: UInt64) throws { try writeLength(n) }
    func rdbString(_ s: UnsafeRawBufferPointer) throws { try writeRawString(s) }
    func rdbRaw(_ bytes: UnsafeRawBufferPointer) throws { try append(bytes) }
}
