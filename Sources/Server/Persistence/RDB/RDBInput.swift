import Glibc

/// What went wrong reading (or opening) a dump, and where: `offset` is the byte of the file
/// at which the bad or missing item starts. `systemError` is the errno of a failed system
/// call (ENOENT for a missing file), 0 for a bad file.
struct RDBError: Error, CustomStringConvertible {
    let offset: Int
    let message: String
    var systemError: Int32 = 0

    init(offset: Int, message: String, systemError: Int32 = 0) {
        self.offset = offset
        self.message = message
        self.systemError = systemError
    }

    var description: String { "\(message) at byte \(offset)" }
}

/// The bytes of a dump, read forward from memory or from a file descriptor through a window,
/// with the running CRC-64 of everything consumed. Reads never go past the known size, so
/// a declared length is checked against what is left before anything is allocated for it.
struct RDBInput: ~Copyable {
    private static let window = 64 * 1024

    private var buffer: [UInt8]
    private var position = 0       // next unread byte in `buffer`
    private var end: Int           // bytes of `buffer` holding data
    private var base = 0           // file offset of buffer[0]
    private var summed = 0         // bytes of `buffer` already folded into `crc`
    private var crc: UInt64 = 0
    private let fd: Int32          // -1: everything is in `buffer`
    private let checksumming: Bool
    /// Total size of the input: the file's size when it was opened.
    let size: Int

    init(bytes: [UInt8], checksumming: Bool) {
        buffer = bytes
        end = bytes.count
        size = bytes.count
        fd = -1
        self.checksumming = checksumming
    }

    /// Takes ownership of `fd` (closed on deinit).
    init(fd: Int32, size: Int, checksumming: Bool) {
        buffer = [UInt8](repeating: 0, count: Self.window)
        end = 0
        self.size = size
        self.fd = fd
        self.checksumming = checksumming
    }

    deinit { if fd >= 0 { close(fd) } }

    var offset: Int { base + position }
    var remaining: Int { size - offset }

    /// Fails unless `n` more bytes exist, reporting the item that starts at `at`.
    func need(_ n: Int, at: Int? = nil) throws {
        if n > remaining || n < 0 {
            throw RDBError(offset: at ?? offset, message: "Unexpected end of file")
        }
    }

    /// Makes `n` (at most one window) bytes readable at `position`.
    private mutating func fill(_ n: Int) throws {
        if end - position >= n { return }
        try need(n)
        // Fold consumed bytes into the CRC, then slide the unread tail to the front.
        foldChecksum()
        let tail = end - position
        if position > 0 {
            buffer.withUnsafeMutableBufferPointer { b in
                let p = b.baseAddress!
                p.update(from: p + position, count: tail)
            }
        }
        base += position
        position = 0
        end = tail
        summed = 0
        while end < n {
            let want = min(Self.window - end, size - (base + end))
            let got = buffer.withUnsafeMutableBytes { b in read(fd, b.baseAddress! + end, want) }
            if got < 0 {
                if errno == EINTR { continue }
                let code = errno
                throw RDBError(offset: base + end, message: "Error reading the RDB file: \(errorText(code))",
                               systemError: code)
            }
            if got == 0 { throw RDBError(offset: base + end, message: "Unexpected end of file") }
            end += got
        }
    }

    private mutating func foldChecksum() {
        guard checksumming, position > summed else { return }
        crc = buffer.withUnsafeBytes { CRC64.update(crc, UnsafeRawBufferPointer(rebasing: $0[summed..<position])) }
        summed = position
    }

    /// CRC-64 of every byte consumed so far.
    mutating func checksum() -> UInt64 {
        foldChecksum()
        return crc
    }

    mutating func byte() throws -> UInt8 {
        try fill(1)
        defer { position += 1 }
        return buffer[position]
    }

    /// A fixed-size little-endian integer of `count` bytes (at most 8).
    mutating func littleEndian(_ count: Int) throws -> UInt64 {
        try fill(count)
        var v: UInt64 = 0
        for i in stride(from: count - 1, through: 0, by: -1) { v = v << 8 | UInt64(buffer[position + i]) }
        position += count
        return v
    }

    mutating func bigEndian(_ count: Int) throws -> UInt64 {
        try fill(count)
        var v: UInt64 = 0
        for i in 0..<count { v = v << 8 | UInt64(buffer[position + i]) }
        position += count
        return v
    }

    /// Reads `n` bytes, checked against what is left before allocating.
    mutating func bytes(_ n: Int) throws -> [UInt8] {
        try need(n)
        if fd < 0 {
            defer { position += n }
            return Array(buffer[position..<position + n])
        }
        var out = [UInt8]()
        out.reserveCapacity(n)
        var left = n
        while left > 0 {
            let chunk = min(left, Self.window)
            try fill(chunk)
            out.append(contentsOf: buffer[position..<position + chunk])
            position += chunk
            left -= chunk
        }
        return out
    }

    mutating func skip(_ n: Int) throws {
        try need(n)
        var left = n
        while left > 0 {
            let chunk = min(left, Self.window)
            try fill(chunk)
            position += chunk
            left -= chunk
        }
    }
}

func errorText(_ code: Int32) -> String {
    guard let s = strerror(code) else { return "error \(code)" }
    return String(cString: s)
}
