extension Array {
    /// `removeAll(keepingCapacity: true)` for the short scratch lists of the hot paths (lock
    /// queues, batches, an operation's parts). That call goes through the generic
    /// `replaceSubrange` (~85 instructions however few elements, ~180 with the generic
    /// destruction of elements holding references); dropping up to four elements one by
    /// one costs a few each (and a release for a reference).
    @inlinable @inline(__always)
    public mutating func clearKeepingCapacity() {
        if count > 4 {
            removeAll(keepingCapacity: true)
        } else {
            while !isEmpty { removeLast() }
        }
    }
}
