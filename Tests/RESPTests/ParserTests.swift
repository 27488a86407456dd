import Testing
import RESP
import TestSupport

/// Frames that must parse to the given arguments, multibulk and inline.
let validFrames: [(frame: [UInt8], arguments: [String])] = [
    (multibulk(["SET", "key", "value"]), ["SET", "key", "value"]),
    (multibulk(["GET", "k"]), ["GET", "k"]),
    (multibulk([""]), [""]),
    (multibulk(["SET", "bin\r\nary", "has\r\nCRLF $3\r\n"]), ["SET", "bin\r\nary", "has\r\nCRLF $3\r\n"]),
    (multibulk((0..<40).map { "arg\($0)" }), (0..<40).map { "arg\($0)" }),  // more than the initial 16 spans
    (multibulk(["SET", "k", String(repeating: "v", count: 5000)]), ["SET", "k", String(repeating: "v", count: 5000)]),
    (Array("SET key value\r\n".utf8), ["SET", "key", "value"]),
    (Array("PING\n".utf8), ["PING"]),
    (Array("  GET \t  k   \r\n".utf8), ["GET", "k"]),
    (Array("SET \"a b\" 'c d'\r\n".utf8), ["SET", "a b", "c d"]),
    (Array("ECHO \"\\x41\\x7a\\n\\r\\t\\b\\a\\\\\\\"\"\r\n".utf8), ["ECHO", "Az\n\r\t\u{8}\u{7}\\\""]),
    (Array("ECHO \"\\xZZ\"\r\n".utf8), ["ECHO", "xZZ"]),  // not hex: the backslash only escapes 'x'
    (Array("ECHO 'it\\'s' 'a\\nb'\r\n".utf8), ["ECHO", "it's", "a\\nb"]),
    (Array("ECHO \"\" ''\r\n".utf8), ["ECHO", "", ""]),
    (Array("ECHO \"a\\x00b\"\r\n".utf8), ["ECHO", "a\u{0}b"]),  // an escaped NUL is kept
]

@Suite struct RequestParserValidTests {
    @Test(arguments: validFrames.indices)
    func parsesWholeFrame(_ index: Int) {
        let (frame, arguments) = validFrames[index]
        var parser = RequestParser()
        let p = parseOnce(&parser, frame[...])
        #expect(p == Parsed(outcome: .command, arguments: arguments, consumed: frame.count))
        #expect(parser.isMidFrame == false)
    }

    /// Every split point: the prefix is incomplete (asking for a size it does not have but the
    /// frame does), and the whole frame then completes, on the same parser.
    @Test(arguments: validFrames.indices)
    func resumesAtEverySplit(_ index: Int) {
        let (frame, arguments) = validFrames[index]
        for split in 1..<frame.count {
            var parser = RequestParser()
            let first = parseOnce(&parser, frame[..<split])
            guard case .incomplete(let atLeast) = first.outcome else {
                Issue.record("split at \(split): \(first)")
                return
            }
            #expect(atLeast > split && atLeast <= frame.count, "split at \(split): atLeast \(atLeast)")
            let second = parseOnce(&parser, frame[...])
            #expect(second == Parsed(outcome: .command, arguments: arguments, consumed: frame.count),
                    "split at \(split)")
        }
    }

    @Test(arguments: validFrames.indices)
    func byteByByte(_ index: Int) {
        let (frame, arguments) = validFrames[index]
        var parser = RequestParser()
        var lastAtLeast = 0
        for size in 1..<frame.count {
            let p = parseOnce(&parser, frame[..<size])
            guard case .incomplete(let atLeast) = p.outcome else {
                Issue.record("at \(size) bytes: \(p)")
                return
            }
            #expect(atLeast > size && atLeast >= lastAtLeast && atLeast <= frame.count)
            lastAtLeast = atLeast
        }
        #expect(parseOnce(&parser, frame[...]) == Parsed(outcome: .command, arguments: arguments, consumed: frame.count))
    }

    @Test func frameFollowedByMoreBytesConsumesOnlyItself() {
        let frame = multibulk(["GET", "a"])
        var parser = RequestParser()
        let p = parseOnce(&parser, (frame + Array("*1\r\n$4\r\nPI".utf8))[...])
        #expect(p == Parsed(outcome: .command, arguments: ["GET", "a"], consumed: frame.count))
    }

    @Test func emptyMultibulkCountsAreIgnored() {
        var parser = RequestParser()
        #expect(parseOnce(&parser, "*0\r\n") == Parsed(outcome: .empty, arguments: [], consumed: 4))
        #expect(parseOnce(&parser, "*-1\r\n") == Parsed(outcome: .empty, arguments: [], consumed: 5))
        #expect(parseOnce(&parser, "*-100\r\n") == Parsed(outcome: .empty, arguments: [], consumed: 7))
        #expect(parseOnce(&parser, "\r\n") == Parsed(outcome: .empty, arguments: [], consumed: 2))
        #expect(parseOnce(&parser, "   \t \n") == Parsed(outcome: .empty, arguments: [], consumed: 6))
        let stream = Array("*0\r\n*-1\r\n\r\n*1\r\n$4\r\nPING\r\n".utf8)
        #expect(parseStream(stream, chunkSizes: { 1 }) == ([["PING"]], nil))
        #expect(parseStream(stream, chunkSizes: { stream.count }) == ([["PING"]], nil))
    }

    @Test func largestMultibulkCountIsAcceptedAndWaitsForData() {
        var parser = RequestParser()
        let p = parseOnce(&parser, "*2147483647\r\n$1\r\na\r\n$2\r\n")
        #expect(p.outcome == .incomplete(atLeast: 28))
        #expect(parser.isMidFrame == true)
    }

    /// A declared 512 MB bulk only states how much is needed: nothing is read or reserved.
    @Test func hugeDeclaredBulkIsIncomplete() {
        var parser = RequestParser()
        let header = "*1\r\n$536870912\r\n"
        let p = parseOnce(&parser, header)
        #expect(p.outcome == .incomplete(atLeast: header.utf8.count + 536_870_912 + 2))
        // Resuming with a little more of the body asks for the same total.
        let more = parseOnce(&parser, header + String(repeating: "x", count: 1000))
        #expect(more.outcome == .incomplete(atLeast: header.utf8.count + 536_870_912 + 2))
    }

    /// The parser reserves nothing for what a header announces (jemalloc's per-thread counter).
    @Test(.needsJemalloc) func announcedSizesAllocateNothing() throws {
        var parser = RequestParser()
        let frames = [Array("*1\r\n$536870912\r\n".utf8), Array("*2147483647\r\n$1\r\na\r\n".utf8)]
        _ = frames[0].withUnsafeBytes { f in var c = 0; return parser.parse(f, consumed: &c) }  // warm up
        let before = try #require(threadAllocatedBytes(), "needs jemalloc's per-thread counters")
        for frame in frames {
            var fresh = RequestParser()
            frame.withUnsafeBytes { f in var c = 0; _ = fresh.parse(f, consumed: &c) }
        }
        let allocated = threadAllocatedBytes()! - before
        #expect(allocated < 64 * 1024, "\(allocated) bytes allocated")
    }

    @Test func smallerMaxBulkLengthIsEnforced() {
        var parser = RequestParser(maxBulkLength: 10)
        #expect(parseOnce(&parser, "*1\r\n$10\r\n0123456789\r\n").outcome == .command)
        #expect(parseOnce(&parser, "*1\r\n$11\r\n").outcome == .protocolError("Protocol error: invalid bulk length"))
    }
}

@Suite struct RequestParserPipelineTests {
    /// A long pipeline of mixed frames, with binary-safe payloads.
    static func pipeline(count: Int, seed: UInt64) -> (bytes: [UInt8], commands: [[String]]) {
        var rng = SplitMix64(seed: seed)
        var bytes: [UInt8] = []
        var commands: [[String]] = []
        let payloads = ["", "x", "hello world", "a\r\nb", "*3\r\n$3\r\n", String(repeating: "z", count: 300)]
        for i in 0..<count {
            switch rng.next() % 4 {
            case 0:
                let cmd = ["SET", "key:\(i)", payloads.randomElement(using: &rng)!]
                bytes += multibulk(cmd); commands.append(cmd)
            case 1:
                let cmd = (0..<Int(rng.next() % 30 + 1)).map { "a\($0)" }
                bytes += multibulk(cmd); commands.append(cmd)
            case 2:
                bytes += Array("GET key:\(i)\r\n".utf8); commands.append(["GET", "key:\(i)"])
            default:
                bytes += Array("*0\r\n".utf8)  // ignored
            }
        }
        return (bytes, commands)
    }

    @Test(arguments: [1, 2, 3, 7, 64, 4096, Int.max])
    func pipelineInFixedChunks(_ chunk: Int) {
        let (bytes, commands) = Self.pipeline(count: 300, seed: 42)
        let result = parseStream(bytes, chunkSizes: { chunk })
        #expect(result.error == nil)
        #expect(result.commands == commands)
    }

    @Test func pipelineInRandomChunks() {
        var rng = SplitMix64(seed: 7)
        for seed in 1...20 as ClosedRange<UInt64> {
            let (bytes, commands) = Self.pipeline(count: 100, seed: seed)
            let result = parseStream(bytes, chunkSizes: { Int(rng.next() % 40) + 1 })
            #expect(result.error == nil)
            #expect(result.commands == commands)
        }
    }

    @Test func sixteenCommandPipelineInOneBuffer() {
        let frame = multibulk(["SET", "key:000000000042", "value-of-32-bytes-xxxxxxxxxxxxxx"])
        let stream = Array((0..<16).map { _ in frame }.joined())
        var parser = RequestParser()
        var offset = 0
        for _ in 0..<16 {
            let p = parseOnce(&parser, stream[offset...])
            #expect(p.outcome == .command)
            #expect(p.arguments == ["SET", "key:000000000042", "value-of-32-bytes-xxxxxxxxxxxxxx"])
            offset += p.consumed
        }
        #expect(offset == stream.count)
    }
}

@Suite struct RequestParserErrorTests {
    static let cases: [(input: String, message: String)] = [
        ("*abc\r\n", "Protocol error: invalid multibulk length"),
        ("*\r\n", "Protocol error: invalid multibulk length"),
        ("*-\r\n", "Protocol error: invalid multibulk length"),
        ("*01\r\n", "Protocol error: invalid multibulk length"),
        ("*+1\r\n", "Protocol error: invalid multibulk length"),
        ("*1 \r\n", "Protocol error: invalid multibulk length"),
        ("*2147483648\r\n", "Protocol error: invalid multibulk length"),
        ("*9223372036854775808\r\n", "Protocol error: invalid multibulk length"),
        ("*1\r\n$abc\r\n", "Protocol error: invalid bulk length"),
        ("*1\r\n$-1\r\n", "Protocol error: invalid bulk length"),
        ("*1\r\n$\r\n", "Protocol error: invalid bulk length"),
        ("*1\r\n$03\r\nfoo\r\n", "Protocol error: invalid bulk length"),
        ("*1\r\n$3x\r\nfoo\r\n", "Protocol error: invalid bulk length"),
        ("*2\r\n$3\r\nfoo\r\n$1000000000\r\n", "Protocol error: invalid bulk length"),
        ("*1x\r\n$3\r\nfoo\r\n", "Protocol error: invalid multibulk length"),
        ("*1\r\n$536870913\r\n", "Protocol error: invalid bulk length"),
        ("*1\r\nx3\r\nfoo\r\n", "Protocol error: expected '$', got 'x'"),
        ("*2\r\n$3\r\nfoo\r\n:3\r\n", "Protocol error: expected '$', got ':'"),
        ("*1\r\n\r\n", "Protocol error: expected '$', got '\r'"),
        ("SET \"a b\r\n", "Protocol error: unbalanced quotes in request"),
        ("SET 'a b\r\n", "Protocol error: unbalanced quotes in request"),
        ("SET \"a\"b\r\n", "Protocol error: unbalanced quotes in request"),
        ("SET 'a'b\r\n", "Protocol error: unbalanced quotes in request"),
        ("SET \"a\\\"\r\n", "Protocol error: unbalanced quotes in request"),
    ]

    @Test(arguments: cases.indices)
    func malformedInputGivesRedisMessage(_ index: Int) {
        let (input, message) = Self.cases[index]
        var parser = RequestParser()
        #expect(parseOnce(&parser, input).outcome == .protocolError(message))
        #expect(parser.isMidFrame == false)
    }

    @Test func tooBigInlineRequest() {
        var parser = RequestParser()
        let limit = RequestParser.inlineMaxSize
        #expect(parseOnce(&parser, String(repeating: "a", count: limit)).outcome == .incomplete(atLeast: limit + 1))
        #expect(parseOnce(&parser, String(repeating: "a", count: limit + 1)).outcome
                == .protocolError("Protocol error: too big inline request"))
    }

    /// Redis looks for an inline line's end with strchr, which stops at a NUL: the line never
    /// ends, and the request is refused once it is too big (not cut at the NUL).
    @Test func nulInInlineLineWaitsUntilTooBig() {
        var parser = RequestParser()
        let line = Array("SET nk2 v\u{0}tail\r\n".utf8)
        #expect(parseOnce(&parser, line[...]).outcome == .incomplete(atLeast: line.count + 1))
        let limit = RequestParser.inlineMaxSize
        let more = line + Array(repeating: UInt8(ascii: "a"), count: limit - line.count) + [10]
        #expect(parseOnce(&parser, more[...]).outcome == .protocolError("Protocol error: too big inline request"))
        // A NUL after the newline belongs to the next line.
        var next = RequestParser()
        #expect(parseOnce(&next, "PING\r\n\u{0}\r\n") == Parsed(outcome: .command, arguments: ["PING"], consumed: 6))
    }

    @Test func tooBigMultibulkCountString() {
        var parser = RequestParser()
        let limit = RequestParser.inlineMaxSize
        #expect(parseOnce(&parser, "*" + String(repeating: "1", count: limit - 1)).outcome == .incomplete(atLeast: limit + 1))
        #expect(parseOnce(&parser, "*" + String(repeating: "1", count: limit)).outcome
                == .protocolError("Protocol error: too big mbulk count string"))
    }

    @Test func tooBigBulkCountString() {
        var parser = RequestParser()
        let limit = RequestParser.inlineMaxSize
        #expect(parseOnce(&parser, "*1\r\n$" + String(repeating: "1", count: limit)).outcome
                == .protocolError("Protocol error: too big bulk count string"))
    }

    @Test func parserRecoversAfterAnError() {
        var parser = RequestParser()
        _ = parseOnce(&parser, "*1\r\n$3\r\n")
        #expect(parser.isMidFrame == true)
        #expect(parseOnce(&parser, "*1\r\n$3\r\nab").outcome == .incomplete(atLeast: 13))
        // A protocol error leaves no half frame behind.
        var broken = RequestParser()
        _ = parseOnce(&broken, "*2\r\n$1\r\na\r\n")
        #expect(parseOnce(&broken, "*2\r\n$1\r\na\r\n!1\r\n").outcome == .protocolError("Protocol error: expected '$', got '!'"))
        #expect(broken.isMidFrame == false)
        #expect(parseOnce(&broken, "PING\r\n") == Parsed(outcome: .command, arguments: ["PING"], consumed: 6))
    }
}

@Suite struct StrictIntTests {
    static let cases: [(text: String, value: Int?)] = [
        ("0", 0), ("1", 1), ("-1", -1), ("99", 99), ("-99", -99), ("1234567890", 1_234_567_890),
        ("9223372036854775807", Int.max), ("-9223372036854775808", Int.min),
        ("9223372036854775808", nil), ("-9223372036854775809", nil),
        ("18446744073709551615", nil), ("18446744073709551616", nil), ("99999999999999999999999", nil),
        ("", nil), ("-", nil), ("-0", nil), ("00", nil), ("01", nil), ("-01", nil), ("+1", nil),
        (" 1", nil), ("1 ", nil), ("1a", nil), ("a", nil), ("1.0", nil), ("0x10", nil), ("--1", nil),
        // Around the 18-digit fast path's edge.
        ("999999999999999999", 999_999_999_999_999_999), ("1000000000000000000", 1_000_000_000_000_000_000),
        ("12345678901234567a", nil), ("1\r", nil), ("9:", nil), ("1/", nil),
    ]

    @Test(arguments: cases.indices)
    func parsesLikeString2ll(_ index: Int) {
        let (text, value) = Self.cases[index]
        let bytes = Array(text.utf8)
        #expect(bytes.withUnsafeBytes { parseStrictInt($0) } == value, "\"\(text)\"")
    }

    @Test func parsesASubrange() {
        let bytes = Array("$123\r\n".utf8)
        #expect(bytes.withUnsafeBytes { parseStrictInt($0, from: 1, to: 4) } == 123)
        #expect(bytes.withUnsafeBytes { parseStrictInt($0, from: 1, to: 1) } == nil)
    }
}
