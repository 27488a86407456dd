import Shards
#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` with the bytes of `text` as a key or value view.
func withBytes<R>(_ text: String, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    Array(text.utf8).withUnsafeBytes(body)
}

func string(_ bytes: UnsafeRawBufferPointer) -> String { String(decoding: bytes, as: UTF8.self) }

/// A string entry for `key` with its real table hash (or a forced one, to build collisions).
func makeEntry(_ key: String, value: String = "v", hash: UInt32? = nil) -> Entry {
    withBytes(key) { k in
        withBytes(value) { v in Entry.makeString(key: k, hash: hash ?? KeyTable.hash(k), value: v) }
    }
}

/// Per-thread allocation counters from jemalloc (`thread.allocated` / `thread.deallocated`):
/// exact for the calling thread whatever other tests allocate meanwhile. nil when malloc
/// is not jemalloc's.
enum ThreadHeap {
    private typealias Mallctl = @convention(c) (UnsafePointer<CChar>?, UnsafeMutableRawPointer?,
                                                UnsafeMutablePointer<Int>?, UnsafeMutableRawPointer?, Int) -> Int32
    private static let mallctl: Mallctl? = {
        guard let symbol = dlsym(nil, "mallctl") else { return nil }
        return unsafeBitCast(symbol, to: Mallctl.self)
    }()

    private static func read(_ name: String) -> UInt64? {
        guard let ctl = mallctl else { return nil }
        var value: UInt64 = 0
        var size = MemoryLayout<UInt64>.size
        return ctl(name, &value, &size, nil, 0) == 0 ? value : nil
    }

    /// Bytes this thread allocated minus bytes it freed, since it started.
    static var net: Int64? {
        guard let a = read("thread.allocated"), let d = read("thread.deallocated") else { return nil }
        return Int64(bitPattern: a &- d)
    }

    /// Bytes this thread has freed so far.
    static var freed: UInt64? { read("thread.deallocated") }

    /// True if malloc is served by the jemalloc whose counters we read.
    static let isActive: Bool = {
        guard let before = read("thread.allocated") else { return false }
        let p = malloc(4096)
        let after = read("thread.allocated") ?? before
        free(p)
        return after >= before + 4096
    }()
}
