#if canImport(Glibc)
import Glibc
#endif
import RESP

/// Sorted-set scores as Redis 7.0 parses and prints them (util.c, object.c, t_zset.c).
public enum ZScore {
    /// The text Redis 7.0 gives a score: "%.17g" (addReplyDouble, d2string, the digest),
    /// "inf"/"-inf" for infinities; integers print without a decimal point ("1", "-0").
    public static func withText<R>(_ d: Double, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        var scratch: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &scratch) { tmp in
            let base = tmp.baseAddress!.assumingMemoryBound(to: CChar.self)
            let n: Int
            // The common case, a small integer, without snprintf (same text as %.17g).
            if d.magnitude < 4503599627370496, d == d.rounded(.towardZero), d != 0 || d.sign == .plus {
                n = writeDecimal(Int(d), to: tmp.baseAddress!)
            } else if d.isInfinite {
                n = d < 0 ? copyText("-inf", base) : copyText("inf", base)
            } else {
                n = Int(withVaList([d]) { vsnprintf(base, 48, "%.17g", $0) })
            }
            return body(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(tmp)[0..<n]))
        }
    }

    public static func text(_ d: Double) -> String {
        withText(d) { String(decoding: $0, as: UTF8.self) }
    }

    public static func bytes(_ d: Double) -> [UInt8] { withText(d) { Array($0) } }

    private static func copyText(_ s: StaticString, _ to: UnsafeMutablePointer<CChar>) -> Int {
        let n = s.utf8CodeUnitCount
        UnsafeMutableRawPointer(to).copyMemory(from: s.utf8Start, byteCount: n)
        return n
    }

    /// Runs strtod over `bytes` as a C string (copied, NUL-terminated): the value, how many
    /// bytes it consumed and whether it overflowed or underflowed (ERANGE).
    static func strtodC(_ bytes: UnsafeRawBufferPointer) -> (value: Double, consumed: Int, rangeError: Bool) {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: bytes.count + 1) { p in
            let base = p.baseAddress!
            if bytes.count > 0 { UnsafeMutableRawPointer(base).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
            base[bytes.count] = 0
            var end: UnsafeMutablePointer<CChar>?
            errno = 0
            let v = strtod(base, &end)
            let consumed = end.map { UnsafePointer($0) - UnsafePointer(base) } ?? 0
            return (v, consumed, errno == ERANGE)
        }
    }

    /// getDoubleFromObject (ZADD scores, ZINCRBY's increment): the whole string a number,
    /// no leading space, no overflow to infinity or underflow to zero, not NaN.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Double? {
        guard bytes.count > 0, bytes.count < 5000, !isSpace(bytes[0]) else { return nil }
        if let v = smallInteger(bytes) { return v }
        let (v, consumed, rangeError) = strtodC(bytes)
        guard consumed == bytes.count, !v.isNaN else { return nil }
        if rangeError && (v.isInfinite || v == 0) { return nil }
        return v
    }

    /// An optional sign and 1 to 15 digits, the common score, without strtod (~500
    /// instructions with the copy it needs): below 2^53 the integer is exactly the double
    /// strtod returns, "-0" included (-0.0). nil for anything else.
    @inline(__always)
    static func smallInteger(_ b: UnsafeRawBufferPointer) -> Double? {
        var i = 0
        let negative = b[0] == UInt8(ascii: "-")
        if negative || b[0] == UInt8(ascii: "+") { i = 1 }
        let digits = b.count - i
        guard digits > 0, digits <= 15 else { return nil }
        var v = 0
        while i < b.count {
            let d = b[i] &- UInt8(ascii: "0")
            guard d <= 9 else { return nil }
            v = v &* 10 &+ Int(d)
            i += 1
        }
        return negative ? -Double(v) : Double(v)
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 32 || (b >= 9 && b <= 13) }

    /// One end of zslParseRange: strtod up to the C string's end (so "" is 0 and a leading
    /// space is allowed, as in Redis), NaN refused; `(` makes it exclusive.
    static func parseRangeItem(_ bytes: UnsafeRawBufferPointer) -> (value: Double, exclusive: Bool)? {
        let exclusive = bytes.count > 0 && bytes[0] == UInt8(ascii: "(")
        let rest = exclusive ? UnsafeRawBufferPointer(rebasing: bytes[1...]) : bytes
        let cEnd = rest.firstIndex(of: 0) ?? rest.count  // Redis reads a C string
        let (v, consumed, _) = strtodC(UnsafeRawBufferPointer(rebasing: rest[0..<cEnd]))
        guard consumed == cEnd, !v.isNaN else { return nil }
        return (v, exclusive)
    }
}

/// A score interval (zrangespec): `(` makes an end exclusive.
public struct ScoreRange: Sendable {
    public var min: Double
    public var max: Double
    public var minExclusive: Bool
    public var maxExclusive: Bool

    public init(min: Double, max: Double, minExclusive: Bool = false, maxExclusive: Bool = false) {
        self.min = min; self.max = max; self.minExclusive = minExclusive; self.maxExclusive = maxExclusive
    }

    /// zslParseRange; nil is "ERR min or max is not a float".
    public init?(min: UnsafeRawBufferPointer, max: UnsafeRawBufferPointer) {
        guard let lo = ZScore.parseRangeItem(min), let hi = ZScore.parseRangeItem(max) else { return nil }
        self.init(min: lo.value, max: hi.value, minExclusive: lo.exclusive, maxExclusive: hi.exclusive)
    }

    @inline(__always) public func aboveMin(_ v: Double) -> Bool { minExclusive ? v > min : v >= min }
    @inline(__always) public func belowMax(_ v: Double) -> Bool { maxExclusive ? v < max : v <= max }
    /// zslIsInRange's test for a range nothing can be in.
    public var isEmpty: Bool { min > max || (min == max && (minExclusive || maxExclusive)) }
}

/// A member interval (zlexrangespec): `-` and `+` are below and above every string,
/// `[` includes the bound, `(` excludes it.
public struct LexRange: Sendable {
    public enum Bound: Sendable, Equatable {
        case minusInfinity, plusInfinity
        case member([UInt8])
    }
    public var min: Bound
    public var max: Bound
    public var minExclusive: Bool
    public var maxExclusive: Bool

    public init(min: Bound, max: Bound, minExclusive: Bool, maxExclusive: Bool) {
        self.min = min; self.max = max; self.minExclusive = minExclusive; self.maxExclusive = maxExclusive
    }

    /// zslParseLexRange; nil is "ERR min or max not valid string range item".
    public init?(min: UnsafeRawBufferPointer, max: UnsafeRawBufferPointer) {
        guard let lo = LexRange.parseItem(min), let hi = LexRange.parseItem(max) else { return nil }
        self.init(min: lo.bound, max: hi.bound, minExclusive: lo.exclusive, maxExclusive: hi.exclusive)
    }

    /// zslParseLexRangeItem: `+`, `-` alone, or `(`/`[` then the member.
    static func parseItem(_ b: UnsafeRawBufferPointer) -> (bound: Bound, exclusive: Bool)? {
        guard b.count > 0 else { return nil }
        switch b[0] {
        case UInt8(ascii: "+"): return b.count == 1 ? (.plusInfinity, true) : nil
        case UInt8(ascii: "-"): return b.count == 1 ? (.minusInfinity, true) : nil
        case UInt8(ascii: "("): return (.member(Array(b[1...])), true)
        case UInt8(ascii: "["): return (.member(Array(b[1...])), false)
        default: return nil
        }
    }

    /// sdscmplex: the sentinels below and above everything, members by memcmp then length.
    static func compare(_ a: Bound, _ b: Bound) -> Int {
        switch (a, b) {
        case (.minusInfinity, .minusInfinity), (.plusInfinity, .plusInfinity): return 0
        case (.minusInfinity, _), (_, .plusInfinity): return -1
        case (.plusInfinity, _), (_, .minusInfinity): return 1
        case (.member(let x), .member(let y)):
            return x.withUnsafeBytes { xb in y.withUnsafeBytes { yb in compareBytes(xb, yb) } }
        }
    }

    static func compare(_ m: UnsafeRawBufferPointer, _ b: Bound) -> Int {
        switch b {
        case .minusInfinity: return 1
        case .plusInfinity: return -1
        case .member(let y): return y.withUnsafeBytes { compareBytes(m, $0) }
        }
    }

    public func aboveMin(_ m: UnsafeRawBufferPointer) -> Bool {
        let c = LexRange.compare(m, min)
        return minExclusive ? c > 0 : c >= 0
    }
    public func belowMax(_ m: UnsafeRawBufferPointer) -> Bool {
        let c = LexRange.compare(m, max)
        return maxExclusive ? c < 0 : c <= 0
    }
    /// zslIsInLexRange's test for a range nothing can be in.
    public var isEmpty: Bool {
        let c = LexRange.compare(min, max)
        return c > 0 || (c == 0 && (minExclusive || maxExclusive))
    }
}

/// memcmp over the common length, then the shorter first (sdscmp).
@inline(__always)
public func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let n = Swift.min(a.count, b.count)
    if n > 0 {
        let c = memcmp(a.baseAddress!, b.baseAddress!, n)
        if c != 0 { return Int(c) }
    }
    return a.count - b.count
}
