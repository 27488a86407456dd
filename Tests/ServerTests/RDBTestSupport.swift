import Glibc
@testable import Server
import TestSupport
import Values

/// Builds hand-made dumps byte by byte, for the cases Redis itself won't write.
struct DumpBuilder {
    var bytes: [UInt8] = []

    init(version: Int) {
        bytes = Array("REDIS".utf8) + Array(String(format4(version)).utf8)
    }

    mutating func op(_ b: UInt8) { bytes.append(b) }
    mutating func raw(_ b: [UInt8]) { bytes += b }

    mutating func length(_ n: UInt64) {
        if n < 64 {
            bytes.append(UInt8(n))
        } else if n < 16384 {
            bytes += [0x40 | UInt8(n >> 8), UInt8(n & 0xff)]
        } else if n <= UInt64(UInt32.max) {
            bytes.append(0x80)
            bytes += (0..<4).reversed().map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) }
        } else {
            bytes.append(0x81)
            bytes += (0..<8).reversed().map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) }
        }
    }

    mutating func string(_ s: String) { string(Array(s.utf8)) }
    mutating func string(_ s: [UInt8]) {
        length(UInt64(s.count))
        bytes += s
    }

    mutating func int8(_ v: Int8) { bytes += [0xC0, UInt8(bitPattern: v)] }
    mutating func int16(_ v: Int16) {
        let u = UInt16(bitPattern: v)
        bytes += [0xC1, UInt8(u & 0xff), UInt8(u >> 8)]
    }
    mutating func int32(_ v: Int32) {
        let u = UInt32(bitPattern: v)
        bytes += [0xC2] + (0..<4).map { UInt8(truncatingIfNeeded: u >> (8 * UInt32($0))) }
    }
    mutating func lzf(_ compressed: [UInt8], size: Int) {
        bytes.append(0xC3)
        length(UInt64(compressed.count))
        length(UInt64(size))
        bytes += compressed
    }

    mutating func littleEndian(_ v: UInt64, _ n: Int) {
        bytes += (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) }
    }

    mutating func aux(_ k: String, _ v: String) {
        op(RDB.opAux)
        string(k)
        string(v)
    }

    mutating func setString(_ key: String, _ value: String) {
        op(RDB.typeString)
        string(key)
        string(value)
    }

    /// EOF and, from version 5 on, the CRC-64 (or 0 when `checksum` is false).
    func finished(checksum: Bool = true) -> [UInt8] {
        var out = bytes + [RDB.opEOF]
        if version >= 5 {
            let crc = checksum ? CRC64.checksum(out) : 0
            out += (0..<8).map { UInt8(truncatingIfNeeded: crc >> (8 * UInt64($0))) }
        }
        return out
    }

    var version: Int { Int(String(decoding: bytes[5..<9], as: UTF8.self))! }
}

private func format4(_ v: Int) -> String {
    let s = String(v)
    return String(repeating: "0", count: 4 - s.count) + s
}


func hexBytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = hex.utf8.makeIterator()
    while let hi = it.next(), let lo = it.next() {
        out.append(UInt8(String(decoding: [hi, lo], as: UTF8.self), radix: 16)!)
    }
    return out
}

/// Loads a dump fully, returning records and aux fields.
func loadAll(_ dump: [UInt8], verifyChecksum: Bool = true) throws -> (records: [RDBRecord], aux: [String: String]) {
    var records: [RDBRecord] = []
    let aux = try RDBReader.load(bytes: dump, verifyChecksum: verifyChecksum) { records.append($0) }
    return (records, aux)
}

func loadAll(path: String) throws -> (records: [RDBRecord], aux: [String: String]) {
    var records: [RDBRecord] = []
    let aux = try RDBReader.load(path: path) { records.append($0) }
    return (records, aux)
}

/// A fresh directory under /tmp, removed by `removeTree`.
func makeTempDir(_ tag: String) -> String {
    var template = Array("/tmp/rdbtest-\(tag)-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil, "mkdtemp failed")
    return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func removeTree(_ dir: String) {
    guard let d = opendir(dir) else { return }
    while let entry = readdir(d) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if name == "." || name == ".." { continue }
        unlink(dir + "/" + name)
    }
    closedir(d)
    rmdir(dir)
}

func readFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, 65536) }
        if n <= 0 { break }
        out += chunk[0..<n]
    }
    return out
}

func writeFile(_ path: String, _ data: [UInt8]) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    precondition(fd >= 0)
    _ = data.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
    close(fd)
}

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// A small dump written by redis-server 7.0.15 (SAVE): db 0 holds a list (RDB type 18),
/// strings of every encoding and one key with a TTL; db 1 a hash (type 16) and an int.
let redisDump = hexBytes(
    "524544495330303130fa0972656469732d76657206372e302e3135fa0a72656469732d62697473c040fa056374696d65c27e5a"
        + "086bfa08757365642d6d656dc2e0da0f00fa08616f662d62617365c000fe00fb080112046c69737401020d0d000000020081"
        + "7802817902ff00016ec1393000036e6567c2006cca880003747874c317290668656c6c6f2068e0080504776f726c64e00105"
        + "016c64fc7bd8c32cbb030000000374746c0176000362696e066100620d0a6300036269670b3132333435363738393031000161"
        + "c30936016161e02900016161fe01fb02001001680d0d0000000200816602817602ff00056f74686572c007ffaed8f73c89d9be74")

let redisDumpRecords: [RDBRecord] = [
    RDBRecord(db: 0, key: bytes("list"), value: .object(listOf(["x", "y"])), expireAtMs: 0),
    RDBRecord(db: 0, key: bytes("n"), value: .string(bytes("12345")), expireAtMs: 0),
    RDBRecord(db: 0, key: bytes("neg"), value: .string(bytes("-2000000000")), expireAtMs: 0),
    RDBRecord(db: 0, key: bytes("txt"), value: .string(bytes("hello hello hello hello world world world")), expireAtMs: 0),
    RDBRecord(db: 0, key: bytes("ttl"), value: .string(bytes("v")), expireAtMs: 4_102_444_800_123),
    RDBRecord(db: 0, key: bytes("bin"), value: .string([0x61, 0, 0x62, 0x0d, 0x0a, 0x63]), expireAtMs: 0),
    RDBRecord(db: 0, key: bytes("big"), value: .string(bytes("12345678901")), expireAtMs: 0),
    RDBRecord(db: 0, key: bytes("a"), value: .string(bytes(String(repeating: "a", count: 54))), expireAtMs: 0),
    RDBRecord(db: 1, key: bytes("h"), value: .object(hashOf([("f", "v")])), expireAtMs: 0),
    RDBRecord(db: 1, key: bytes("other"), value: .string(bytes("7")), expireAtMs: 0),
]

/// A hash of these pairs, built as HSET would (listpack while small).
func listOf(_ elements: [String]) -> ListValue {
    let l = ListValue()
    for e in elements { bytes(e).withUnsafeBytes { l.push($0, head: false) } }
    return l
}

/// The elements of a list, as text.
func elementsOf(_ l: ListValue) -> [String] {
    var out: [String] = []
    l.forEach(from: 0) { out.append(String(decoding: $0, as: UTF8.self)); return true }
    return out
}

func hashOf(_ pairs: [(String, String)]) -> Hash {
    let h = Hash()
    for (f, v) in pairs { bytes(f).withUnsafeBytes { fb in bytes(v).withUnsafeBytes { _ = h.set(fb, $0) } } }
    return h
}

/// A hash's pairs, for comparisons that do not depend on its encoding's order.
func pairsOf(_ h: Hash) -> [String: String] {
    var out: [String: String] = [:]
    h.forEach { f, v in out[String(decoding: f, as: UTF8.self)] = String(decoding: v, as: UTF8.self) }
    return out
}
