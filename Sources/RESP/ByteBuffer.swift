#if canImport(Glibc)
import Glibc
#endif

/// A growable byte buffer with manual storage: no ARC, no copy-on-write, freed once.
/// Used for connection input/output and for the byte payloads that travel in ring batches.
public struct ByteBuffer: ~Copyable {
    public private(set) var base: UnsafeMutableRawPointer
    public private(set) var capacity: Int
    /// Bytes written so far: the readable region is `base ..< base + count`.
    public var count: Int

    public init(capacity: Int = 256) {
        self.capacity = max(capacity, 16)
        self.base = malloc(self.capacity)!
        self.count = 0
    }

    deinit { free(base) }

    @inlinable public var isEmpty: Bool { count == 0 }
    @inlinable public var freeSpace: Int { capacity - count }
    @inlinable public var readable: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
    @inlinable public var writePointer: UnsafeMutableRawPointer { base + count }

    /// Makes room for at least `extra` more bytes.
    @inlinable public mutating func reserve(_ extra: Int) {
        if capacity - count < extra { grow(count + extra) }
    }

    @usableFromInline mutating func grow(_ needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        base = realloc(base, newCapacity)!
        capacity = newCapacity
    }

    /// Shrinks an oversized, empty buffer back (after a big bulk has been consumed).
    /// Inlined: the hot paths call it on every reuse (an operation, a batch, a queue) and
    /// it almost never shrinks.
    @inlinable public mutating func shrinkIfEmpty(to target: Int) {
        if count == 0 && capacity > target * 4 { shrink(to: target) }
    }

    @usableFromInline mutating func shrink(to target: Int) {
        base = realloc(base, target)!
        capacity = target
    }

    @inlinable public mutating func clear() { count = 0 }

    /// Drops the first `n` bytes, moving the rest to the front.
    public mutating func discardFront(_ n: Int) {
        if n >= count { count = 0; return }
        memmove(base, base + n, count - n)
        count -= n
    }

    @inlinable public mutating func append(_ byte: UInt8) {
        reserve(1)
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    @inlinable public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        guard n > 0 else { return }
        reserve(n)
        (base + count).copyMemory(from: bytes.baseAddress!, byteCount: n)
        count += n
    }

    @inlinable public mutating func append(_ bytes: StaticString) {
        append(UnsafeRawBufferPointer(start: bytes.utf8Start, count: bytes.utf8CodeUnitCount))
    }

    @inlinable public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    public mutating func append(string: String) {
        var s = string
        s.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// Appends the decimal text of `value`.
    @inlinable public mutating func appendDecimal(_ value: Int) {
        reserve(20)
        count += writeDecimal(value, to: base + count)
    }

    /// Bytes as an array (tests and cold paths only).
    public var bytes: [UInt8] { Array(readable) }
}

/// Writes `value` in decimal at `out`; returns the number of bytes written (at most 20).
@inlinable public func writeDecimal(_ value: Int, to out: UnsafeMutableRawPointer) -> Int {
    if value >= 0 && value < 10 {
        out.storeBytes(of: UInt8(48 + value), as: UInt8.self)
        return 1
    }
    // The digits counted first, then written from the end in place: no scratch buffer and
    // no memcpy call (most lengths and counts in replies have two to five digits).
    var magnitude = value.magnitude
    var digits = 1
    var power: UInt = 10
    while magnitude >= power {
        digits += 1
        if digits == 20 { break }
        power &*= 10
    }
    let n = value < 0 ? digits + 1 : digits
    if value < 0 { out.storeBytes(of: UInt8(ascii: "-"), as: UInt8.self) }
    // Two digits a step from a table of "00" to "99": half the divisions (an INCR's counter
    // has six or seven digits).
    let pairs = decimalPairs.utf8Start
    var i = n
    while magnitude >= 100 {
        let pair = Int(magnitude % 100)
        magnitude /= 100
        i -= 2
        out.storeBytes(of: UnsafeRawPointer(pairs).loadUnaligned(fromByteOffset: 2 &* pair, as: UInt16.self),
                       toByteOffset: i, as: UInt16.self)
    }
    if magnitude >= 10 {
        out.storeBytes(of: UnsafeRawPointer(pairs).loadUnaligned(fromByteOffset: 2 &* Int(magnitude), as: UInt16.self),
                       toByteOffset: i - 2, as: UInt16.self)
    } else {
        out.storeBytes(of: UInt8(truncatingIfNeeded: 48 &+ magnitude), toByteOffset: i - 1, as: UInt8.self)
    }
    return n
}

@usableFromInline let decimalPairs: StaticString = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"
