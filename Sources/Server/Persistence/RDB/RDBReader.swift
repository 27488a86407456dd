import Glibc
import Shards
import Values

/// A key's value as read from a dump: a string, a value of a registered type
/// (`ValueTypes`), or a type the server does not hold yet, skipped (its bytes parsed past,
/// not kept) and reported with its RDB type byte.
enum RDBValue: Equatable {
    case string([UInt8])
    case object(any ValueType)
    case unsupported(type: UInt8)

    /// Objects are equal when their types and RDB encodings are.
    static func == (a: RDBValue, b: RDBValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): return x == y
        case (.unsupported(let x), .unsupported(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.rdbType == y.rdbType && x.snapshotEncoding() == y.snapshotEncoding()
        default: return false
        }
    }
}

/// A loaded object belongs to whoever takes the record (one shard, at start-up).
extension RDBValue: @unchecked Sendable {}

struct RDBRecord: Equatable {
    var db: Int
    var key: [UInt8]
    var value: RDBValue
    /// Absolute expiry in Unix milliseconds; 0 = no TTL. An expiry stored as 0 or negative
    /// (long past) is reported as 1, so that it still reads as expired.
    var expireAtMs: Int64
}

/// The RDB format's constants (Redis 7.x rdb.h).
enum RDB {
    static let maxVersion = 11
    /// The version DUMP writes and the newest RESTORE accepts: Redis 7.0's RDB_VERSION.
    static let dumpVersion = 10

    // Opcodes.
    static let opFunctionPreGA: UInt8 = 0xF6
    static let opFunction2: UInt8 = 0xF5
    static let opModuleAux: UInt8 = 0xF7
    static let opIdle: UInt8 = 0xF8
    static let opFreq: UInt8 = 0xF9
    static let opAux: UInt8 = 0xFA
    static let opResizeDB: UInt8 = 0xFB
    static let opExpireTimeMs: UInt8 = 0xFC
    static let opExpireTime: UInt8 = 0xFD
    static let opSelectDB: UInt8 = 0xFE
    static let opEOF: UInt8 = 0xFF

    // Value types.
    static let typeString: UInt8 = 0
    static let typeList: UInt8 = 1
    static let typeSet: UInt8 = 2
    static let typeZSet: UInt8 = 3
    static let typeHash: UInt8 = 4
    static let typeZSet2: UInt8 = 5
    static let typeModulePreGA: UInt8 = 6
    static let typeModule2: UInt8 = 7
    static let typeHashZipmap: UInt8 = 9
    static let typeListZiplist: UInt8 = 10
    static let typeSetIntset: UInt8 = 11
    static let typeZSetZiplist: UInt8 = 12
    static let typeHashZiplist: UInt8 = 13
    static let typeListQuicklist: UInt8 = 14
    static let typeStreamListpacks: UInt8 = 15
    static let typeHashListpack: UInt8 = 16
    static let typeZSetListpack: UInt8 = 17
    static let typeListQuicklist2: UInt8 = 18
    static let typeStreamListpacks2: UInt8 = 19
    static let typeSetListpack: UInt8 = 20
    static let typeStreamListpacks3: UInt8 = 21

    // String encodings (after a 0b11 length prefix).
    static let encInt8: UInt64 = 0
    static let encInt16: UInt64 = 1
    static let encInt32: UInt64 = 2
    static let encLZF: UInt64 = 3

    // Module value opcodes (module.c).
    static let moduleOpEOF: UInt64 = 0
    static let moduleOpSInt: UInt64 = 1
    static let moduleOpUInt: UInt64 = 2
    static let moduleOpFloat: UInt64 = 3
    static let moduleOpDouble: UInt64 = 4
    static let moduleOpString: UInt64 = 5

    /// Value types this reader can read or skip; anything else stops the load.
    static func isReadable(type: UInt8) -> Bool {
        switch type {
        case 0...5, 7, 9...21: return true
        default: return false
        }
    }
}

/// Streams a dump: calls `body` per key (in file order) and returns the AUX fields seen.
/// Throws RDBError for a bad file (truncated, corrupt, wrong checksum, unsupported
/// content); errors thrown by `body` propagate unchanged.
enum RDBReader {
    /// `end` receives the offset just past the RDB (an old AOF's commands may follow it).
    static func load(path: String, verifyChecksum: Bool = true, functions: (([UInt8]) throws -> Void)? = nil,
                     end: ((Int) -> Void)? = nil,
                     body: (RDBRecord) throws -> Void) throws -> [String: String] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw RDBError(offset: 0, message: "Can't open \(path): \(errorText(code))", systemError: code)
        }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            let code = errno == 0 ? EISDIR : errno
            close(fd)
            throw RDBError(offset: 0, message: "Can't read \(path): not a regular file", systemError: code)
        }
        var parser = RDBParser(input: RDBInput(fd: fd, size: Int(st.st_size), checksumming: verifyChecksum),
                               verifyChecksum: verifyChecksum)
        let aux = try parser.run(functions: functions, body)
        end?(parser.input.offset)
        return aux
    }

    static func load(bytes: [UInt8], verifyChecksum: Bool = true, functions: (([UInt8]) throws -> Void)? = nil,
                     body: (RDBRecord) throws -> Void) throws -> [String: String] {
        var parser = RDBParser(input: RDBInput(bytes: bytes, checksumming: verifyChecksum),
                               verifyChecksum: verifyChecksum)
        return try parser.run(functions: functions, body)
    }

    /// The library codes of a FUNCTION DUMP payload already checked by dumpPayloadIsValid.
    static func functionPayload(_ payload: UnsafeRawBufferPointer) -> Result<[[UInt8]], ScriptError> {
        var parser = RDBParser(input: RDBInput(bytes: Array(payload), checksumming: false), verifyChecksum: false)
        parser.version = RDB.dumpVersion
        return parser.functionRecords(upTo: payload.count - 10)
    }
}

extension RDBReader {
    /// RESTORE's payload check (verifyDumpPayload): at least the 10-byte footer, an RDB
    /// version this server reads, and a matching CRC-64 unless `verifyChecksum` is off.
    static func dumpPayloadIsValid(_ payload: UnsafeRawBufferPointer, verifyChecksum: Bool = true) -> Bool {
        guard payload.count >= 10 else { return false }
        let footer = payload.count - 10
        let version = Int(payload[footer]) | Int(payload[footer + 1]) << 8
        guard version <= RDB.dumpVersion else { return false }
        guard verifyChecksum else { return true }
        var stored: UInt64 = 0
        for k in 0..<8 { stored |= UInt64(payload[footer + 2 + k]) << (8 * UInt64(k)) }
        return CRC64.update(0, UnsafeRawBufferPointer(rebasing: payload[..<(footer + 2)])) == stored
    }

    /// The value of a valid DUMP payload (rdbLoadObjectType + rdbLoadObject), validated as a
    /// dump's values are; nil for a malformed one, a type this server does not hold, or an
    /// empty collection (RESTORE's "Bad data format").
    static func dumpValue(_ payload: UnsafeRawBufferPointer) -> RDBValue? {
        var parser = RDBParser(input: RDBInput(bytes: Array(payload), checksumming: false), verifyChecksum: false)
        parser.version = RDB.dumpVersion
        guard let value = try? parser.dumpValue() else { return nil }
        if case .unsupported = value { return nil }
        return value
    }
}

/// The load loop of Redis's rdbLoadRioWithLoadingCtx, over an RDBInput.
private struct RDBParser: ~Copyable {
    var input: RDBInput
    let verifyChecksum: Bool
    var version = 0

    init(input: consuming RDBInput, verifyChecksum: Bool) {
        self.input = input
        self.verifyChecksum = verifyChecksum
    }

    /// `functions` receives each library's code (function opcodes); without it they are skipped.
    mutating func run(functions: (([UInt8]) throws -> Void)? = nil, _ body: (RDBRecord) throws -> Void) throws -> [String: String] {
        try readHeader()
        var aux: [String: String] = [:]
        var db = 0
        var expireAt: Int64?  // set by an expire opcode for the next key only
        while true {
            let at = input.offset
            let type = try input.byte()
            switch type {
            case RDB.opExpireTime:
                expireAt = Int64(Int32(truncatingIfNeeded: try input.littleEndian(4))) * 1000
            case RDB.opExpireTimeMs:
                expireAt = Int64(bitPattern: try input.littleEndian(8))
            case RDB.opFreq:
                _ = try input.byte()
            case RDB.opIdle:
                _ = try length()
            case RDB.opEOF:
                try readChecksum()
                return aux
            case RDB.opSelectDB:
                let index = try length()
                guard index <= UInt64(Int32.max) else {
                    throw RDBError(offset: at + 1, message: "Bad database number \(index)")
                }
                db = Int(index)
            case RDB.opResizeDB:
                _ = try length()
                _ = try length()
            case RDB.opAux:
                let key = try string()
                let value = try string()
                aux[String(decoding: key, as: UTF8.self)] = String(decoding: value, as: UTF8.self)
            case RDB.opModuleAux:
                try skipModuleAux(at: at)
            case RDB.opFunction2:
                let code = try string()
                try functions?(code)
            case RDB.opFunctionPreGA:
                let code = try preGAFunction()
                try functions?(code)
            default:
                guard RDB.isReadable(type: type) else {
                    throw RDBError(offset: at, message: "Unsupported value type \(type)")
                }
                let key = try string()
                let value = try readValue(type: type)
                // An empty collection is skipped, as Redis skips an empty key (RDB_LOAD_ERR_EMPTY_KEY).
                if case .object(let o) = value, o.isEmptyCollection { expireAt = nil; continue }
                try body(RDBRecord(db: db, key: key, value: value, expireAtMs: expireAt.map { max($0, 1) } ?? 0))
                expireAt = nil
            }
        }
    }

    // MARK: Framing

    private mutating func readHeader() throws {
        try input.need(9, at: 0)
        let magic = try input.bytes(9)
        guard magic[0..<5].elementsEqual("REDIS".utf8) else {
            throw RDBError(offset: 0, message: "Wrong signature trying to load DB from file")
        }
        var v = 0
        for digit in magic[5..<9] {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else {
                throw RDBError(offset: 5, message: "Wrong signature trying to load DB from file")
            }
            v = v * 10 + Int(digit - UInt8(ascii: "0"))
        }
        guard v >= 1, v <= RDB.maxVersion else {
            throw RDBError(offset: 5, message: "Can't handle RDB format version \(v)")
        }
        version = v
    }

    /// Since version 5 the EOF opcode is followed by the CRC-64 of everything before it;
    /// 0 means the writer had checksums disabled.
    private mutating func readChecksum() throws {
        guard version >= 5 else { return }
        let computed = input.checksum()
        let at = input.offset
        let stored = try input.littleEndian(8)
        if verifyChecksum && stored != 0 && stored != computed {
            throw RDBError(offset: at, message: "Wrong RDB checksum (file has \(hex(stored)), content gives \(hex(computed)))")
        }
    }

    // MARK: Lengths and strings

    /// A length, or (encoded == true) the special string encoding that follows.
    private mutating func lengthOrEncoding() throws -> (value: UInt64, encoded: Bool) {
        let at = input.offset
        let first = try input.byte()
        switch first >> 6 {
        case 0: return (UInt64(first & 0x3f), false)
        case 1: return (UInt64(first & 0x3f) << 8 | UInt64(try input.byte()), false)
        case 3: return (UInt64(first & 0x3f), true)
        default:
            if first == 0x80 { return (try input.bigEndian(4), false) }
            if first == 0x81 { return (try input.bigEndian(8), false) }
            throw RDBError(offset: at, message: "Unknown length encoding 0x\(String(first, radix: 16))")
        }
    }

    private mutating func length() throws -> UInt64 {
        let at = input.offset
        let (value, encoded) = try lengthOrEncoding()
        guard !encoded else { throw RDBError(offset: at, message: "Unexpected string encoding where a length belongs") }
        return value
    }

    /// A length used as a byte or element count; anything past the input is a truncation.
    private mutating func count() throws -> Int {
        let at = input.offset
        let value = try length()
        guard value <= UInt64(Int.max) else { throw RDBError(offset: at, message: "Unexpected end of file") }
        return Int(value)
    }

    private mutating func string() throws -> [UInt8] {
        let at = input.offset
        let (len, encoded) = try lengthOrEncoding()
        if encoded {
            switch len {
            case RDB.encInt8: return decimal(Int64(Int8(truncatingIfNeeded: try input.littleEndian(1))))
            case RDB.encInt16: return decimal(Int64(Int16(truncatingIfNeeded: try input.littleEndian(2))))
            case RDB.encInt32: return decimal(Int64(Int32(truncatingIfNeeded: try input.littleEndian(4))))
            case RDB.encLZF: return try lzfString(at: at)
            default: throw RDBError(offset: at, message: "Unknown RDB string encoding type \(len)")
            }
        }
        guard len <= UInt64(input.remaining) else { throw RDBError(offset: at, message: "Unexpected end of file") }
        return try input.bytes(Int(len))
    }

    private mutating func lzfString(at: Int) throws -> [UInt8] {
        let (compressed, size) = try lzfLengths(at: at)
        let bytes = try input.bytes(compressed)
        guard let out = LZF.decompress(bytes, count: size) else {
            throw RDBError(offset: at, message: "Invalid LZF compressed string")
        }
        return out
    }

    /// The compressed and original sizes of an LZF string, checked for plausibility.
    private mutating func lzfLengths(at: Int) throws -> (compressed: Int, size: Int) {
        let compressed = try length()
        let size = try length()
        guard compressed <= UInt64(input.remaining) else { throw RDBError(offset: at, message: "Unexpected end of file") }
        guard compressed > 0, size > 0, size <= compressed * UInt64(LZF.maxExpansion) else {
            throw RDBError(offset: at, message: "Invalid LZF compressed string")
        }
        return (Int(compressed), Int(size))
    }

    private mutating func skipString() throws {
        let at = input.offset
        let (len, encoded) = try lengthOrEncoding()
        if encoded {
            switch len {
            case RDB.encInt8: try input.skip(1)
            case RDB.encInt16: try input.skip(2)
            case RDB.encInt32: try input.skip(4)
            case RDB.encLZF: try input.skip(try lzfLengths(at: at).compressed)
            default: throw RDBError(offset: at, message: "Unknown RDB string encoding type \(len)")
            }
            return
        }
        guard len <= UInt64(input.remaining) else { throw RDBError(offset: at, message: "Unexpected end of file") }
        try input.skip(Int(len))
    }

    /// A DUMP payload's value: its type byte, then the value.
    mutating func dumpValue() throws -> RDBValue {
        let type = try input.byte()
        guard RDB.isReadable(type: type) else {
            throw RDBError(offset: 0, message: "Unknown RDB type \(type)")
        }
        return try readValue(type: type)
    }

    // MARK: Values

    private mutating func readValue(type: UInt8) throws -> RDBValue {
        if let valueType = ValueTypes.type(forRDB: type) {
            let value = try valueType.readRDB(type: type, from: &self)
            // Redis skips a key whose collection is empty (RDB_LOAD_ERR_EMPTY_KEY).
            return value.isEmptyCollection ? .unsupported(type: type) : .object(value)
        }
        switch type {
        case RDB.typeString:
            return .string(try string())
        case RDB.typeList, RDB.typeSet, RDB.typeListQuicklist:
            for _ in 0..<(try count()) { try skipString() }
        case RDB.typeZSet:
            for _ in 0..<(try count()) {
                try skipString()
                try skipDoubleString()
            }
        case RDB.typeHash:
            for _ in 0..<(try count()) {
                try skipString()
                try skipString()
            }
        case RDB.typeZSet2:
            for _ in 0..<(try count()) {
                try skipString()
                try input.skip(8)
            }
        case RDB.typeModule2:
            _ = try length()  // module id
            try skipModuleValue()
        case RDB.typeHashZipmap...RDB.typeHashZiplist, RDB.typeHashListpack, RDB.typeZSetListpack, RDB.typeSetListpack:
            try skipString()  // one serialized blob
        case RDB.typeListQuicklist2:
            for _ in 0..<(try count()) {
                let at = input.offset
                let container = try length()
                guard container == 1 || container == 2 else {
                    throw RDBError(offset: at, message: "Quicklist integrity check failed.")
                }
                try skipString()
            }
        default:
            preconditionFailure("readValue called for a type neither registered nor skippable")
        }
        return .unsupported(type: type)
    }

    /// rdbLoadDoubleValue: a length byte (253 NaN, 254 +inf, 255 -inf) then that many ASCII bytes.
    private mutating func skipDoubleString() throws {
        let len = try input.byte()
        if len < 253 { try input.skip(Int(len)) }
    }

    /// Module data saved in the self-describing v2 form: typed items up to an EOF opcode.
    private mutating func skipModuleValue() throws {
        while true {
            let at = input.offset
            switch try length() {
            case RDB.moduleOpEOF: return
            case RDB.moduleOpSInt, RDB.moduleOpUInt: _ = try lengthOrEncoding()
            case RDB.moduleOpFloat: try input.skip(4)
            case RDB.moduleOpDouble: try input.skip(8)
            case RDB.moduleOpString: try skipString()
            case let op: throw RDBError(offset: at, message: "Unknown module value opcode \(op)")
            }
        }
    }

    private mutating func skipModuleAux(at: Int) throws {
        _ = try length()  // module id
        let whenOpcode = try length()
        guard whenOpcode == RDB.moduleOpUInt else { throw RDBError(offset: at, message: "bad when_opcode") }
        _ = try length()  // when
        try skipModuleValue()
    }

    /// The library record of Redis 7.0 rc1/rc2: name, engine, optional description, code.
    /// A library as 7.0 rc1/rc2 saved it (name, engine, optional description, code), in the
    /// form function2 holds: "#!<engine> name=<name>\n<code>" (rdbFunctionLoad).
    private mutating func preGAFunction() throws -> [UInt8] {
        let name = try string()
        let engine = try string()
        if try length() != 0 { try skipString() }
        let blob = try string()
        return Self.preGACode(name: name, engine: engine, blob: blob)
    }

    static func preGACode(name: [UInt8], engine: [UInt8], blob: [UInt8]) -> [UInt8] {
        Array("#!".utf8) + engine + Array(" name=".utf8) + name + [UInt8(ascii: "\n")] + blob
    }

    /// FUNCTION RESTORE's records: function opcodes and their code up to the 10-byte footer.
    mutating func functionRecords(upTo end: Int) -> Result<[[UInt8]], ScriptError> {
        var codes: [[UInt8]] = []
        while input.offset < end {
            guard let type = try? input.byte() else { return .failure(.init("ERR can not read data type")) }
            guard type == RDB.opFunction2 || type == RDB.opFunctionPreGA else {
                return .failure(.init("ERR given type is not a function"))
            }
            if type == RDB.opFunction2 {
                guard let code = try? string() else { return .failure(.init("ERR Failed loading library payload")) }
                codes.append(code)
                continue
            }
            // rdbFunctionLoad's errors for 7.0 rc1/rc2's record, field by field.
            guard let name = try? string() else { return .failure(.init("ERR Failed loading library name")) }
            guard let engine = try? string() else { return .failure(.init("ERR Failed loading engine name")) }
            guard let hasDescription = try? length() else {
                return .failure(.init("ERR Failed loading library description indicator"))
            }
            if hasDescription != 0 {
                guard (try? skipString()) != nil else { return .failure(.init("ERR Failed loading library description")) }
            }
            guard let blob = try? string() else { return .failure(.init("ERR Failed loading library blob")) }
            codes.append(Self.preGACode(name: name, engine: engine, blob: blob))
        }
        return .success(codes)
    }
}

/// The stream decoder reads its items through the parser (LZF strings included).
extension RDBParser: RDBItemSource {
    mutating func rdbLength() throws -> UInt64 { try length() }
    mutating func rdbCount() throws -> Int {
        let at = input.offset
        let n = try count()
        guard n <= input.remaining else { throw RDBError(offset: at, message: "Unexpected end of file") }
        return n
    }
    mutating func rdbString() throws -> [UInt8] { try string() }
    mutating func rdbRaw(_ count: Int) throws -> [UInt8] { try input.bytes(count) }
    func rdbCorrupt(_ message: String) -> Error { RDBError(offset: input.offset, message: message) }
}

private func decimal(_ v: Int64) -> [UInt8] { Array(String(v).utf8) }

private func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
