import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The client classes of `client-output-buffer-limit` (Redis's CLIENT_TYPE_NORMAL, SLAVE and
/// PUBSUB). A master link counts as normal, as in Redis.
enum OutputBufferClass: Int, Sendable, CaseIterable {
    case normal = 0, replica, pubsub

    /// The class's name in the config value.
    var configName: String { ["normal", "slave", "pubsub"][rawValue] }

    /// Redis's getClientTypeByName, for the config: "master" is no class here.
    init?(configName name: String) {
        switch name.lowercased() {
        case "normal": self = .normal
        case "slave", "replica": self = .replica
        case "pubsub": self = .pubsub
        default: return nil
        }
    }
}

/// One class's limits: a client is dropped when its pending output reaches `hardBytes`, or
/// stays at or above `softBytes` for more than `softSeconds` (a zero byte count disables).
struct OutputBufferLimit: Equatable, Sendable {
    var hardBytes: UInt64
    var softBytes: UInt64
    var softSeconds: Int

    var isDisabled: Bool { hardBytes == 0 && softBytes == 0 }

    /// Redis's checkClientOutputBufferLimits, evaluated each time the output grows. `softSince`
    /// is the second the usage was first seen over the soft limit (0: not over); the soft
    /// limit counts only once more than `softSeconds` whole seconds have passed since.
    func reached(usage: UInt64, nowSeconds: Int64, softSince: inout Int64) -> Bool {
        let hard = hardBytes > 0 && usage >= hardBytes
        var soft = softBytes > 0 && usage >= softBytes
        if soft {
            if softSince == 0 {
                softSince = nowSeconds
                soft = false
            } else if nowSeconds - softSince <= Int64(softSeconds) {
                soft = false
            }
        } else {
            softSince = 0
        }
        return soft || hard
    }

    /// The limits of `cls` in a stored config value ("normal h s sec slave h s sec pubsub h s sec").
    static func parse(_ value: String, for cls: OutputBufferClass) -> OutputBufferLimit {
        let words = value.split(separator: " ")
        var i = 0
        while i + 3 < words.count {
            if OutputBufferClass(configName: String(words[i])) == cls {
                return OutputBufferLimit(hardBytes: UInt64(words[i + 1]) ?? 0, softBytes: UInt64(words[i + 2]) ?? 0,
                                         softSeconds: Int(words[i + 3]) ?? 0)
            }
            i += 4
        }
        return OutputBufferLimit(hardBytes: 0, softBytes: 0, softSeconds: 0)
    }
}

/// The current limits per class, read by the workers without the config lock (a client's
/// check may see a CONFIG SET half applied: harmless).
final class OutputBufferLimitTable: Sendable {
    private final class Cell: Sendable {
        let hard = Atomic<UInt64>(0)
        let soft = Atomic<UInt64>(0)
        let seconds = Atomic<Int>(0)
    }
    private let cells = OutputBufferClass.allCases.map { _ in Cell() }

    func limit(_ cls: OutputBufferClass) -> OutputBufferLimit {
        let cell = cells[cls.rawValue]
        return OutputBufferLimit(hardBytes: cell.hard.load(ordering: .relaxed), softBytes: cell.soft.load(ordering: .relaxed),
                                 softSeconds: cell.seconds.load(ordering: .relaxed))
    }

    func publish(_ configValue: String) {
        for cls in OutputBufferClass.allCases {
            let l = OutputBufferLimit.parse(configValue, for: cls), cell = cells[cls.rawValue]
            cell.hard.store(l.hardBytes, ordering: .relaxed)
            cell.soft.store(l.softBytes, ordering: .relaxed)
            cell.seconds.store(l.softSeconds, ordering: .relaxed)
        }
    }
}

/// A client's pending output as Redis would hold it, which CLIENT LIST reports and the limits
/// count: the first 16 KB in the client's static buffer (`obl`), the rest in a list of 16 KB
/// reply blocks (`oll`), whose memory with the list's bookkeeping is `omem`. Only `omem` counts
/// against the limits, as Redis's getClientOutputBufferMemoryUsage counts only the list.
struct ReplyMemory {
    /// PROTO_REPLY_CHUNK_BYTES: Redis's static reply buffer, and the size of a reply block.
    static let bufferBytes = 16 * 1024
    /// sizeof(listNode) + sizeof(clientReplyBlock), per block.
    static let blockOverhead = 40

    let bufferedBytes: Int
    let blocks: Int
    var listBytes: Int { blocks * (Self.bufferBytes + Self.blockOverhead) }

    init(pending: Int) {
        bufferedBytes = min(pending, Self.bufferBytes)
        let rest = pending - bufferedBytes
        blocks = (rest + Self.bufferBytes - 1) / Self.bufferBytes
    }
}

/// The soft-seconds field as Redis's config reads it: strtoll (leading blanks, a sign, 64-bit
/// saturation; no digits at all reads 0) stored in a C int, refused if that is negative or if
/// anything follows the number.
func parseSoftSeconds(_ text: String) -> Int? {
    text.withCString { start -> Int? in
        var end: UnsafeMutablePointer<CChar>?
        let value = strtoll(start, &end, 10)
        guard let end, end.pointee == 0 else { return nil }
        let asInt = Int32(truncatingIfNeeded: value)
        return asInt >= 0 ? Int(asInt) : nil
    }
}

extension Worker {
    /// Redis's closeClientOnOutputBufferLimitReached(c, async: 1), called when a reply leaves
    /// more than the 16 KB static buffer pending. A client over its class's limit is logged
    /// as Redis logs it, its output is dropped, it reads and runs nothing more, and it is
    /// closed when the loop flushes clients (before any of its output is written).
    func enforceOutputLimit(_ c: Client) {
        guard !c.closeASAP, outputLimitReached(c) else { return }
        Log.warning("Client \(ClientCommands.infoLine(c, now: nowMs, argvMemory: 0)) scheduled to be closed ASAP "
                    + "for overcoming of output buffer limits.")
        c.closeASAP = true
        c.output.clear()
    }

    /// Redis's clientsCron check (closeClientOnOutputBufferLimitReached(c, 0)), on each timer
    /// tick: a client that stays over its soft limit with no new reply is closed once the
    /// soft limit's seconds have passed. Only classes with a limit are looked at.
    func closeClientsOverOutputLimits() {
        let limited = OutputBufferClass.allCases.map { !LiveConfig.outputLimits.limit($0).isDisabled }
        guard limited.contains(true) else { return }
        var over: [Client] = []
        for c in clients.open where !c.isClosed && !c.closeASAP && limited[c.outputClass.rawValue]
            && c.pendingOutputBytes > ReplyMemory.bufferBytes && outputLimitReached(c) {
            over.append(c)
        }
        for c in over {
            Log.warning("Client \(ClientCommands.infoLine(c, now: nowMs, argvMemory: 0)) closed "
                        + "for overcoming of output buffer limits.")
            closeClient(c)
        }
    }

    private func outputLimitReached(_ c: Client) -> Bool {
        let usage = ReplyMemory(pending: c.pendingOutputBytes).listBytes
        let limit = LiveConfig.outputLimits.limit(c.outputClass)
        return limit.reached(usage: UInt64(usage), nowSeconds: nowMs / 1000, softSince: &c.softLimitSince)
    }
}
