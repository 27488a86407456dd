extension Array where Element: BitwiseCopyable {
    /// `removeAll(keepingCapacity: true)` for the short scratch lists of the hot paths (lock
    /// queues, batches, an operation's parts). That call goes through the generic
    /// `replaceSubrange` (~85 instructions, however few elements); dropping up to four
    /// plain elements one by one costs a few each.
    @inlinable @inline(__always)
    public mutating func clearKeepingCapacity() {
        if count > 4 {
            removeAll(keepingCapacity: true)
        } else {
            while !isEmpty { removeLast() }
        }
    }
}
