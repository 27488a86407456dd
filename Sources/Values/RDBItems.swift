import RESP
#if canImport(Glibc)
import Glibc
#endif

// The items an RDB value is made of (Redis's rdbSaveLen / rdbSaveRawString / raw bytes),
// written to and read from abstract sinks and sources: the snapshot copy (plain bytes, built
// on the shard), the RDB writer (with compression) and the RDB reader (from a file) share
// each value type's one encoder and one decoder.

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
        if s.count <= 11, let n = parseStrictInt(s), n >= -(1 << 31), n < 1 << 31 {
            let v = Int64(n)
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
