import RESP
import Synchronization

/// Scripts and functions known to reach keys of several shards: those whose single-shard
/// run was abandoned because it touched another shard, and those flagged
/// `allow-cross-slot-keys`. Their later runs go straight to the multi-shard path
/// (ScriptCommands.runOnHome), with no second abandoned run.
///
/// Server-wide and lock-free: a set of 64K bits, each script's keys (its SHA1, its body,
/// a function's lowercased name) hashed to one bit. A collision only sends an unrelated
/// script to the multi-shard path (correct, slower), never the reverse. While nothing was
/// learned (the common case) the EVALSHA path pays one relaxed load. SCRIPT FLUSH and any
/// change of the function libraries forget everything: scripts learn again at one
/// abandoned run each.
final class ScriptsAcrossShards: Sendable {
    static let shared = ScriptsAcrossShards()

    private final class Word: Sendable {
        let bits = Atomic<UInt64>(0)
    }
    private static let wordCount = 1024
    private let words: [Word] = (0..<ScriptsAcrossShards.wordCount).map { _ in Word() }
    private let learned = Atomic<Int>(0)

    /// Nothing learned since start-up or the last forgetAll.
    var isEmpty: Bool { learned.load(ordering: .relaxed) == 0 }

    func contains(_ key: UInt32) -> Bool {
        let bit = Int(key) & (Self.wordCount * 64 - 1)
        return words[bit >> 6].bits.load(ordering: .relaxed) & (1 << UInt64(bit & 63)) != 0
    }

    func learn(_ key: UInt32) {
        let bit = Int(key) & (Self.wordCount * 64 - 1)
        words[bit >> 6].bits.bitwiseOr(1 << UInt64(bit & 63), ordering: .relaxed)
        learned.add(1, ordering: .relaxed)
    }

    func forgetAll() {
        guard !isEmpty else { return }
        for w in words { w.bits.store(0, ordering: .relaxed) }
        learned.store(0, ordering: .relaxed)
    }

    /// The bit keys: FNV-1a, each kind with its own seed. SHA1s and function names ignore
    /// case (EVALSHA accepts either; function names are case-insensitive).
    static func key(sha: UnsafeRawBufferPointer) -> UInt32 { hash(sha, seed: 0x811C_9DC5, foldCase: true) }
    static func key(body: UnsafeRawBufferPointer) -> UInt32 { hash(body, seed: 0x0100_0193, foldCase: false) }
    static func key(function: UnsafeRawBufferPointer) -> UInt32 { hash(function, seed: 0x5BD1_E995, foldCase: true) }

    private static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt32, foldCase: Bool) -> UInt32 {
        var h = seed
        for b in bytes {
            h = (h ^ UInt32(foldCase && b >= 65 && b <= 90 ? b | 0x20 : b)) &* 0x0100_0193
        }
        return h ^ (h >> 15)
    }
}
