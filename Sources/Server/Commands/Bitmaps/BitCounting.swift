import RESP
import Shards

/// BITCOUNT and BITPOS (bitcountCommand, bitposCommand of Redis 7.0): ranges in bytes, or
/// in bits with BIT, negative from the end; the edge bytes of a bit range are masked.
enum BitCounting {
    /// Bits set in `bytes` (redisPopcount), eight bytes at a time.
    static func popcount(_ bytes: UnsafeRawBufferPointer) -> Int {
        var count = 0
        var i = 0
        let n = bytes.count
        while i + 8 <= n {
            count += bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self).nonzeroBitCount
            i += 8
        }
        while i < n {
            count += bytes[i].nonzeroBitCount
            i += 1
        }
        return count
    }

    /// Position of the first bit equal to `bit` in `bytes` (redisBitpos): for 0, past the
    /// end (count * 8) if there is none (the string is taken as zero-padded); for 1, -1.
    static func firstBit(_ bit: Int, in bytes: UnsafeRawBufferPointer) -> Int {
        let skip: UInt64 = bit == 1 ? 0 : .max
        var i = 0
        while i + 8 <= bytes.count && bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) == skip { i += 8 }
        while i < bytes.count {
            let b = bytes[i]
            if bit == 1 ? b != 0 : b != 0xFF {
                let inByte = bit == 1 ? b.leadingZeroBitCount : (~b).leadingZeroBitCount
                return i * 8 + inByte
            }
            i += 1
        }
        return bit == 1 ? -1 : bytes.count * 8
    }

    /// A range as Redis normalizes it (negative from the end, clamped), in bytes, with the
    /// masks of the bits outside it in its first and last byte for a BIT range. Nil: empty.
    private struct ByteRange {
        var start: Int
        var end: Int
        var firstMask: UInt8 = 0
        var lastMask: UInt8 = 0
    }

    private static func normalize(start: Int, end: Int, length: Int, bits: Bool) -> ByteRange {
        let total = bits ? length << 3 : length
        var start = start, end = end
        if start < 0 { start = total + start }
        if end < 0 { end = total + end }
        if start < 0 { start = 0 }
        if end < 0 { end = 0 }
        if end >= total { end = total - 1 }
        var range = ByteRange(start: start, end: end)
        if bits && start <= end {
            range.firstMask = ~UInt8(truncatingIfNeeded: (1 << (8 - (start & 7))) - 1)
            range.lastMask = UInt8(truncatingIfNeeded: (1 << (7 - (end & 7))) - 1)
            range.start = start >> 3
            range.end = end >> 3
        }
        return range
    }

    /// BYTE or BIT, or nil after a syntax error reply.
    private static func unitIsBit(_ arg: UnsafeRawBufferPointer, _ out: inout ByteBuffer) -> Bool? {
        if argIs(arg, "bit") { return true }
        if argIs(arg, "byte") { return false }
        out.writeError(Errors.syntax)
        return nil
    }

    /// BITCOUNT key [start end [BYTE|BIT]]: as 7.0, the key is looked up before the range
    /// is parsed (a missing key counts 0 whatever follows).
    static func bitcount(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let e = ctx.shard.lookupForRead(db: ctx.db, key: args[1]) else { out.writeInteger(0); return }
        guard e.kind == .string else { out.writeError(Errors.wrongType); return }
        let value = e.value
        var range: ByteRange
        switch args.count {
        case 4, 5:
            guard let start = args.integer(2), let end = args.integer(3) else { out.writeError(Errors.notInteger); return }
            if start < 0 && end < 0 && start > end { out.writeInteger(0); return }
            var bits = false
            if args.count == 5 {
                guard let unit = unitIsBit(args[4], &out) else { return }
                bits = unit
            }
            range = normalize(start: start, end: end, length: value.count, bits: bits)
        case 2:
            range = ByteRange(start: 0, end: value.count - 1)
        default:
            out.writeError(Errors.syntax)
            return
        }
        guard range.start <= range.end else { out.writeInteger(0); return }
        var count = popcount(UnsafeRawBufferPointer(rebasing: value[range.start...range.end]))
        count -= (value[range.start] & range.firstMask).nonzeroBitCount
        count -= (value[range.end] & range.lastMask).nonzeroBitCount
        out.writeInteger(count)
    }

    /// BITPOS key bit [start [end [BYTE|BIT]]]: the bit is checked first, then a missing
    /// key answers at once (no 1 anywhere; a 0 at the start), then the range is parsed.
    static func bitpos(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        guard let bit = args.integer(2) else { out.writeError(Errors.notInteger); return }
        guard bit == 0 || bit == 1 else { out.writeError("ERR The bit argument must be 1 or 0."); return }
        guard let e = ctx.shard.lookupForRead(db: ctx.db, key: args[1]) else { out.writeInteger(bit == 1 ? -1 : 0); return }
        guard e.kind == .string else { out.writeError(Errors.wrongType); return }
        let value = e.value
        var range: ByteRange
        var endGiven = false
        switch args.count {
        case 4, 5, 6:
            guard let start = args.integer(3) else { out.writeError(Errors.notInteger); return }
            var bits = false
            if args.count == 6 {
                guard let unit = unitIsBit(args[5], &out) else { return }
                bits = unit
            }
            var end: Int
            if args.count >= 5 {
                guard let given = args.integer(4) else { out.writeError(Errors.notInteger); return }
                end = given
                endGiven = true
            } else {
                end = bits ? (value.count << 3) + 7 : value.count - 1
            }
            range = normalize(start: start, end: end, length: value.count, bits: bits)
        case 3:
            range = ByteRange(start: 0, end: value.count - 1)
        default:
            out.writeError(Errors.syntax)
            return
        }
        guard range.start <= range.end else { out.writeInteger(-1); return }
        let position = search(bit, in: value, range)
        // With an explicit end, a clear bit found just past the range is not in it.
        if endGiven && bit == 0 && position.found == position.scannedBytes << 3 {
            out.writeInteger(-1)
            return
        }
        out.writeInteger(position.found == -1 ? -1 : position.found + (position.from << 3))
    }

    /// bitposCommand's search over `range`, the masked edge bytes taken apart: the bit found
    /// (relative to byte `from`, or -1), and how many bytes the last search step covered.
    private static func search(_ bit: Int, in value: UnsafeRawBufferPointer, _ range: ByteRange)
        -> (found: Int, from: Int, scannedBytes: Int) {
        var start = range.start
        var bytes = range.end - range.start + 1
        func edge(_ byte: UInt8, _ mask: UInt8) -> UInt8 { bit == 1 ? byte & ~mask : byte | mask }
        if range.firstMask != 0 {
            var first = edge(value[start], range.firstMask)
            if range.lastMask != 0 && bytes == 1 { first = edge(first, range.lastMask) }
            let found = withUnsafeBytes(of: first) { firstBit(bit, in: $0) }
            if bytes == 1 || (found != -1 && found != 8) { return (found, start, bytes) }
            start += 1
            bytes -= 1
        }
        let whole = bytes - (range.lastMask != 0 ? 1 : 0)
        if whole > 0 {
            let found = firstBit(bit, in: UnsafeRawBufferPointer(rebasing: value[start..<(start + whole)]))
            if bytes == whole || (found != -1 && found != whole << 3) { return (found, start, bytes) }
            start += whole
            bytes -= whole
        }
        let last = edge(value[range.end], range.lastMask)
        return (withUnsafeBytes(of: last) { firstBit(bit, in: $0) }, start, bytes)
    }
}
