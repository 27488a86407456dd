import Values
/// SHA-1 (FIPS 180-1), for DEBUG DIGEST, which Redis computes with it: not for security.
struct SHA1 {
    private var h: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)
    private var block = [UInt8](repeating: 0, count: 64)
    private var blockCount = 0
    private var length: UInt64 = 0

    static func hash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var s = SHA1()
        s.update(bytes)
        return s.finish()
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        length &+= UInt64(bytes.count)
        for b in bytes {
            block[blockCount] = b
            blockCount += 1
            if blockCount == 64 { compress(); blockCount = 0 }
        }
    }

    mutating func finish() -> [UInt8] {
        let bits = length &* 8
        var pad: [UInt8] = [0x80]
        while (blockCount + pad.count) % 64 != 56 { pad.append(0) }
        for i in (0..<8).reversed() { pad.append(UInt8(truncatingIfNeeded: bits >> (UInt64(i) * 8))) }
        let saved = length
        pad.withUnsafeBytes { update($0) }
        length = saved
        var out: [UInt8] = []
        for word in [h.0, h.1, h.2, h.3, h.4] {
            out += [UInt8(word >> 24), UInt8(truncatingIfNeeded: word >> 16), UInt8(truncatingIfNeeded: word >> 8),
                    UInt8(truncatingIfNeeded: word)]
        }
        return out
    }

    private mutating func compress() {
        var w = [UInt32](repeating: 0, count: 80)
        for i in 0..<16 {
            w[i] = UInt32(block[4 * i]) << 24 | UInt32(block[4 * i + 1]) << 16 | UInt32(block[4 * i + 2]) << 8
                | UInt32(block[4 * i + 3])
        }
        for i in 16..<80 {
            let x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]
            w[i] = x << 1 | x >> 31
        }
        var (a, b, c, d, e) = h
        for i in 0..<80 {
            let f: UInt32, k: UInt32
            switch i {
            case 0..<20: f = (b & c) | (~b & d); k = 0x5A827999
            case 20..<40: f = b ^ c ^ d; k = 0x6ED9EBA1
            case 40..<60: f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC
            default: f = b ^ c ^ d; k = 0xCA62C1D6
            }
            let t = (a << 5 | a >> 27) &+ f &+ e &+ k &+ w[i]
            e = d; d = c; c = b << 30 | b >> 2; b = a; a = t
        }
        h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e)
    }
}

/// Redis's dataset digest arithmetic (debug.c): a 20-byte digest that keys are XORed into
/// (so order does not matter) and values mixed into (so it does).
enum Digest {
    /// The digest as value types mix themselves into it.
    struct State: ValueDigest {
        var bytes: [UInt8]
        mutating func mix(_ data: UnsafeRawBufferPointer) { Digest.mix(&bytes, data) }
        mutating func mix(bigEndian value: UInt32) { Digest.mix(&bytes, bigEndian: value) }
        mutating func xor(_ data: UnsafeRawBufferPointer) { Digest.xor(&bytes, data) }
        mutating func xorMixed(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) {
            var element = [UInt8](repeating: 0, count: 20)
            Digest.mix(&element, first)
            Digest.mix(&element, second)
            element.withUnsafeBytes { Digest.xor(&bytes, $0) }
        }
    }

    static func xor(_ digest: inout [UInt8], _ bytes: UnsafeRawBufferPointer) {
        let hash = SHA1.hash(bytes)
        for j in 0..<20 { digest[j] ^= hash[j] }
    }

    static func mix(_ digest: inout [UInt8], _ bytes: UnsafeRawBufferPointer) {
        xor(&digest, bytes)
        digest = digest.withUnsafeBytes { SHA1.hash($0) }
    }

    static func mix(_ digest: inout [UInt8], bigEndian value: UInt32) {
        var v = value.bigEndian
        withUnsafeBytes(of: &v) { mix(&digest, $0) }
    }

    static func hex(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        return String(digest.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
    }
}

import RESP
import Shards

/// DEBUG DIGEST and DIGEST-VALUE (Redis's computeDatasetDigest / xorObjectDigest): the same
/// 40 hex digits as Redis for the same data, so a master and its replicas can be compared
/// whichever server each one is.
enum DatasetDigest {
    /// A key's digest: its name mixed in (DIGEST; DIGEST-VALUE leaves it out), then its
    /// type, its value, and a mark if it has a TTL.
    static func digest(of e: Entry, includingKey: Bool) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 20)
        if includingKey { Digest.mix(&digest, e.key) }
        if e.kind == .string {
            Digest.mix(&digest, bigEndian: 0)   // OBJ_STRING
            Digest.mix(&digest, e.value)
        } else if let value = e.object as? any ValueType {
            var state = Digest.State(bytes: digest)
            value.digest(into: &state)
            digest = state.bytes
        }
        if e.expireAt != 0 {
            let mark = Array("!!expire!!".utf8)
            mark.withUnsafeBytes { Digest.xor(&digest, $0) }
        }
        return digest
    }

    /// `__digest`: for each database with keys on this shard, its index, key count and the
    /// XOR of its keys' digests as Redis folds them (`xorDigest`: the SHA-1 of each key's
    /// digest; XOR, so the order keys are visited in does not matter). Keys past their
    /// deadline but not yet deleted count, as in Redis's walk of its dict.
    static let shardPart: ShardHandler = { ctx, _, out in
        let shard = ctx.shard
        for db in 0..<shard.databaseCount where shard.keyCount(db: db) > 0 {
            var combined = [UInt8](repeating: 0, count: 20)
            shard.forEachStored(db: db) { e in
                let d = digest(of: e, includingKey: true)
                d.withUnsafeBytes { Digest.xor(&combined, $0) }
            }
            var header = (UInt32(db), UInt32(shard.keyCount(db: db)))
            withUnsafeBytes(of: &header) { out.append($0) }
            combined.withUnsafeBytes { out.append($0) }
        }
    }

    /// `__digest_value key...`: each key's value digest if this shard has it, else zeros.
    static let valuePart: ShardHandler = { ctx, args, out in
        for i in 2..<args.count {
            // Not `lookup`: Redis reads the dict directly, so an expired key still has a digest.
            let d = ctx.shard.storedEntry(db: ctx.db, key: args[i]).map { digest(of: $0, includingKey: false) }
                ?? [UInt8](repeating: 0, count: 20)
            d.withUnsafeBytes { out.append($0) }
        }
    }

    /// Folds the shards' per-database parts as Redis walks its databases: the database's
    /// index mixed in, then its keys XORed in.
    static func combine(_ parts: [UnsafeRawBufferPointer], databases: Int) -> [UInt8] {
        var perDB = [[UInt8]?](repeating: nil, count: databases)
        for part in parts {
            var o = 0
            while o + 28 <= part.count {
                let db = Int(part.loadUnaligned(fromByteOffset: o, as: UInt32.self))
                var d = perDB[db] ?? [UInt8](repeating: 0, count: 20)
                for j in 0..<20 { d[j] ^= part[o + 8 + j] }
                perDB[db] = d
                o += 28
            }
        }
        var final = [UInt8](repeating: 0, count: 20)
        for db in 0..<databases {
            guard let d = perDB[db] else { continue }
            Digest.mix(&final, bigEndian: UInt32(db))
            for j in 0..<20 { final[j] ^= d[j] }
        }
        return final
    }
}
