/// A growable array in memory of its own, for the slabs of a structure one thread owns
/// (IntentLocks' requests and key queues): an element is read and written in place through
/// the pointer. An Array stored in a class checks its uniqueness on every write through
/// a subscript and retains an element's own arrays on reads; in IntentLocks that was
/// about a fifth of queueing and granting a request. Not copyable: its owner frees it.
/// (Also the Server module's TransactionLock keys, handed to IntentLocks in place.)
public struct SlabBuffer<Element>: ~Copyable {
    @usableFromInline var base: UnsafeMutablePointer<Element>
    @usableFromInline internal(set) var storedCount = 0
    @inlinable public var count: Int { storedCount }
    @usableFromInline var capacity: Int

    public init(capacity: Int = 16) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    @inlinable public var indices: Range<Int> { 0..<count }

    /// The elements `range`, in place: valid until the next append or removeAll.
    @inlinable public func elements(_ range: Range<Int>) -> UnsafeBufferPointer<Element> {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "SlabBuffer range out of bounds")
        return UnsafeBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    /// Empties it, keeping its memory.
    @inlinable public mutating func removeAll() {
        base.deinitialize(count: count)
        storedCount = 0
    }

    @inline(__always) public subscript(i: Int) -> Element {
        unsafeAddress {
            assert(i >= 0 && i < count, "SlabBuffer index out of range")
            return UnsafePointer(base + i)
        }
        nonmutating unsafeMutableAddress {
            assert(i >= 0 && i < count, "SlabBuffer index out of range")
            return base + i
        }
    }

    /// Appends `element`; returns its index.
    @discardableResult
    @inlinable public mutating func append(_ element: consuming Element) -> Int {
        if count == capacity {
            let larger = UnsafeMutablePointer<Element>.allocate(capacity: capacity * 2)
            larger.moveInitialize(from: base, count: count)
            base.deallocate()
            base = larger
            capacity *= 2
        }
        (base + count).initialize(to: element)
        storedCount += 1
        return count - 1
    }

    /// Inserts `elements` before index `i`, moving the ones from `i` on up in one block.
    @inlinable public mutating func insert(contentsOf elements: UnsafeBufferPointer<Element>, at i: Int) {
        precondition(i >= 0 && i <= count, "SlabBuffer index out of range")
        let n = elements.count
        guard n > 0 else { return }
        if count + n > capacity {
            let newCapacity = max(capacity * 2, count + n)
            let larger = UnsafeMutablePointer<Element>.allocate(capacity: newCapacity)
            larger.moveInitialize(from: base, count: count)
            base.deallocate()
            base = larger
            capacity = newCapacity
        }
        (base + i + n).moveInitialize(from: base + i, count: count - i)  // regions may overlap
        (base + i).initialize(from: elements.baseAddress!, count: n)
        storedCount += n
    }
}
