/// Redis's glob matching (stringmatchlen): `*`, `?`, `[abc]`, `[^a-z]`, `\x` escapes.
public enum Glob {
    public static func matches(_ pattern: UnsafeRawBufferPointer, _ string: UnsafeRawBufferPointer,
                               caseInsensitive: Bool = false) -> Bool {
        var budget = 1_000_000  // bounds pathological patterns, as Redis bounds nesting
        return match(pattern, 0, string, 0, caseInsensitive, &budget)
    }

    public static func matches(_ pattern: String, _ string: String, caseInsensitive: Bool = false) -> Bool {
        let p = Array(pattern.utf8), s = Array(string.utf8)
        return p.withUnsafeBytes { pb in s.withUnsafeBytes { sb in matches(pb, sb, caseInsensitive: caseInsensitive) } }
    }

    @inline(__always) static func lower(_ c: UInt8, _ fold: Bool) -> UInt8 {
        fold && c >= 65 && c <= 90 ? c + 32 : c
    }

    private static func match(_ p: UnsafeRawBufferPointer, _ pi0: Int, _ s: UnsafeRawBufferPointer, _ si0: Int,
                              _ fold: Bool, _ budget: inout Int) -> Bool {
        var pi = pi0, si = si0
        budget -= 1
        if budget < 0 { return false }
        while pi < p.count && si < s.count {
            switch p[pi] {
            case UInt8(ascii: "*"):
                while pi + 1 < p.count && p[pi + 1] == UInt8(ascii: "*") { pi += 1 }
                if pi + 1 == p.count { return true }
                var k = si
                while k < s.count {
                    if match(p, pi + 1, s, k, fold, &budget) { return true }
                    if budget < 0 { return false }
                    k += 1
                }
                return false
            case UInt8(ascii: "?"):
                if si >= s.count { return false }
                si += 1
            case UInt8(ascii: "["):
                if si >= s.count { return false }
                pi += 1
                let negate = pi < p.count && p[pi] == UInt8(ascii: "^")
                if negate { pi += 1 }
                var matched = false
                let c = lower(s[si], fold)
                while pi < p.count {
                    if p[pi] == UInt8(ascii: "\\") && pi + 1 < p.count {
                        pi += 1
                        if lower(p[pi], fold) == c { matched = true }
                    } else if p[pi] == UInt8(ascii: "]") {
                        break
                    } else if pi + 2 < p.count && p[pi + 1] == UInt8(ascii: "-") {
                        var start = lower(p[pi], fold), end = lower(p[pi + 2], fold)
                        if start > end { swap(&start, &end) }
                        pi += 2
                        if c >= start && c <= end { matched = true }
                    } else if lower(p[pi], fold) == c {
                        matched = true
                    }
                    pi += 1
                }
                if pi >= p.count { pi = p.count - 1 }  // unterminated class: Redis treats end as ']'
                if negate { matched.toggle() }
                if !matched { return false }
                si += 1
            case UInt8(ascii: "\\"):
                if pi + 1 < p.count { pi += 1 }
                fallthrough
            default:
                if si >= s.count || lower(p[pi], fold) != lower(s[si], fold) { return false }
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
