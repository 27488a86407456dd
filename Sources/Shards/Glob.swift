/// Redis's glob matching (util.c stringmatchlen): `*`, `?`, `[abc]`, `[^a-z]`, `\x` escapes,
/// with its quirks (ranges compare C's signed chars, an escaped class member ignores nocase).
public enum Glob {
    /// Redis answers "no match" past this many nested `*`: a pattern of thousands of stars
    /// would otherwise recurse until the thread's stack overflows.
    static let maxNesting = 1000

    public static func matches(_ pattern: UnsafeRawBufferPointer, _ string: UnsafeRawBufferPointer,
                               caseInsensitive: Bool = false) -> Bool {
        var skipLongerMatches = false
        return match(pattern, 0, string, 0, caseInsensitive, &skipLongerMatches, nesting: 0)
    }

    public static func matches(_ pattern: String, _ string: String, caseInsensitive: Bool = false) -> Bool {
        let p = Array(pattern.utf8), s = Array(string.utf8)
        return p.withUnsafeBytes { pb in s.withUnsafeBytes { sb in matches(pb, sb, caseInsensitive: caseInsensitive) } }
    }

    @inline(__always) static func lower(_ c: UInt8, _ fold: Bool) -> UInt8 {
        fold && c >= 65 && c <= 90 ? c + 32 : c
    }

    /// A byte as C's (signed) `char`, folded like `tolower` when `fold`.
    @inline(__always) static func signedChar(_ c: UInt8, _ fold: Bool) -> Int {
        let v = Int(Int8(bitPattern: c))
        return fold && v >= 65 && v <= 90 ? v + 32 : v
    }

    private static func match(_ p: UnsafeRawBufferPointer, _ pi0: Int, _ s: UnsafeRawBufferPointer, _ si0: Int,
                              _ fold: Bool, _ skipLongerMatches: inout Bool, nesting: Int) -> Bool {
        if nesting > maxNesting { return false }
        var pi = pi0, si = si0
        while pi < p.count && si < s.count {
            switch p[pi] {
            case UInt8(ascii: "*"):
                while pi + 1 < p.count && p[pi + 1] == UInt8(ascii: "*") { pi += 1 }
                if pi + 1 == p.count { return true }
                var k = si
                while k < s.count {
                    if match(p, pi + 1, s, k, fold, &skipLongerMatches, nesting: nesting + 1) { return true }
                    if skipLongerMatches { return false }
                    k += 1
                }
                // The rest of the pattern matches nowhere in the rest of the string, so earlier
                // stars taking longer matches cannot help: stop backtracking (Redis does the same).
                skipLongerMatches = true
                return false
            case UInt8(ascii: "?"):
                si += 1
            case UInt8(ascii: "["):
                pi += 1
                let negate = pi < p.count && p[pi] == UInt8(ascii: "^")
                if negate { pi += 1 }
                var matched = false
                let c = s[si]
                while true {
                    if pi + 1 < p.count && p[pi] == UInt8(ascii: "\\") {
                        pi += 1
                        if p[pi] == c { matched = true }  // exact even with nocase, as Redis
                    } else if pi < p.count && p[pi] == UInt8(ascii: "]") {
                        break
                    } else if pi >= p.count {
                        pi -= 1  // unterminated class: the pattern's end closes it
                        break
                    } else if pi + 2 < p.count && p[pi + 1] == UInt8(ascii: "-") {
                        // Redis swaps a reversed range before folding case.
                        var start = signedChar(p[pi], false), end = signedChar(p[pi + 2], false)
                        if start > end { swap(&start, &end) }
                        if fold { start = signedChar(UInt8(truncatingIfNeeded: start), true)
                                  end = signedChar(UInt8(truncatingIfNeeded: end), true) }
                        let ch = signedChar(c, fold)
                        pi += 2
                        if ch >= start && ch <= end { matched = true }
                    } else if lower(p[pi], fold) == lower(c, fold) {
                        matched = true
                    }
                    pi += 1
                }
                if negate { matched.toggle() }
                if !matched { return false }
                si += 1
            case UInt8(ascii: "\\"):
                if pi + 1 < p.count { pi += 1 }
                fallthrough
            default:
                if lower(p[pi], fold) != lower(s[si], fold) { return false }
                si += 1
            }
            pi += 1
            if si == s.count {
                while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
                break
            }
        }
        return pi == p.count && si == s.count
    }
}
