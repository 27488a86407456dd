import RESP

/// What one `parse` call produced, with the arguments copied out (they are views into
/// memory that the next call may reuse).
struct Parsed: Equatable, CustomStringConvertible {
    var outcome: ParseOutcome
    var arguments: [String]
    var consumed: Int

    var description: String { "\(outcome) \(arguments) consumed=\(consumed)" }
}

/// Runs one `parse` over `bytes` (copied into fresh memory, as a grown or moved
/// connection buffer would be) and copies the arguments out.
func parseOnce(_ parser: inout RequestParser, _ bytes: ArraySlice<UInt8>) -> Parsed {
    let copy = Array(bytes)
    return copy.withUnsafeBytes { frame in
        var consumed = -1
        let outcome = parser.parse(frame, consumed: &consumed)
        var arguments: [String] = []
        if outcome == .command {
            let base = parser.spansInScratch ? UnsafeRawPointer(parser.inlineScratch.base) : frame.baseAddress!
            let args = Arguments(base: base, spans: UnsafePointer(parser.spans), count: parser.argumentCount)
            for i in 0..<args.count { arguments.append(String(decoding: args[i], as: UTF8.self)) }
        }
        return Parsed(outcome: outcome, arguments: arguments, consumed: consumed)
    }
}

func parseOnce(_ parser: inout RequestParser, _ text: String) -> Parsed {
    parseOnce(&parser, Array(text.utf8)[...])
}

/// A RESP multibulk frame for `arguments`.
func multibulk(_ arguments: [String]) -> [UInt8] {
    var out = Array("*\(arguments.count)\r\n".utf8)
    for a in arguments {
        let bytes = Array(a.utf8)
        out += Array("$\(bytes.count)\r\n".utf8) + bytes + [13, 10]
    }
    return out
}

/// Parses every command in `stream`, feeding it `chunks` bytes at a time the way a
/// connection would: the unconsumed tail stays at the front and new bytes are appended.
/// Returns the argument lists of the commands, or nil plus the error on a protocol error.
func parseStream(_ stream: [UInt8], chunkSizes: () -> Int) -> (commands: [[String]], error: String?) {
    var parser = RequestParser()
    var pending: [UInt8] = []
    var fed = 0
    var commands: [[String]] = []
    while true {
        // Parse everything complete in `pending`.
        drain: while !pending.isEmpty {
            let p = parseOnce(&parser, pending[...])
            switch p.outcome {
            case .command:
                commands.append(p.arguments)
                pending.removeFirst(p.consumed)
            case .empty:
                pending.removeFirst(p.consumed)
            case .incomplete(let atLeast):
                precondition(atLeast > pending.count, "incomplete must ask for more than it has")
                break drain
            case .protocolError(let message):
                return (commands, message)
            }
        }
        if fed == stream.count { return (commands, nil) }
        let n = min(chunkSizes(), stream.count - fed)
        pending += stream[fed..<(fed + n)]
        fed += n
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// Bytes the calling thread has allocated so far, from jemalloc's per-thread counter
/// (`thread.allocated`); nil when malloc is not jemalloc's.
func threadAllocatedBytes() -> UInt64? {
    typealias Mallctl = @convention(c) (UnsafePointer<CChar>?, UnsafeMutableRawPointer?,
                                        UnsafeMutablePointer<Int>?, UnsafeMutableRawPointer?, Int) -> Int32
    guard let symbol = dlsym(nil, "mallctl") else { return nil }
    let ctl = unsafeBitCast(symbol, to: Mallctl.self)
    var value: UInt64 = 0
    var size = MemoryLayout<UInt64>.size
    return ctl("thread.allocated", &value, &size, nil, 0) == 0 ? value : nil
}
