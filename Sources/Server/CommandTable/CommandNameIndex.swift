/// Top-level command names to table rows, for the lookup every request starts with.
///
/// An open-addressing table over the names' bytes, hashed with ASCII case folded, so a
/// lookup costs one short hash of the name, usually one probe and one case-insensitive
/// compare. It replaced a scan of the names of the same length: with ~60 four-letter
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
    }

    deinit {
        names.deallocate()
        slots.deallocate()
    }

    /// The row of `name` in any letter case, or nil.
    @inline(__always)
    func row(of name: UnsafeRawBufferPointer) -> UInt16? {
        guard !name.isEmpty else { return nil }
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
