import RESP
#if canImport(Glibc)
import Glibc
#endif

/// One command's INFO commandstats counters on one worker.
struct CommandCounter: Sendable {
    var calls = 0
    /// Time of the sampled calls only (see `CommandStats.sampleMask`).
    var sampledNanos = 0
    var samples = 0
    var rejected = 0
    var failed = 0

    /// Redis's usec, estimated from the sampled calls.
    var estimatedMicroseconds: Int {
        samples == 0 ? 0 : Int(Double(sampledNanos) / 1000 * Double(calls) / Double(samples))
    }

    static func + (a: CommandCounter, b: CommandCounter) -> CommandCounter {
        CommandCounter(calls: a.calls + b.calls, sampledNanos: a.sampledNanos + b.sampledNanos,
                       samples: a.samples + b.samples, rejected: a.rejected + b.rejected, failed: a.failed + b.failed)
    }
}

/// INFO commandstats/errorstats counters of one worker: plain integers written only by
/// the worker's thread (no atomics on the data path) and copied out on that thread when
/// INFO asks (`Worker.report()`).
///
/// Timing every call would cost two clock reads per command, so only one call in
/// `sampleMask + 1` per command is timed and usec is extrapolated from those.
final class CommandStats {
    static let sampleMask = 15
    private let counters: UnsafeMutablePointer<CommandCounter>
    let commandCount: Int
    /// The command whose reply is being written (failed_calls attribution), or -1.
    var current = -1
    /// Set by a handler whose error reply Redis writes raw (addReplySds: DEBUG ERROR), which
    /// neither errorstats nor failed_calls count; the next error reply clears it.
    var uncountedError = false
    /// By prefix, as bytes: Redis keeps a prefix's bytes as they came (a script's error_reply).
    private(set) var errors: [[UInt8]: Int] = [:]
    private(set) var totalErrors = 0

    init(commands: Int) {
        commandCount = commands
        counters = .allocate(capacity: commands)
        counters.initialize(repeating: CommandCounter(), count: commands)
    }

    deinit { counters.deallocate() }

    /// A call about to run; returns a start time when this call is sampled, else 0.
    @inline(__always) func begin(_ command: Int) -> UInt64 {
        current = command
        return counters[command].calls & CommandStats.sampleMask == 0 ? monotonicNanos() : 0
    }

    /// Counts the call once it has run, as Redis's call() does (INFO does not see itself,
    /// CONFIG RESETSTAT's own call survives the reset; a call that blocked counts now).
    @inline(__always) func end(_ command: Int, startedAt start: UInt64) {
        current = -1
        counters[command].calls += 1
        if start != 0 {
            counters[command].sampledNanos += Int(monotonicNanos() &- start)
            counters[command].samples += 1
        }
    }

    func reject(_ command: Int) { counters[command].rejected += 1 }

    /// A command EXEC ran, given its reply: a call (not timed), failed if the reply is an
    /// error, which counts in errorstats as Redis counts the errors inside a transaction.
    func countQueued(_ command: Int, reply: UnsafeRawBufferPointer) {
        counters[command].calls += 1
        if reply.count > 0 && reply[0] == UInt8(ascii: "-") { recordError(reply, command: command) }
    }

    /// Counts an error reply (`-PREFIX message`) under its prefix, as Redis's errorstats,
    /// and as a failed call of `command` (or of the running command when -1 is not given).
    func recordError(_ reply: UnsafeRawBufferPointer, command: Int) {
        if uncountedError {
            uncountedError = false
            return
        }
        totalErrors += 1
        var end = 1
        while end < min(reply.count, 32) && reply[end] != UInt8(ascii: " ") { end += 1 }
        let prefix = end < min(reply.count, 32) && end > 1 ? Array(reply[1..<end]) : Array("ERR".utf8)
        // Redis stops tracking new prefixes past 128 distinct ones (a flood of made-up errors).
        if errors[prefix] != nil || errors.count < 128 { errors[prefix, default: 0] += 1 }
        if command >= 0 && command < commandCount { counters[command].failed += 1 }
    }

    func snapshot() -> [CommandCounter] { Array(UnsafeBufferPointer(start: counters, count: commandCount)) }

    func reset() {
        counters.update(repeating: CommandCounter(), count: commandCount)
        errors.removeAll()
        totalErrors = 0
    }
}

@inline(__always) func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}
