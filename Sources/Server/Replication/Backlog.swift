#if canImport(Glibc)
import Glibc
#endif

/// The replication stream's recent history (Redis's repl_backlog), and at the same time
/// every replica's output: replicas read from it at their own position, so a byte of the
/// stream is stored once however many replicas there are (as Redis 7's shared replication
/// buffer). Kept in fixed-size chunks; whole chunks are dropped from the front once the
/// history is longer than `repl-backlog-size` and no replica still needs them.
/// Offsets are Redis's: the stream's first byte ever has offset 1; `endOffset` is
/// master_repl_offset (the offset of the last byte).
final class Backlog {
    static let chunkSize = 64 * 1024

    private final class Chunk {
        let base = UnsafeMutableRawPointer.allocate(byteCount: Backlog.chunkSize, alignment: 16)
        var count = 0
        deinit { base.deallocate() }
    }

    private var chunks: [Chunk] = []
    private var firstChunk = 0       // index of the first live chunk (dropped ones are freed in batches)
    /// Offset of the first byte held.
    private(set) var startOffset: Int64
    private(set) var endOffset: Int64

    init(after offset: Int64) {
        startOffset = offset + 1
        endOffset = offset
    }

    var historyLength: Int64 { endOffset - startOffset + 1 }
    var isEmpty: Bool { historyLength == 0 }

    func append(_ bytes: UnsafeRawBufferPointer) {
        var rest = bytes
        while rest.count > 0 {
            if chunks.count == firstChunk || chunks[chunks.count - 1].count == Self.chunkSize { chunks.append(Chunk()) }
            let chunk = chunks[chunks.count - 1]
            let n = min(rest.count, Self.chunkSize - chunk.count)
            (chunk.base + chunk.count).copyMemory(from: rest.baseAddress!, byteCount: n)
            chunk.count += n
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
        }
        endOffset += Int64(bytes.count)
    }

    func append(_ text: String) {
        var t = text
        t.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// True if the bytes from `offset` on are all held (offset may be endOffset + 1: nothing missing).
    func covers(_ offset: Int64) -> Bool { offset >= startOffset && offset <= endOffset + 1 }

    /// The longest contiguous run of held bytes starting at `offset` (empty at the end).
    func run(from offset: Int64) -> UnsafeRawBufferPointer {
        guard offset >= startOffset, offset <= endOffset else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        var skip = Int(offset - startOffset)
        var i = firstChunk
        // Every chunk but the last is full, so the chunk index is a division.
        i += skip / Self.chunkSize
        skip %= Self.chunkSize
        let chunk = chunks[i]
        return UnsafeRawBufferPointer(start: chunk.base + skip, count: chunk.count - skip)
    }

    /// Drops whole chunks while the history exceeds `size` bytes and nothing at or after
    /// `keepFrom` would go.
    func trim(toSize size: Int64, keepFrom: Int64) {
        while chunks.count - firstChunk > 1 {
            let first = chunks[firstChunk]
            let afterFirst = startOffset + Int64(first.count)
            guard endOffset - afterFirst + 1 >= size, afterFirst <= keepFrom else { break }
            startOffset = afterFirst
            firstChunk += 1
        }
        // Compact the chunk array now and then.
        if firstChunk > 0 && firstChunk * 2 > chunks.count || firstChunk >= 16 {
            chunks.removeFirst(firstChunk)
            firstChunk = 0
        }
    }

    /// Starts a new history after `offset` (a replica that loaded its master's snapshot).
    func reset(after offset: Int64) {
        chunks.removeAll()
        firstChunk = 0
        startOffset = offset + 1
        endOffset = offset
    }

    /// Bytes of memory the chunks hold.
    var memory: Int { (chunks.count - firstChunk) * Self.chunkSize }
}
