import CShim
import RESP
#if canImport(Glibc)
import Glibc
#endif

public enum IOResult: Equatable {
    case bytes(Int)
    case wouldBlock
    case closed
    case failed(Int32)
}

/// Nonblocking socket I/O on `ByteBuffer`s.
public enum Socket {
    /// One `read` into the buffer's free space, growing it first if it is full.
    public static func read(_ fd: Int32, into buffer: inout ByteBuffer, minimumFree: Int = 16 * 1024) -> IOResult {
        if buffer.freeSpace < minimumFree / 4 { buffer.reserve(max(minimumFree, buffer.capacity)) }
        let n = Glibc.read(fd, buffer.writePointer, buffer.freeSpace)
        if n > 0 { buffer.count += n; return .bytes(n) }
        if n == 0 { return .closed }
        let err = errno
        if err == EAGAIN || err == EWOULDBLOCK || err == EINTR { return .wouldBlock }
        return .failed(err)
    }

    /// `read`, through recvmsg: `receivedAt` gets the kernel's receive time of the bytes read
    /// (unix ns) when the socket stamps them (`enableReceiveTimestamps`).
    public static func read(_ fd: Int32, into buffer: inout ByteBuffer, receivedAt: inout UInt64,
                            minimumFree: Int = 16 * 1024) -> IOResult {
        if buffer.freeSpace < minimumFree / 4 { buffer.reserve(max(minimumFree, buffer.capacity)) }
        let n = vk_read_timestamped(fd, buffer.writePointer, buffer.freeSpace, &receivedAt)
        if n > 0 { buffer.count += n; return .bytes(n) }
        if n == 0 { return .closed }
        let err = errno
        if err == EAGAIN || err == EWOULDBLOCK || err == EINTR { return .wouldBlock }
        return .failed(err)
    }

    /// Stamps what the socket receives with the kernel's receive time (SO_TIMESTAMPNS).
    public static func enableReceiveTimestamps(_ fd: Int32) { _ = vk_enable_receive_timestamps(fd) }

    /// Writes as much of the buffer's first `limit` bytes (all by default) as the socket
    /// takes and drops what was written.
    public static func write(_ fd: Int32, from buffer: inout ByteBuffer, limit: Int = .max) -> IOResult {
        var written = 0
        defer { if written > 0 { buffer.discardFront(written) } }
        let end = min(buffer.count, limit)
        while written < end {
            let n = Glibc.send(fd, buffer.base + written, end - written, Int32(MSG_NOSIGNAL))
            if n > 0 { written += n; continue }
            let err = errno
            if n < 0 && err == EINTR { continue }
            if n < 0 && (err == EAGAIN || err == EWOULDBLOCK) { return .wouldBlock }
            return err == EPIPE || err == ECONNRESET ? .closed : .failed(err)
        }
        return .bytes(written)
    }

    /// Listening socket on host:port. Returns (fd, bound port) or the errno text.
    public static func listen(host: String, port: Int, backlog: Int = 511) -> Result<(fd: Int32, port: Int), ListenError> {
        var bound: Int32 = 0
        let fd = vk_listen_tcp(host, Int32(port), Int32(backlog), &bound)
        if fd < 0 { return .failure(ListenError(code: -fd)) }
        return .success((fd, Int(bound)))
    }

    public struct ListenError: Error, CustomStringConvertible {
        public let code: Int32
        public var description: String { String(cString: strerror(code)) }
    }

    /// Accepts one pending connection: (fd, "ip:port") or nil when none is pending.
    public static func accept(_ listenFD: Int32) -> (fd: Int32, peer: String)? {
        var peer = [CChar](repeating: 0, count: 64)
        let fd = vk_accept(listenFD, &peer, 64)
        if fd < 0 { return nil }
        _ = vk_set_nodelay(fd)
        return (fd, text(ofNulTerminated: peer))
    }

    public static func localAddress(_ fd: Int32) -> String {
        var out = [CChar](repeating: 0, count: 64)
        return vk_local_address(fd, &out, 64) == 0 ? text(ofNulTerminated: out) : "?"
    }

    /// The text a C function wrote into `buffer`, up to its NUL.
    private static func text(ofNulTerminated buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func close(_ fd: Int32) { _ = Glibc.close(fd) }
}
