/// A growable array in memory of its own, for the slabs of a structure one thread owns
/// (IntentLocks' requests and key queues): an element is read and written in place through
/// the pointer. An Array stored in a class checks its uniqueness on every write through
/// a subscript and retains an element's own arrays on reads; in IntentLocks that was
/// about a fifth of queueing and granting a request. Not copyable: its owner frees it.
struct SlabBuffer<Element>: ~Copyable {
    private var base: UnsafeMutablePointer<Element>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int = 16) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    var indices: Range<Int> { 0..<count }

    @inline(__always) subscript(i: Int) -> Element {
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
    mutating func append(_ element: consuming Element) -> Int {
        if count == capacity {
            let larger = UnsafeMutablePointer<Element>.allocate(capacity: capacity * 2)
            larger.moveInitialize(from: base, count: count)
            base.deallocate()
            base = larger
            capacity *= 2
        }
        (base + count).initialize(to: element)
        count += 1
        return count - 1
    }
}
