/// Top-level command names to table rows, for the lookup every request starts with.
///
/// An open-addressing table over the names' bytes, hashed with ASCII case folded, so a
/// lookup costs one short hash of the name, usually one probe and one case-insensitive
/// compare; names of up to 8 bytes have a table of their own keyed by the folded word. It replaced a scan of the names of the same length: with ~60 four-letter
/// commands (INCR, EXEC, MGET, HSET...) that scan cost ~570 instructions per command, 8% of
/// a cross-shard transaction. Built once at start-up; read-only afterwards, by every worker.
/// The bytes and slots sit in buffers of its own (not arrays): reading them costs no
/// retain, release or bounds check.
final class CommandNameIndex: @unchecked Sendable {  // immutable after init, read by every worker thread
    private struct Slot {
        var offset: UInt32 = 0
        /// 0: empty.
        var length: UInt16 = 0
        var row: UInt16 = 0
    }

    /// Every name, lowercase, back to back.
    private let names: UnsafeMutableBufferPointer<UInt8>
    /// A power of two at least four times the names' count, so probes stay short.
    private let slots: UnsafeMutableBufferPointer<Slot>
    private let mask: Int

    /// Names of up to 8 bytes (GET, HSET, ZPOPMIN: nearly every request) as one folded word
    /// each, hashed by one multiply: a lookup folds the name into a word and compares it
    /// whole (~40 instructions for HSET where the byte-wise hash and compare took ~115).
    private struct ShortSlot {
        var word: UInt64 = 0
        /// 0: empty.
        var length: UInt16 = 0
        var row: UInt16 = 0
    }
    private let shortSlots: UnsafeMutableBufferPointer<ShortSlot>
    private let shortShift: UInt64
    private let shortMask: Int

    init(_ entries: [(name: String, row: UInt16)]) {
        var size = 8
        while size < entries.count * 4 { size *= 2 }
        var names: [UInt8] = []
        var slots = [Slot](repeating: Slot(), count: size)
        for (name, row) in entries {
            let bytes = Array(name.utf8)
            precondition(!bytes.isEmpty && bytes.count <= Int(UInt16.max))
            let offset = UInt32(names.count)
            names.append(contentsOf: bytes)
            var i = bytes.withUnsafeBytes { Int(CommandNameIndex.hash($0)) } & (size - 1)
            while slots[i].length != 0 { i = (i + 1) & (size - 1) }
            slots[i] = Slot(offset: offset, length: UInt16(bytes.count), row: row)
        }
        self.names = .allocate(capacity: max(names.count, 1))
        _ = self.names.initialize(from: names)
        self.slots = .allocate(capacity: size)
        _ = self.slots.initialize(from: slots)
        mask = size - 1

        var shortBits: UInt64 = 3
        while (1 << shortBits) < entries.count * 4 { shortBits += 1 }
        let shortSize = 1 << Int(shortBits)
        var shortSlots = [ShortSlot](repeating: ShortSlot(), count: shortSize)
        for (name, row) in entries where name.utf8.count <= 8 {
            let bytes = Array(name.utf8)
            let word = bytes.withUnsafeBytes { CommandNameIndex.foldedWord($0) }
            var i = Int(CommandNameIndex.shortHash(word, shift: 64 - shortBits))
            while shortSlots[i].length != 0 { i = (i + 1) & (shortSize - 1) }
            shortSlots[i] = ShortSlot(word: word, length: UInt16(bytes.count), row: row)
        }
        self.shortSlots = .allocate(capacity: shortSize)
        _ = self.shortSlots.initialize(from: shortSlots)
        shortShift = 64 - shortBits
        shortMask = shortSize - 1
    }

    deinit {
        names.deallocate()
        slots.deallocate()
        shortSlots.deallocate()
    }

    /// The bytes (1 to 8) little-endian in a word, ASCII letters folded to lowercase: two
    /// overlapping loads (or three byte loads below 4 bytes) and a SWAR fold, no loop (a
    /// byte loop here was vectorized into ~100 instructions).
    @inline(__always)
    private static func foldedWord(_ name: UnsafeRawBufferPointer) -> UInt64 {
        let p = name.baseAddress.unsafelyUnwrapped
        let n = name.count
        var word: UInt64
        if n >= 4 {
            let low = UInt64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
            let high = UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)))
            word = low | high &<< UInt64((n - 4) &* 8)
        } else {
            let middle = n >> 1
            word = UInt64(p.load(as: UInt8.self))
                | UInt64(p.load(fromByteOffset: middle, as: UInt8.self)) &<< UInt64(middle &* 8)
                | UInt64(p.load(fromByteOffset: n - 1, as: UInt8.self)) &<< UInt64((n - 1) &* 8)
        }
        // Per byte: high bit of low7 + 0x3F set from 'A' up, of low7 + 0x25 from '[' up;
        // bytes from 0x80 up are not letters.
        let low7 = word & 0x7F7F_7F7F_7F7F_7F7F
        let upper = (low7 &+ 0x3F3F_3F3F_3F3F_3F3F) & ~(low7 &+ 0x2525_2525_2525_2525) & ~word & 0x8080_8080_8080_8080
        return word | upper &>> 2
    }

    @inline(__always)
    private static func shortHash(_ word: UInt64, shift: UInt64) -> UInt64 {
        (word &* 0x9E37_79B9_7F4A_7C15) &>> shift
    }

    /// The row of `name` in any letter case, or nil.
    @inline(__always)
    func row(of name: UnsafeRawBufferPointer) -> UInt16? {
        guard !name.isEmpty else { return nil }
        if name.count <= 8 {
            let word = CommandNameIndex.foldedWord(name)
            let slots = shortSlots.baseAddress.unsafelyUnwrapped
            var i = Int(CommandNameIndex.shortHash(word, shift: shortShift))
            while true {
                let slot = slots[i]
                if slot.word == word && Int(slot.length) == name.count { return slot.row }
                if slot.length == 0 { return nil }
                i = (i + 1) & shortMask
            }
        }
        var i = Int(CommandNameIndex.hash(name)) & mask
        while true {
            let slot = slots.baseAddress.unsafelyUnwrapped[i]
            if slot.length == 0 { return nil }
            if Int(slot.length) == name.count
                && CommandNameIndex.equalsFolded(name, names.baseAddress.unsafelyUnwrapped + Int(slot.offset)) {
                return slot.row
            }
            i = (i + 1) & mask
        }
    }

    /// FNV-1a over the bytes with ASCII letters folded to lowercase (`| 0x20` also folds a few
    /// non-letters together: that only costs a probe, the compare is exact).
    @inline(__always)
    private static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in bytes { h = (h ^ UInt32(b | 0x20)) &* 16_777_619 }
        return h ^ (h >> 15)
    }

    @inline(__always)
    private static func equalsFolded(_ a: UnsafeRawBufferPointer, _ lowercase: UnsafePointer<UInt8>) -> Bool {
        for i in 0..<a.count {
            var c = a[i]
            if c &- 65 < 26 { c |= 0x20 }
            if c != lowercase[i] { return false }
        }
        return true
    }
}
