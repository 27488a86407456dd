import Glibc

/// LZF, byte-compatible with liblzf as Redis builds it (lzf_c.c / lzf_d.c with HLOG 16,
/// VERY_FAST, CHECK_INPUT). The format:
///
///     000LLLLL <L+1 literal bytes>
///     LLLooooo oooooooo            back reference of L+2 bytes, offset o+1 back
///     111ooooo LLLLLLLL oooooooo   back reference of L+9 bytes
public enum LZF {
    public static let maxLiteral = 1 << 5
    public static let maxOffset = 1 << 13
    public static let maxReference = (1 << 8) + (1 << 3)
    /// No stream expands more than this: a 3-byte back reference yields at most 264 bytes.
    public static let maxExpansion = 88

    /// Decompresses `input` into `output`; returns the decompressed size, or nil when the
    /// stream is corrupt or does not fit (liblzf's EINVAL and E2BIG).
    public static func decompress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        let inLen = input.count, outLen = output.count
        guard inLen > 0, let src = input.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        guard let dst = output.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        var ip = 0, op = 0
        repeat {
            let ctrl = Int(src[ip])
            ip += 1
            if ctrl < maxLiteral {
                let run = ctrl + 1
                guard op + run <= outLen, ip + run <= inLen else { return nil }
                (dst + op).update(from: src + ip, count: run)
                op += run
                ip += run
            } else {
                var len = ctrl >> 5
                var ref = op - ((ctrl & 0x1f) << 8) - 1
                guard ip < inLen else { return nil }
                if len == 7 {
                    len += Int(src[ip])
                    ip += 1
                    guard ip < inLen else { return nil }
                }
                ref -= Int(src[ip])
                ip += 1
                let count = len + 2
                guard op + count <= outLen, ref >= 0 else { return nil }
                if ref + count <= op {
                    (dst + op).update(from: dst + ref, count: count)
                    op += count
                } else {
                    // Overlapping copy: repeats the last (op - ref) bytes, one byte at a time.
                    for _ in 0..<count {
                        dst[op] = dst[ref]
                        op += 1
                        ref += 1
                    }
                }
            }
        } while ip < inLen
        return op
    }

    /// Decompresses into a new array that must come out exactly `count` bytes long.
    public static func decompress(_ input: [UInt8], count: Int) -> [UInt8]? {
        guard count >= 0, count <= input.count * maxExpansion else { return nil }
        var ok = false
        let out = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            let n = input.withUnsafeBytes { decompress($0, into: UnsafeMutableRawBufferPointer(buffer)) }
            ok = n == count
            initialized = ok ? count : 0
        }
        return ok ? out : nil
    }

    /// Compresses with a throwaway compressor; nil when the result would exceed `limit` bytes.
    public static func compress(_ input: [UInt8], limit: Int? = nil) -> [UInt8]? {
        let compressor = LZFCompressor()
        let capacity = limit ?? (input.count + input.count / 16 + 64)
        guard capacity > 0 else { return nil }
        var n = 0
        let out = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
            n = input.withUnsafeBytes { compressor.compress($0, into: UnsafeMutableRawBufferPointer(buffer)) }
            initialized = n
        }
        return n > 0 ? out : nil
    }
}

/// lzf_compress with its hash table kept between calls (Redis keeps it on the stack, 512 KB).
/// Table entries are stamped with a per-call base so stale ones never count: the output is
/// what liblzf gives with a fresh table, whatever was compressed before.
public final class LZFCompressor {
    private static let hashLog = 16
    private static let hashSize = 1 << hashLog
    private let table: UnsafeMutablePointer<Int>
    private var base = 1

    public init() {
        table = .allocate(capacity: Self.hashSize)
        table.initialize(repeating: 0, count: Self.hashSize)
    }

    deinit { table.deallocate() }

    /// liblzf's IDX for VERY_FAST, in its 32-bit unsigned arithmetic.
    @inline(__always) private static func slot(_ h: UInt32) -> Int {
        Int(((h >> UInt32(3 * 8 - hashLog)) &- h &* 5) & UInt32(hashSize - 1))
    }

    /// Compresses `input` into `output`. Returns the compressed size, or 0 when it does not
    /// fit in `output` (callers then store the bytes verbatim), exactly as lzf_compress.
    public func compress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int {
        let inEnd = input.count, outEnd = output.count
        guard inEnd > 0, outEnd > 0,
              let src = input.baseAddress?.assumingMemoryBound(to: UInt8.self),
              let dst = output.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return 0 }
        let base = self.base
        self.base += inEnd + 1
        let table = self.table
        @inline(__always) func remember(_ h: UInt32, _ ip: Int) { table[Self.slot(h)] = base + ip }

        var ip = 0, op = 0
        var lit = 0
        op += 1  // start run
        var hval: UInt32 = inEnd >= 2 ? UInt32(src[0]) << 8 | UInt32(src[1]) : UInt32(src[0]) << 8
        while ip < inEnd - 2 {
            hval = hval << 8 | UInt32(src[ip + 2])
            let slot = Self.slot(hval)
            let stamped = table[slot]
            table[slot] = base + ip
            let ref = stamped >= base ? stamped - base : -1
            let off = ip - ref - 1
            if ref > 0, ref < ip, off < LZF.maxOffset, ip + 4 < inEnd,
               src[ref] == src[ip], src[ref + 1] == src[ip + 1], src[ref + 2] == src[ip + 2] {
                // Match found: measure it, as liblzf does (bytes [0, len) equal).
                var len = 2
                let maxlen = min(inEnd - ip - len, LZF.maxReference)
                dst[op - lit - 1] = UInt8(truncatingIfNeeded: lit - 1)  // stop run
                if lit == 0 { op -= 1 }  // undo run if length is zero
                if op + 3 + 1 >= outEnd { return 0 }
                measure: do {
                    if maxlen > 16 {
                        for _ in 0..<16 {
                            len += 1
                            if src[ref + len] != src[ip + len] { break measure }
                        }
                    }
                    repeat { len += 1 } while len < maxlen && src[ref + len] == src[ip + len]
                }
                len -= 2  // len is now #octets - 1
                ip += 1
                if len < 7 {
                    dst[op] = UInt8(truncatingIfNeeded: (off >> 8) + (len << 5))
                    op += 1
                } else {
                    dst[op] = UInt8(truncatingIfNeeded: (off >> 8) + (7 << 5))
                    dst[op + 1] = UInt8(truncatingIfNeeded: len - 7)
                    op += 2
                }
                dst[op] = UInt8(truncatingIfNeeded: off)
                op += 1
                lit = 0
                op += 1  // start run
                ip += len + 1
                if ip >= inEnd - 2 { break }
                // VERY_FAST: rehash the last two positions of the match.
                ip -= 2
                hval = UInt32(src[ip]) << 8 | UInt32(src[ip + 1])
                hval = hval << 8 | UInt32(src[ip + 2])
                remember(hval, ip)
                ip += 1
                hval = hval << 8 | UInt32(src[ip + 2])
                remember(hval, ip)
                ip += 1
            } else {
                // One more literal byte.
                if op >= outEnd { return 0 }
                lit += 1
                dst[op] = src[ip]
                op += 1
                ip += 1
                if lit == LZF.maxLiteral {
                    dst[op - lit - 1] = UInt8(lit - 1)  // stop run
                    lit = 0
                    op += 1  // start run
                }
            }
        }
        if op + 3 > outEnd { return 0 }  // at most 3 bytes can be missing here
        while ip < inEnd {
            lit += 1
            dst[op] = src[ip]
            op += 1
            ip += 1
            if lit == LZF.maxLiteral {
                dst[op - lit - 1] = UInt8(lit - 1)
                lit = 0
                op += 1
            }
        }
        dst[op - lit - 1] = UInt8(truncatingIfNeeded: lit - 1)  // end run
        if lit == 0 { op -= 1 }
        return op
    }
}

extension LZFCompressor {
    /// The calling thread's compressor, made on first use (its table is 512 KB): list nodes
    /// are compressed on the thread of the shard that owns them, which hands nothing else
    /// down to a value. Released with the thread.
    public static var ofThisThread: LZFCompressor {
        if let p = pthread_getspecific(threadKey) {
            return Unmanaged<LZFCompressor>.fromOpaque(p).takeUnretainedValue()
        }
        let compressor = LZFCompressor()
        pthread_setspecific(threadKey, Unmanaged.passRetained(compressor).toOpaque())
        return compressor
    }

    private static let threadKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { p in
            if let p { Unmanaged<LZFCompressor>.fromOpaque(p).release() }
        }
        return key
    }()
}
