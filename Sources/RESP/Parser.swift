#if canImport(Glibc)
import Glibc
#endif

/// Position of one argument, relative to the start of the frame (or of the inline scratch).
public struct ArgSpan: Sendable, BitwiseCopyable {
    public var offset: Int
    public var count: Int
    @inlinable public init(offset: Int, count: Int) { self.offset = offset; self.count = count }
}

/// A parsed command's arguments: views into memory the caller keeps alive
/// (the connection's read buffer, an inline scratch buffer, or a ring batch).
public struct Arguments {
    public let base: UnsafeRawPointer
    public let spans: UnsafePointer<ArgSpan>
    public let count: Int

    @inlinable public init(base: UnsafeRawPointer, spans: UnsafePointer<ArgSpan>, count: Int) {
        self.base = base; self.spans = spans; self.count = count
    }

    @inlinable public subscript(i: Int) -> UnsafeRawBufferPointer {
        let s = spans[i]
        return UnsafeRawBufferPointer(start: base + s.offset, count: s.count)
    }

    /// Arguments `from ..< count`, sharing the same memory.
    @inlinable public func dropFirst(_ n: Int) -> Arguments {
        Arguments(base: base, spans: spans + n, count: count - n)
    }

    /// Argument as a String (cold paths: option names, error messages).
    public func string(_ i: Int) -> String { String(decoding: self[i], as: UTF8.self) }
}

public enum ParseOutcome: Equatable {
    /// A command is ready: `argumentCount` spans, based at `argumentBase`.
    case command
    /// An empty command (`*0`, `*-1`, blank inline line) was consumed; nothing to run.
    case empty
    /// More bytes are needed. `atLeast` is the size the buffer must reach from the frame start.
    case incomplete(atLeast: Int)
    /// The peer broke the protocol: reply with this error and close the connection.
    case protocolError(String)
}

/// Incremental RESP request parser (multibulk and inline). It keeps only offsets, so
/// the input buffer may be moved or grown between calls; a frame split at any byte
/// resumes where it stopped instead of re-scanning.
public struct RequestParser: ~Copyable {
    public static let inlineMaxSize = 64 * 1024

    /// Largest accepted bulk argument (`proto-max-bulk-len`).
    public var maxBulkLength: Int
    public private(set) var spans: UnsafeMutablePointer<ArgSpan>
    private var spanCapacity: Int
    public private(set) var argumentCount = 0
    /// True when the last command's spans point into `inlineScratch` rather than the frame.
    public private(set) var spansInScratch = false
    public var inlineScratch = ByteBuffer(capacity: 64)

    // Resume state of a partially received multibulk frame (offsets from the frame start).
    private var inFrame = false
    private var remaining = 0       // arguments still to read
    private var scanned = 0         // bytes of the frame already parsed
    private var bulkLength = -1     // length of the bulk being read, or -1 before its header

    public init(maxBulkLength: Int = 512 * 1024 * 1024) {
        self.maxBulkLength = maxBulkLength
        spanCapacity = 16
        spans = .allocate(capacity: spanCapacity)
    }

    deinit { spans.deallocate() }

    /// The arguments of the command `parse` just returned from `frame`: in the frame, or in
    /// `inlineScratch` for an inline command whose quoting had to be undone.
    @inlinable
    public func arguments(in frame: UnsafeRawBufferPointer) -> Arguments {
        let base = spansInScratch ? UnsafeRawPointer(inlineScratch.base) : frame.baseAddress!
        return Arguments(base: base, spans: spans, count: argumentCount)
    }

    /// True while a frame is partly received (for a mid-frame disconnect count, etc.).
    public var isMidFrame: Bool { inFrame }

    /// Parses one command from `frame` (the unconsumed input, starting at a frame boundary).
    /// On `.command`/`.empty`, `consumed` is the frame's length.
    public mutating func parse(_ frame: UnsafeRawBufferPointer, consumed: inout Int) -> ParseOutcome {
        guard frame.count > 0 else { return .incomplete(atLeast: 1) }
        if inFrame || frame[0] == UInt8(ascii: "*") {
            return parseMultibulk(frame, consumed: &consumed)
        }
        return parseInline(frame, consumed: &consumed)
    }

    @inline(__always)
    private mutating func addSpan(_ span: ArgSpan) {
        if argumentCount == spanCapacity { growSpans() }
        spans[argumentCount] = span
        argumentCount += 1
    }

    @inline(never)
    private mutating func growSpans() {
        let bigger = UnsafeMutablePointer<ArgSpan>.allocate(capacity: spanCapacity * 2)
        bigger.moveInitialize(from: spans, count: argumentCount)
        spans.deallocate()
        spans = bigger
        spanCapacity *= 2
    }

    /// Position of the first CR at or after `from`, or nil.
    private static func findCR(_ frame: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard from < frame.count, let base = frame.baseAddress else { return nil }
        guard let hit = memchr(base + from, 13, frame.count - from) else { return nil }
        return base.distance(to: UnsafeRawPointer(hit))
    }

    private mutating func parseMultibulk(_ frame: UnsafeRawBufferPointer, consumed: inout Int) -> ParseOutcome {
        if !inFrame {
            if parseWholeFrame(frame, consumed: &consumed) { return .command }
            guard let cr = Self.findCR(frame, from: 1) else {
                if frame.count > Self.inlineMaxSize { return fail("Protocol error: too big mbulk count string") }
                return .incomplete(atLeast: frame.count + 1)
            }
            guard cr + 1 < frame.count else { return .incomplete(atLeast: cr + 2) }
            guard let n = parseStrictInt(frame, from: 1, to: cr), n <= Int(Int32.max) else {
                return fail("Protocol error: invalid multibulk length")
            }
            if n <= 0 {
                consumed = cr + 2
                argumentCount = 0
                return .empty
            }
            inFrame = true
            remaining = n
            scanned = cr + 2
            bulkLength = -1
            argumentCount = 0
            spansInScratch = false
        }
        while remaining > 0 {
            if bulkLength < 0 {
                guard let cr = Self.findCR(frame, from: scanned) else {
                    if frame.count - scanned > Self.inlineMaxSize { return fail("Protocol error: too big bulk count string") }
                    return .incomplete(atLeast: frame.count + 1)
                }
                guard cr + 1 < frame.count else { return .incomplete(atLeast: cr + 2) }
                let marker = frame[scanned]
                guard marker == UInt8(ascii: "$") else {
                    return fail("Protocol error: expected '$', got '\(String(decoding: [marker], as: UTF8.self))'")
                }
                guard let n = parseStrictInt(frame, from: scanned + 1, to: cr), n >= 0, n <= maxBulkLength else {
                    return fail("Protocol error: invalid bulk length")
                }
                bulkLength = n
                scanned = cr + 2
            }
            let end = scanned + bulkLength + 2
            guard end <= frame.count else { return .incomplete(atLeast: end) }
            addSpan(ArgSpan(offset: scanned, count: bulkLength))
            scanned = end
            bulkLength = -1
            remaining -= 1
        }
        inFrame = false
        consumed = scanned
        return .command
    }

    /// The common request in one pass: a frame received whole whose counts and lengths are
    /// plain (1-9 digits, no leading zero). Scans the digits up to each CR itself instead of
    /// a memchr plus a parseStrictInt per line (callgrind: ~430 Ir of a GET went to parsing).
    /// Anything else (a split frame, an empty bulk, a malformed line) returns false having
    /// changed nothing the general path relies on: it starts the frame over and answers as before.
    @inline(__always)
    private mutating func parseWholeFrame(_ frame: UnsafeRawBufferPointer, consumed: inout Int) -> Bool {
        let p = frame.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: UInt8.self)
        let end = frame.count
        var i = 1
        var n = Self.plainLength(p, &i, end)
        guard n > 0 else { return false }
        argumentCount = 0
        spansInScratch = false
        while n > 0 {
            guard i < end && p[i] == UInt8(ascii: "$") else { return false }
            i += 1
            let length = Self.plainLength(p, &i, end)
            guard length > 0 && length <= maxBulkLength else { return false }
            let next = i + length + 2
            guard next <= end else { return false }
            addSpan(ArgSpan(offset: i, count: length))
            i = next
            n -= 1
        }
        consumed = i
        return true
    }

    /// The number of 1-9 digits (the first not 0) at `i` ending in a CR with a byte after it,
    /// with `i` moved past that pair (as the general path steps over "\r\n"); -1 otherwise.
    @inline(__always)
    private static func plainLength(_ p: UnsafePointer<UInt8>, _ i: inout Int, _ end: Int) -> Int {
        var j = i
        guard j < end else { return -1 }
        let first = p[j] &- 49
        guard first <= 8 else { return -1 }
        var value = Int(first) + 1
        j += 1
        let limit = min(end, i + 10)
        while j < limit {
            let c = p[j]
            if c == 13 {
                guard j + 1 < end else { return -1 }
                i = j + 2
                return value
            }
            let d = c &- 48
            guard d <= 9 else { return -1 }
            value = value &* 10 &+ Int(d)
            j += 1
        }
        return -1
    }

    private mutating func fail(_ message: String) -> ParseOutcome {
        inFrame = false
        argumentCount = 0
        return .protocolError(message)
    }

    private mutating func parseInline(_ frame: UnsafeRawBufferPointer, consumed: inout Int) -> ParseOutcome {
        // Redis finds the line's end with strchr, which stops at a NUL: a NUL before the
        // newline means "no line yet", so the request waits for more bytes until it is too big.
        guard let base = frame.baseAddress, let hit = memchr(base, 10, frame.count),
              memchr(base, 0, base.distance(to: UnsafeRawPointer(hit))) == nil else {
            if frame.count > Self.inlineMaxSize { return fail("Protocol error: too big inline request") }
            return .incomplete(atLeast: frame.count + 1)
        }
        let newline = base.distance(to: UnsafeRawPointer(hit))
        var lineEnd = newline
        if lineEnd > 0 && frame[lineEnd - 1] == 13 { lineEnd -= 1 }
        argumentCount = 0
        spansInScratch = true
        inlineScratch.clear()
        guard splitInline(UnsafeRawBufferPointer(rebasing: frame[0..<lineEnd])) else {
            return fail("Protocol error: unbalanced quotes in request")
        }
        consumed = newline + 1
        return argumentCount == 0 ? .empty : .command
    }

    /// Splits an inline line as Redis's sdssplitargs does (quotes, escapes, \xHH).
    private mutating func splitInline(_ line: UnsafeRawBufferPointer) -> Bool {
        var p = 0
        let n = line.count
        func isSpace(_ c: UInt8) -> Bool { c == 32 || (c >= 9 && c <= 13) }
        func hexValue(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        while true {
            while p < n && isSpace(line[p]) { p += 1 }
            if p >= n { return true }
            let start = inlineScratch.count
            var inDouble = false, inSingle = false, done = false
            while !done {
                if inDouble {
                    if p >= n { return false }
                    let c = line[p]
                    if c == UInt8(ascii: "\\") && p + 3 < n && line[p + 1] == UInt8(ascii: "x"),
                       let hi = hexValue(line[p + 2]), let lo = hexValue(line[p + 3]) {
                        inlineScratch.append(hi << 4 | lo); p += 3
                    } else if c == UInt8(ascii: "\\") && p + 1 < n {
                        p += 1
                        switch line[p] {
                        case UInt8(ascii: "n"): inlineScratch.append(10)
                        case UInt8(ascii: "r"): inlineScratch.append(13)
                        case UInt8(ascii: "t"): inlineScratch.append(9)
                        case UInt8(ascii: "b"): inlineScratch.append(8)
                        case UInt8(ascii: "a"): inlineScratch.append(7)
                        default: inlineScratch.append(line[p])
                        }
                    } else if c == UInt8(ascii: "\"") {
                        if p + 1 < n && !isSpace(line[p + 1]) { return false }
                        done = true
                    } else {
                        inlineScratch.append(c)
                    }
                } else if inSingle {
                    if p >= n { return false }
                    let c = line[p]
                    if c == UInt8(ascii: "\\") && p + 1 < n && line[p + 1] == UInt8(ascii: "'") {
                        p += 1; inlineScratch.append(UInt8(ascii: "'"))
                    } else if c == UInt8(ascii: "'") {
                        if p + 1 < n && !isSpace(line[p + 1]) { return false }
                        done = true
                    } else {
                        inlineScratch.append(c)
                    }
                } else {
                    if p >= n { done = true; break }
                    let c = line[p]
                    switch c {
                    case 32, 10, 13, 9: done = true
                    case UInt8(ascii: "\""): inDouble = true
                    case UInt8(ascii: "'"): inSingle = true
                    default: inlineScratch.append(c)
                    }
                }
                if p < n { p += 1 }
            }
            addSpan(ArgSpan(offset: start, count: inlineScratch.count - start))
        }
    }
}

/// Redis's string2ll: optional '-', no '+', no leading zeros, no spaces, fits in Int64.
/// The one implementation: the parser, listpacks and RDB (Values) and commands use it.
@inlinable public func parseStrictInt(_ bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
    var i = from
    guard i < to else { return nil }
    if to - from <= 18 && bytes[i] &- 49 <= 8 {
        // The common case (a RESP length, a small count): a positive number of at most 18
        // digits cannot overflow, so no overflow checks.
        var value = 0
        while i < to {
            let d = bytes[i] &- 48
            guard d <= 9 else { return nil }
            value = value &* 10 &+ Int(d)
            i += 1
        }
        return value
    }
    if to - from == 1 && bytes[i] == 48 { return 0 }
    var negative = false
    if bytes[i] == UInt8(ascii: "-") {
        negative = true
        i += 1
        guard i < to else { return nil }
    }
    guard bytes[i] >= 49 && bytes[i] <= 57 else { return nil }
    var value: UInt64 = 0
    while i < to {
        let d = bytes[i] &- 48
        guard d <= 9 else { return nil }
        let (m, o1) = value.multipliedReportingOverflow(by: 10)
        let (s, o2) = m.addingReportingOverflow(UInt64(d))
        if o1 || o2 { return nil }
        value = s
        i += 1
    }
    if negative {
        if value > UInt64(Int64.max) + 1 { return nil }
        return value == UInt64(Int64.max) + 1 ? Int.min : -Int(value)
    }
    if value > UInt64(Int64.max) { return nil }
    return Int(value)
}

@inlinable public func parseStrictInt(_ bytes: UnsafeRawBufferPointer) -> Int? {
    parseStrictInt(bytes, from: 0, to: bytes.count)
}

/// Steps over RESP replies our own shards wrote (well formed by construction): where a
/// line ends and where one element ends, for splicing elements of one array reply into
/// another (a cross-shard MGET).
public enum RESPScan {
    /// The offset just past the "\r\n" of the line that starts at `start`, if complete.
    public static func lineEnd(_ r: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var i = start
        while i + 1 < r.count {
            if r[i] == 13 && r[i + 1] == 10 { return i + 2 }
            i += 1
        }
        return nil
    }

    /// The offset just past the element that starts at `start`: a bulk string (or its
    /// null), or any one-line element (integer, simple string, error, RESP3 null).
    public static func elementEnd(_ r: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard start < r.count, let line = lineEnd(r, from: start) else { return nil }
        guard r[start] == UInt8(ascii: "$") else { return line }
        guard let n = parseStrictInt(r, from: start + 1, to: line - 2) else { return nil }
        if n < 0 { return line }
        let end = line + n + 2
        return end <= r.count ? end : nil
    }
}
