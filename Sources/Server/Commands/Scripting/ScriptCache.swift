import CShim
import Synchronization

/// The script cache every worker sees: SHA1 to body, for EVALSHA on whichever worker a
/// client lands. Each worker's interpreter keeps the functions it compiled (its local
/// cache, no lock); only a local miss (an EVALSHA of a script this worker has never
/// compiled, SCRIPT EXISTS) takes this mutex. Scripts are only added, until SCRIPT FLUSH
/// empties it and bumps `generation`; a worker that sees a new generation at its next
/// script drops its interpreter, as Redis resets its Lua state on flush.
final class ScriptCache: Sendable {
    static let shared = ScriptCache()

    private let bodies = Mutex<[String: [UInt8]]>([:])
    private let flushes = Atomic<Int>(0)

    /// How many flushes have happened: an interpreter older than this is stale.
    var generation: Int { flushes.load(ordering: .acquiring) }

    func body(of sha: String) -> [UInt8]? {
        bodies.withLock { $0[sha] }
    }

    func contains(_ sha: String) -> Bool {
        bodies.withLock { $0[sha] != nil }
    }

    func add(sha: String, body: [UInt8]) {
        bodies.withLock { if $0[sha] == nil { $0[sha] = body } }
    }

    func flush() {
        bodies.withLock { $0.removeAll() }
        flushes.add(1, ordering: .releasing)
    }

    var count: Int { bodies.withLock { $0.count } }
}

/// A script's SHA1 as Redis names it: 40 lowercase hex digits.
func scriptSHA(_ body: UnsafeRawBufferPointer) -> String {
    var hex = [CChar](repeating: 0, count: 41)
    vk_sha1hex(body.baseAddress, body.count, &hex)
    return String(decoding: hex.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
