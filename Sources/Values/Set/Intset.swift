/// Redis's intset (intset.c): a sorted array of distinct integers, all stored at one width
/// (2, 4 or 8 bytes, little-endian), behind an 8-byte header of encoding and length. The
/// bytes are exactly what an RDB type 11 record holds, so a dump is the array as is.
/// Adding a value too wide for the current width upgrades the whole array (never back).
public struct Intset: Sendable {
    /// encoding (u32 LE), length (u32 LE), then the values.
    public private(set) var bytes: [UInt8]

    public init() { bytes = [2, 0, 0, 0, 0, 0, 0, 0] }

    /// Adopts RDB bytes after `isValid` said yes.
    init(validated bytes: [UInt8]) { self.bytes = bytes }

    public var width: Int { Int(bytes[0]) | Int(bytes[1]) << 8 }
    public var count: Int { Int(bytes[4]) | Int(bytes[5]) << 8 | Int(bytes[6]) << 16 | Int(bytes[7]) << 24 }

    private mutating func setCount(_ n: Int) {
        bytes[4] = UInt8(truncatingIfNeeded: n); bytes[5] = UInt8(truncatingIfNeeded: n >> 8)
        bytes[6] = UInt8(truncatingIfNeeded: n >> 16); bytes[7] = UInt8(truncatingIfNeeded: n >> 24)
    }

    /// The smallest width holding `v` (_intsetValueEncoding).
    static func width(for v: Int64) -> Int {
        if v < Int64(Int32.min) || v > Int64(Int32.max) { return 8 }
        if v < Int64(Int16.min) || v > Int64(Int16.max) { return 4 }
        return 2
    }

    /// The value at `i` (at width `w`).
    @inline(__always) public func value(at i: Int) -> Int64 { Intset.read(bytes, at: i, width: width) }

    @inline(__always) static func read(_ b: [UInt8], at i: Int, width w: Int) -> Int64 {
        let o = 8 + i * w
        var u: UInt64 = 0
        for k in 0..<w { u |= UInt64(b[o + k]) << (8 * UInt64(k)) }
        switch w {
        case 2: return Int64(Int16(truncatingIfNeeded: u))
        case 4: return Int64(Int32(truncatingIfNeeded: u))
        default: return Int64(bitPattern: u)
        }
    }

    @inline(__always) private mutating func write(_ v: Int64, at i: Int) {
        let w = width, o = 8 + i * w
        let u = UInt64(bitPattern: v)
        for k in 0..<w { bytes[o + k] = UInt8(truncatingIfNeeded: u >> (8 * UInt64(k))) }
    }

    /// intsetSearch: (found, index where it is or would go).
    func search(_ v: Int64) -> (Bool, Int) {
        var lo = 0, hi = count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            let cur = value(at: mid)
            if cur == v { return (true, mid) }
            if cur < v { lo = mid + 1 } else { hi = mid - 1 }
        }
        return (false, lo)
    }

    public func contains(_ v: Int64) -> Bool {
        if Intset.width(for: v) > width { return false }
        return search(v).0
    }

    /// intsetAdd: true if `v` was not there.
    @discardableResult
    public mutating func add(_ v: Int64) -> Bool {
        let n = count
        if Intset.width(for: v) > width {
            // intsetUpgradeAndAdd: a value wider than all others is the smallest or largest.
            let old = bytes, oldWidth = width, newWidth = Intset.width(for: v)
            bytes = [UInt8](repeating: 0, count: 8 + (n + 1) * newWidth)
            bytes[0] = UInt8(newWidth)
            setCount(n + 1)
            let shift = v < 0 ? 1 : 0
            for i in 0..<n { write(Intset.read(old, at: i, width: oldWidth), at: i + shift) }
            write(v, at: v < 0 ? 0 : n)
            return true
        }
        let (found, pos) = search(v)
        if found { return false }
        let w = width
        bytes.insert(contentsOf: repeatElement(0, count: w), at: 8 + pos * w)
        setCount(n + 1)
        write(v, at: pos)
        return true
    }

    /// intsetRemove: true if `v` was there.
    @discardableResult
    public mutating func remove(_ v: Int64) -> Bool {
        guard Intset.width(for: v) <= width else { return false }
        let (found, pos) = search(v)
        guard found else { return false }
        let w = width
        bytes.removeSubrange((8 + pos * w)..<(8 + (pos + 1) * w))
        setCount(count - 1)
        return true
    }

    /// intsetValidateIntegrity(deep): a known width, a length matching the size, not empty,
    /// values strictly ascending.
    static func isValid(_ b: [UInt8]) -> Bool {
        guard b.count >= 8 else { return false }
        let enc = UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
        guard enc == 2 || enc == 4 || enc == 8 else { return false }
        let n = UInt64(b[4]) | UInt64(b[5]) << 8 | UInt64(b[6]) << 16 | UInt64(b[7]) << 24
        guard 8 + n * UInt64(enc) == UInt64(b.count), n > 0 else { return false }
        let w = Int(enc)
        var prev = read(b, at: 0, width: w)
        for i in 1..<Int(n) {
            let cur = read(b, at: i, width: w)
            if cur <= prev { return false }
            prev = cur
        }
        return true
    }
}
