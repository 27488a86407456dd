import CShim
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// Redis's listpack (listpack.c), the byte format of a stream node: a 6-byte header
/// (total bytes u32 LE, element count u16 LE, 65535 = unknown), the elements, then 0xFF.
/// Each element is its encoding and data followed by its "backlen" (the encoded length,
/// written so it can be read right to left). Streams keep their nodes in this format so
/// that an RDB dump writes them as they are and a dump from Redis loads without conversion.
///
/// A listpack here is a malloc'd block; functions that grow it take it `inout` (realloc).
public enum Listpack {
    public static let headerSize = 6
    static let eof: UInt8 = 0xFF

    /// One element's value: an integer, or bytes inside the listpack.
    public enum Value {
        case integer(Int64)
        case bytes(UnsafeRawBufferPointer)
    }

    public static func new(capacity: Int = 64) -> UnsafeMutableRawPointer {
        let lp = malloc(max(capacity, headerSize + 1))!
        setTotalBytes(lp, headerSize + 1)
        setCount(lp, 0)
        lp.storeBytes(of: eof, toByteOffset: headerSize, as: UInt8.self)
        return lp
    }

    /// A copy of a listpack given as bytes (RDB load, deep copies); nil if it is malformed.
    public static func copy(of bytes: UnsafeRawBufferPointer) -> UnsafeMutableRawPointer? {
        guard bytes.count >= headerSize + 1, Int(bytes.loadUnaligned(as: UInt32.self)) == bytes.count,
              bytes[bytes.count - 1] == eof else { return nil }
        let lp = malloc(bytes.count)!
        lp.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        guard isWellFormed(lp) else { free(lp); return nil }
        return lp
    }

    @inline(__always) public static func totalBytes(_ lp: UnsafeRawPointer) -> Int {
        Int(lp.loadUnaligned(as: UInt32.self))
    }
    @inline(__always) static func setTotalBytes(_ lp: UnsafeMutableRawPointer, _ n: Int) {
        lp.storeBytes(of: UInt32(n).littleEndian, toByteOffset: 0, as: UInt32.self)
    }
    @inline(__always) static func setCount(_ lp: UnsafeMutableRawPointer, _ n: Int) {
        lp.storeBytes(of: UInt16(min(n, 65535)).littleEndian, toByteOffset: 4, as: UInt16.self)
    }
    static func storedCount(_ lp: UnsafeRawPointer) -> Int {
        Int(lp.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
    }

    public static func bytes(_ lp: UnsafeRawPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: lp, count: totalBytes(lp))
    }

    // MARK: Navigation (offsets from the start of the listpack)

    /// Offset of the first element, or nil if empty.
    @inline(__always) public static func first(_ lp: UnsafeRawPointer) -> Int? {
        lp.load(fromByteOffset: headerSize, as: UInt8.self) == eof ? nil : headerSize
    }

    /// Offset of the element after the one at `p`, or nil at the end.
    @inline(__always) public static func next(_ lp: UnsafeRawPointer, _ p: Int) -> Int? {
        let n = p + elementSize(lp + p)
        return lp.load(fromByteOffset: n, as: UInt8.self) == eof ? nil : n
    }

    /// Offset of the element before the one at `p` (the last one if `p` is the terminator), or nil.
    public static func prev(_ lp: UnsafeRawPointer, _ p: Int) -> Int? {
        guard p > headerSize else { return nil }
        var q = p - 1
        var value = 0, shift = 0
        while true {
            let b = Int(lp.load(fromByteOffset: q, as: UInt8.self))
            value |= (b & 127) << shift
            if b & 128 == 0 { break }
            shift += 7
            q -= 1
        }
        return p - value - backlenSize(value)
    }

    public static func last(_ lp: UnsafeRawPointer) -> Int? { prev(lp, totalBytes(lp) - 1) }

    /// Bytes of the encoding and data of the element at `e` (without its backlen).
    @inline(__always) static func encodedSize(_ e: UnsafeRawPointer) -> Int {
        let b = e.load(as: UInt8.self)
        if b & 0x80 == 0 { return 1 }
        if b & 0xC0 == 0x80 { return 1 + Int(b & 0x3F) }
        if b & 0xE0 == 0xC0 { return 2 }
        if b & 0xF0 == 0xE0 { return 2 + (Int(b & 0x0F) << 8 | Int(e.load(fromByteOffset: 1, as: UInt8.self))) }
        switch b {
        case 0xF1: return 3
        case 0xF2: return 4
        case 0xF3: return 5
        case 0xF4: return 9
        case 0xF0: return 5 + Int(UInt32(littleEndian: e.loadUnaligned(fromByteOffset: 1, as: UInt32.self)))
        default: return 1
        }
    }

    @inline(__always) static func backlenSize(_ l: Int) -> Int {
        l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5
    }

    @inline(__always) static func elementSize(_ e: UnsafeRawPointer) -> Int {
        let n = encodedSize(e)
        return n + backlenSize(n)
    }

    // MARK: Reading

    public static func get(_ lp: UnsafeRawPointer, _ p: Int) -> Value {
        let e = lp + p
        let b = e.load(as: UInt8.self)
        if b & 0x80 == 0 { return .integer(Int64(b)) }
        if b & 0xC0 == 0x80 { return .bytes(UnsafeRawBufferPointer(start: e + 1, count: Int(b & 0x3F))) }
        if b & 0xE0 == 0xC0 {
            let u = Int64(b & 0x1F) << 8 | Int64(e.load(fromByteOffset: 1, as: UInt8.self))
            return .integer(u >= 1 << 12 ? u - (1 << 13) : u)
        }
        if b & 0xF0 == 0xE0 {
            let n = Int(b & 0x0F) << 8 | Int(e.load(fromByteOffset: 1, as: UInt8.self))
            return .bytes(UnsafeRawBufferPointer(start: e + 2, count: n))
        }
        switch b {
        case 0xF1: return .integer(Int64(Int16(littleEndian: e.loadUnaligned(fromByteOffset: 1, as: Int16.self))))
        case 0xF2:
            let u = Int64(e.load(fromByteOffset: 1, as: UInt8.self)) | Int64(e.load(fromByteOffset: 2, as: UInt8.self)) << 8
                | Int64(e.load(fromByteOffset: 3, as: UInt8.self)) << 16
            return .integer(u >= 1 << 23 ? u - (1 << 24) : u)
        case 0xF3: return .integer(Int64(Int32(littleEndian: e.loadUnaligned(fromByteOffset: 1, as: Int32.self))))
        case 0xF4: return .integer(Int64(littleEndian: e.loadUnaligned(fromByteOffset: 1, as: Int64.self)))
        default:
            let n = Int(UInt32(littleEndian: e.loadUnaligned(fromByteOffset: 1, as: UInt32.self)))
            return .bytes(UnsafeRawBufferPointer(start: e + 5, count: n))
        }
    }

    /// The element as an integer (stream metadata is always integer-encoded; a string
    /// holding a number is converted as Redis's lpGetInteger does).
    @inline(__always) public static func integer(_ lp: UnsafeRawPointer, _ p: Int) -> Int64 {
        switch get(lp, p) {
        case .integer(let v): return v
        case .bytes(let b): return parseStrictInt(b).map { Int64($0) } ?? 0
        }
    }

    /// Calls `body` with the element's bytes (integers as their decimal text).
    @inline(__always)
    public static func withBytes<R>(_ lp: UnsafeRawPointer, _ p: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch get(lp, p) {
        case .bytes(let b): return try body(b)
        case .integer(let v):
            var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)
            return try withUnsafeMutableBytes(of: &scratch) { tmp in
                let n = writeDecimal(Int(v), to: tmp.baseAddress!)
                return try body(UnsafeRawBufferPointer(rebasing: tmp[0..<n]))
            }
        }
    }

    // MARK: Writing

    /// Encodes `value` as Redis's lpAppend would (integer if it reads as one) into `buf`.
    static func encode(string value: UnsafeRawBufferPointer, into buf: inout [UInt8]) {
        if value.count <= 20, let v = parseStrictInt(value) { encode(integer: Int64(v), into: &buf); return }
        let n = value.count
        let start = buf.count
        if n < 64 {
            buf.append(0x80 | UInt8(n))
        } else if n < 4096 {
            buf.append(0xE0 | UInt8(n >> 8)); buf.append(UInt8(n & 0xFF))
        } else {
            buf.append(0xF0)
            for i in 0..<4 { buf.append(UInt8(truncatingIfNeeded: n >> (8 * i))) }
        }
        buf.append(contentsOf: value)
        appendBacklen(buf.count - start, into: &buf)
    }

    static func encode(integer v: Int64, into buf: inout [UInt8]) {
        let start = buf.count
        if v >= 0 && v <= 127 {
            buf.append(UInt8(v))
        } else if v >= -4096 && v <= 4095 {
            let u = v < 0 ? UInt64((1 << 13) + v) : UInt64(v)
            buf.append(0xC0 | UInt8(u >> 8)); buf.append(UInt8(u & 0xFF))
        } else {
            let (tag, width): (UInt8, Int) =
                v >= -32768 && v <= 32767 ? (0xF1, 2) :
                v >= -8388608 && v <= 8388607 ? (0xF2, 3) :
                v >= Int64(Int32.min) && v <= Int64(Int32.max) ? (0xF3, 4) : (0xF4, 8)
            buf.append(tag)
            let u = UInt64(bitPattern: v)
            for i in 0..<width { buf.append(UInt8(truncatingIfNeeded: u >> (8 * UInt64(i)))) }
        }
        appendBacklen(buf.count - start, into: &buf)
    }

    static func appendBacklen(_ l: Int, into buf: inout [UInt8]) {
        switch backlenSize(l) {
        case 1: buf.append(UInt8(l))
        case 2: buf += [UInt8(l >> 7), UInt8(l & 127) | 128]
        case 3: buf += [UInt8(l >> 14), UInt8((l >> 7) & 127) | 128, UInt8(l & 127) | 128]
        case 4: buf += [UInt8(l >> 21), UInt8((l >> 14) & 127) | 128, UInt8((l >> 7) & 127) | 128, UInt8(l & 127) | 128]
        default:
            buf += [UInt8(l >> 28), UInt8((l >> 21) & 127) | 128, UInt8((l >> 14) & 127) | 128,
                    UInt8((l >> 7) & 127) | 128, UInt8(l & 127) | 128]
        }
    }

    /// Appends already encoded elements (`count` of them) at the end.
    public static func append(_ lp: inout UnsafeMutableRawPointer, encoded: [UInt8], count: Int) {
        let total = totalBytes(lp)
        let newTotal = total + encoded.count
        if vk_malloc_usable_size(lp) < newTotal {
            // Grow by a quarter beyond need so appends do not realloc every time.
            lp = realloc(lp, newTotal + newTotal / 4)!
        }
        encoded.withUnsafeBytes { (lp + total - 1).copyMemory(from: $0.baseAddress!, byteCount: encoded.count) }
        lp.storeBytes(of: eof, toByteOffset: newTotal - 1, as: UInt8.self)
        setTotalBytes(lp, newTotal)
        let c = storedCount(lp)
        if c != 65535 { setCount(lp, c + count) }
    }

    /// Inserts already encoded elements (`count` of them) before the element at offset `p`
    /// (the terminator's offset appends); the listpack may move.
    public static func insert(_ lp: inout UnsafeMutableRawPointer, encoded: [UInt8], count: Int, at p: Int) {
        let total = totalBytes(lp)
        let newTotal = total + encoded.count
        if vk_malloc_usable_size(lp) < newTotal { lp = realloc(lp, newTotal + newTotal / 8)! }
        memmove(lp + p + encoded.count, lp + p, total - p)
        encoded.withUnsafeBytes { (lp + p).copyMemory(from: $0.baseAddress!, byteCount: encoded.count) }
        setTotalBytes(lp, newTotal)
        let c = storedCount(lp)
        if c != 65535 { setCount(lp, c + count) }
    }

    /// Removes the elements in bytes `from..<to` (`count` of them).
    public static func delete(_ lp: inout UnsafeMutableRawPointer, from: Int, to: Int, count: Int) {
        let total = totalBytes(lp)
        memmove(lp + from, lp + to, total - to)
        setTotalBytes(lp, total - (to - from))
        let c = storedCount(lp)
        if c != 65535 { setCount(lp, c - count) }
    }

    /// The offset just past the element at `p` (the next element's or the terminator's).
    @inline(__always) public static func end(_ lp: UnsafeRawPointer, _ p: Int) -> Int { p + elementSize(lp + p) }

    /// Replaces the integer element at `p` (the listpack may move and the tail shift).
    public static func replaceInteger(_ lp: inout UnsafeMutableRawPointer, at p: Int, with v: Int64) {
        var enc: [UInt8] = []
        encode(integer: v, into: &enc)
        let old = elementSize(lp + p)
        let total = totalBytes(lp)
        let newTotal = total - old + enc.count
        if enc.count > old && vk_malloc_usable_size(lp) < newTotal { lp = realloc(lp, newTotal)! }
        if enc.count != old { memmove(lp + p + enc.count, lp + p + old, total - p - old) }
        enc.withUnsafeBytes { (lp + p).copyMemory(from: $0.baseAddress!, byteCount: enc.count) }
        setTotalBytes(lp, newTotal)
    }

    /// Gives back the slack left by growth (snapshot copies, RDB loads keep exact sizes).
    public static func shrinkToFit(_ lp: inout UnsafeMutableRawPointer) {
        let n = totalBytes(lp)
        if vk_malloc_usable_size(lp) > n + 64 { lp = realloc(lp, n)! }
    }

    /// Redis's lpValidateIntegrity (deep): every element's encoding known, its data and
    /// backlen inside the block, the backlen the one its size gives, the elements filling the
    /// block exactly and matching the header's count (unless that says 65535, unknown).
    static func isWellFormed(_ lp: UnsafeRawPointer) -> Bool {
        let total = totalBytes(lp)
        var p = headerSize
        var n = 0
        while p < total - 1 {
            guard let end = validatedElementEnd(lp, at: p, total: total) else { return false }
            p = end
            n += 1
        }
        let stored = storedCount(lp)
        return p == total - 1 && (stored == 65535 || stored == n)
    }

    /// The end of the element at `at` (its backlen included) in a block of `total` bytes
    /// whose contents are not trusted yet (lpValidateNext), or nil if it is malformed.
    static func validatedElementEnd(_ lp: UnsafeRawPointer, at: Int, total: Int) -> Int? {
        guard at < total - 1 else { return nil }
        let b = lp.load(fromByteOffset: at, as: UInt8.self)
        let available = total - 1 - at
        let encoded: Int
        if b & 0x80 == 0 {
            encoded = 1
        } else if b & 0xC0 == 0x80 {
            encoded = 1 + Int(b & 0x3F)
        } else if b & 0xE0 == 0xC0 {
            encoded = 2
        } else if b & 0xF0 == 0xE0 {
            guard available >= 2 else { return nil }
            encoded = 2 + (Int(b & 0x0F) << 8 | Int(lp.load(fromByteOffset: at + 1, as: UInt8.self)))
        } else {
            switch b {
            case 0xF1: encoded = 3
            case 0xF2: encoded = 4
            case 0xF3: encoded = 5
            case 0xF4: encoded = 9
            case 0xF0:
                guard available >= 5 else { return nil }
                encoded = 5 + Int(UInt32(littleEndian: lp.loadUnaligned(fromByteOffset: at + 1, as: UInt32.self)))
            default: return nil
            }
        }
        let backlen = backlenSize(encoded)
        guard encoded + backlen <= available else { return nil }
        var expected: [UInt8] = []
        appendBacklen(encoded, into: &expected)
        for (i, byte) in expected.enumerated() where lp.load(fromByteOffset: at + encoded + i, as: UInt8.self) != byte {
            return nil
        }
        return at + encoded + backlen
    }
}

// MARK: Editing in place (hashes)

extension Listpack {
    /// Replaces the element at `p` by `value` encoded as lpAppend would encode it (the
    /// listpack may move; the elements after it shift).
    public static func replace(_ lp: inout UnsafeMutableRawPointer, at p: Int, withString value: UnsafeRawBufferPointer) {
        var enc: [UInt8] = []
        encode(string: value, into: &enc)
        splice(&lp, at: p, removing: elementSize(lp + p), inserting: enc)
    }

    /// Removes `elements` elements starting at `p`.
    public static func delete(_ lp: inout UnsafeMutableRawPointer, at p: Int, elements: Int) {
        var end = p
        for _ in 0..<elements { end += elementSize(lp + end) }
        splice(&lp, at: p, removing: end - p, inserting: [])
        let c = storedCount(lp)
        if c != 65535 { setCount(lp, c - elements) } else { setCount(lp, countElements(lp)) }
    }

    /// Replaces `removing` bytes at `p` by the bytes `inserting` (whole elements).
    static func splice(_ lp: inout UnsafeMutableRawPointer, at p: Int, removing: Int, inserting: [UInt8]) {
        let total = totalBytes(lp)
        let newTotal = total - removing + inserting.count
        if inserting.count > removing && vk_malloc_usable_size(lp) < newTotal { lp = realloc(lp, newTotal + newTotal / 4)! }
        if inserting.count != removing { memmove(lp + p + inserting.count, lp + p + removing, total - p - removing) }
        if !inserting.isEmpty { inserting.withUnsafeBytes { (lp + p).copyMemory(from: $0.baseAddress!, byteCount: inserting.count) } }
        setTotalBytes(lp, newTotal)
    }

    /// The number of elements, counted by walking (the header says 65535 when it does not know).
    public static func countElements(_ lp: UnsafeRawPointer) -> Int {
        let stored = storedCount(lp)
        if stored != 65535 { return stored }
        var n = 0
        var p = first(lp)
        while let at = p { n += 1; p = next(lp, at) }
        return n
    }

    /// True if the element at `p` reads as the bytes `s` (integers compared as their text).
    @inline(__always)
    public static func equals(_ lp: UnsafeRawPointer, _ p: Int, _ s: UnsafeRawBufferPointer) -> Bool {
        switch get(lp, p) {
        case .bytes(let b):
            return b.count == s.count && (s.count == 0 || memcmp(b.baseAddress!, s.baseAddress!, s.count) == 0)
        case .integer(let v):
            guard s.count <= 20, let n = parseStrictInt(s) else { return false }
            return Int64(n) == v
        }
    }

    /// The length of the element's text (an integer's decimal digits).
    public static func textLength(_ lp: UnsafeRawPointer, _ p: Int) -> Int {
        switch get(lp, p) {
        case .bytes(let b): return b.count
        case .integer: return withBytes(lp, p) { $0.count }
        }
    }
}
