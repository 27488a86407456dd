import Testing
import Shards

/// Expected results follow Redis's stringmatchlen (util.c), quirks included.
@Suite struct GlobTests {
    static let caseSensitive: [(pattern: String, string: String, matches: Bool)] = [
        // Empty and all-star patterns. Redis's loop runs only while both sides are non-empty,
        // so "*" does not match "" (KEYS * and SCAN special-case the lone "*").
        ("", "", true), ("", "a", false), ("a", "", false), ("*", "", false), ("**", "", false),
        ("*", "anything", true), ("**", "x", true), ("abc***", "abc", true), ("a**b", "ab", true),
        // Stars.
        ("a*", "a", true), ("a*", "abc", true), ("*c", "abc", true), ("*b*", "abc", true),
        ("a*b*c", "aXbYc", true), ("a*b", "ab", true), ("a*b", "ac", false), ("*a", "b", false),
        ("*a*", "bbb", false), ("*?*", "a", true), ("*?*", "", false), ("a*b*c", "abcabc", true),
        // '?'.
        ("?", "a", true), ("?", "", false), ("?", "ab", false), ("??", "ab", true), ("a?c", "abc", true),
        // The KEYS documentation's examples.
        ("h?llo", "hello", true), ("h?llo", "hallo", true), ("h?llo", "hllo", false),
        ("h*llo", "hllo", true), ("h*llo", "heeeello", true),
        ("h[ae]llo", "hello", true), ("h[ae]llo", "hallo", true), ("h[ae]llo", "hillo", false),
        ("h[^e]llo", "hallo", true), ("h[^e]llo", "hbllo", true), ("h[^e]llo", "hello", false),
        ("h[a-b]llo", "hallo", true), ("h[a-b]llo", "hbllo", true), ("h[a-b]llo", "hcllo", false),
        // tests/unit/keyspace.tcl: KEYS with pattern and with hashtag.
        ("foo*", "foo_a", true), ("foo*", "key_x", false),
        ("{a}*", "{a}x", true), ("{a}*", "{b}a", false), ("*{b}*", "{b}c", true), ("*{b}*", "{a}z", false),
        // Escapes outside a class.
        ("h\\*llo", "h*llo", true), ("h\\*llo", "hello", false), ("\\?", "?", true), ("\\?", "a", false),
        ("\\[a]", "[a]", true), ("\\[a]", "a", false), ("\\\\", "\\", true), ("a\\", "a\\", true),
        ("\\a", "a", true),
        // Classes: escapes inside, ranges (reversed ones swapped), negation.
        ("[\\]]", "]", true), ("[\\^a]", "^", true), ("[a\\-z]", "-", true), ("[a\\-z]", "b", false),
        ("[z-a]", "m", true), ("[z-a]", "A", false), ("[0-9]x", "7x", true), ("[0-9]x", "ax", false),
        ("[^a-c]", "d", true), ("[^a-c]", "b", false), ("[^abc]x", "ax", false), ("[^abc]x", "dx", true),
        ("[abc-]", "-", false), ("[abc-]", "c", true),
        // "[a-]" is the range 'a'..']' (swapped to ']'..'a') with the class left unterminated.
        ("[a-]", "^", true), ("[a-]", "]", true), ("[a-]", "a", true), ("[a-]", "-", false), ("[a-]", "b", false),
        // An empty class matches nothing; "[^]" matches any one character.
        ("[]", "x", false), ("[]]", "]", false), ("[^]", "x", true), ("[^]", "", false), ("[^]x", "ax", true),
        // Unterminated classes: the pattern's end closes them.
        ("[abc", "a", true), ("[abc", "c", true), ("[abc", "d", false), ("[abc", "ab", false),
        ("[", "a", false), ("[", "", false), ("[^", "a", true), ("[^", "ab", false), ("a[", "a", false),
        ("[\\", "\\", true), ("[a\\", "\\", true), ("[a\\", "a", true),
        // Case matters without nocase.
        ("HELLO", "hello", false), ("h[A-Z]llo", "hello", false),
    ]

    static let caseInsensitive: [(pattern: String, string: String, matches: Bool)] = [
        ("HELLO", "hello", true), ("hello", "HeLLo", true), ("h[A-Z]llo", "hello", true), ("h[a-z]llo", "HELLO", true),
        ("h[E]llo", "hello", true), ("h[^E]llo", "hello", false), ("\\A", "a", true), ("*-FLAG", "x-flag", true),
        // Redis compares an escaped class member exactly, even with nocase.
        ("[\\A]", "a", false), ("[\\A]", "A", true),
        // Redis swaps a reversed range before folding: 'Z'..'a' folds to the empty 'z'..'a'.
        ("[Z-a]", "b", false), ("[Z-a]", "_", false), ("[Z-a]", "z", false),
    ]

    @Test(arguments: caseSensitive.indices)
    func matchesLikeRedis(_ index: Int) {
        let (pattern, string, expected) = Self.caseSensitive[index]
        #expect(Glob.matches(pattern, string) == expected, "pattern \(pattern) string \(string)")
    }

    @Test(arguments: caseInsensitive.indices)
    func matchesLikeRedisIgnoringCase(_ index: Int) {
        let (pattern, string, expected) = Self.caseInsensitive[index]
        #expect(Glob.matches(pattern, string, caseInsensitive: true) == expected, "pattern \(pattern) string \(string)")
    }

    @Test func rangeWithoutNocaseCoversTheBytesBetween() {
        #expect(Glob.matches("[Z-a]", "_"))
        #expect(Glob.matches("[Z-a]", "["))
        #expect(!Glob.matches("[Z-a]", "b"))
    }

    /// Bytes above 0x7F compare as C's signed char does in Redis's ranges.
    @Test func highBytesInRangesCompareSigned() {
        func match(_ p: [UInt8], _ s: [UInt8]) -> Bool {
            p.withUnsafeBytes { pb in s.withUnsafeBytes { sb in Glob.matches(pb, sb) } }
        }
        let range: [UInt8] = [UInt8(ascii: "["), 0x01, UInt8(ascii: "-"), 0xFF, UInt8(ascii: "]")]
        #expect(match(range, [0x00]))   // 0xFF is -1: the range is -1...1
        #expect(!match(range, [UInt8(ascii: "a")]))
        #expect(match(range, [0xFF]))
        #expect(match([0xC3, 0xA9, UInt8(ascii: "*")], [0xC3, 0xA9, 0x41]))
        #expect(match([UInt8(ascii: "?"), UInt8(ascii: "?")], [0xC3, 0xA9]))
    }

    @Test func binaryKeysWithNulBytes() {
        let pattern: [UInt8] = [0x61, 0x00, UInt8(ascii: "*")]
        let key: [UInt8] = [0x61, 0x00, 0x62]
        #expect(pattern.withUnsafeBytes { p in key.withUnsafeBytes { Glob.matches(p, $0) } })
        let other: [UInt8] = [0x61, 0x01, 0x62]
        #expect(!pattern.withUnsafeBytes { p in other.withUnsafeBytes { Glob.matches(p, $0) } })
    }

    /// tests/unit/keyspace.tcl "Regression for pattern matching long nested loops": must
    /// answer quickly instead of backtracking exponentially.
    @Test(.timeLimit(.minutes(1)))
    func longNestedLoopsFinishQuickly() {
        let key = String(repeating: "a", count: 68)
        let pattern = String(repeating: "a*", count: 33) + "b"
        let clock = ContinuousClock()
        let elapsed = clock.measure { #expect(!Glob.matches(pattern, key)) }
        #expect(elapsed < .seconds(2))
        // And a true match that needs backtracking is still found.
        #expect(Glob.matches(String(repeating: "a*", count: 33) + "b", String(repeating: "a", count: 68) + "b"))
        #expect(Glob.matches("*a*a*a*a*a*a*a*a*a*a*a*ab", String(repeating: "ab", count: 40)))
    }

    /// keyspace.tcl "Regression for pattern matching very long nested loops": Redis stops
    /// nesting at 1000 levels and answers no match; it must not overflow the stack.
    @Test func veryLongNestedLoopsAreRefusedNotCrashing() {
        let key = String(repeating: "a", count: 50_000)
        let pattern = String(repeating: "*?", count: 50_000)
        #expect(!Glob.matches(pattern, key))
    }

    @Test func nestingUpToTheLimitStillMatches() {
        // 900 stars: within Redis's 1000-level limit.
        let pattern = String(repeating: "*?", count: 900)
        #expect(Glob.matches(pattern, String(repeating: "a", count: 900)))
        #expect(!Glob.matches(pattern, String(repeating: "a", count: 899)))
    }
}
