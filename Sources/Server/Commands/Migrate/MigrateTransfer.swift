#if canImport(Glibc)
import Glibc
#endif
import RESP

/// MIGRATE's network half (Redis 7.0's migrateCommand after the keys are read): connect,
/// send AUTH, SELECT and one RESTORE per key, read the replies. It runs on a thread of its
/// own with blocking sockets bounded by the command's timeout, never on a worker.
enum MigrateTransfer {
    struct Item: Sendable {
        let key: [UInt8]
        /// Milliseconds left (0: no TTL), as RESTORE takes it.
        let ttl: Int
        let payload: [UInt8]
    }

    struct Request: Sendable {
        let host: String
        let port: Int32
        let timeoutMs: Int
        let db: Int
        let username: [UInt8]?
        let password: [UInt8]?
        let replace: Bool
        let items: [Item]
    }

    /// Which items the target stored (their indices), and the error to answer, if any.
    struct Outcome: Sendable {
        var stored: [Int] = []
        var error: String?
    }

    private enum Failure: Error {
        case connect, write(timedOut: Bool), read(timedOut: Bool)
    }

    static func run(_ r: Request) -> Outcome {
        // Redis retries once on a socket error that is not a timeout: a cached connection
        // the target closed meanwhile, replaced by a new one.
        var mayRetry = true
        while true {
            var outcome = Outcome()
            do {
                try attempt(r, &outcome)
                return outcome
            } catch Failure.connect {
                return Outcome(error: "IOERR error or timeout connecting to the client")
            } catch let failure as Failure {
                var timedOut = false, writing = false
                if case .write(let t) = failure { timedOut = t; writing = true }
                if case .read(let t) = failure { timedOut = t }
                // Keys acknowledged before the error are gone from here: no retry then.
                if outcome.stored.isEmpty && outcome.error == nil && mayRetry && !timedOut {
                    mayRetry = false
                    continue
                }
                if outcome.error == nil {
                    outcome.error = "IOERR error or timeout \(writing ? "writing" : "reading") to target instance"
                }
                return outcome
            } catch {
                return Outcome(error: "IOERR error or timeout reading to target instance")
            }
        }
    }

    private static func attempt(_ r: Request, _ outcome: inout Outcome) throws {
        let target = "\(r.host):\(r.port)"
        let cached = MigrateConnections.shared.take(target)
        let fd = try cached?.fd ?? connect(r.host, r.port, timeoutMs: r.timeoutMs)
        var kept = false
        defer { if !kept { close(fd) } }  // a socket error: the connection is not reused
        var tv = timeval(tv_sec: r.timeoutMs / 1000, tv_usec: (r.timeoutMs % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let select = (cached?.db ?? -1) != r.db
        var out = ByteBuffer(capacity: 256)
        func bulk(_ b: [UInt8]) { b.withUnsafeBytes { out.writeBulk($0) } }
        if let password = r.password {
            out.writeArrayHeader(r.username == nil ? 2 : 3)
            bulk(Array("AUTH".utf8))
            if let u = r.username { bulk(u) }
            bulk(password)
        }
        if select {
            out.writeArrayHeader(2)
            bulk(Array("SELECT".utf8))
            bulk(Array(String(r.db).utf8))
        }
        for item in r.items {
            out.writeArrayHeader(r.replace ? 5 : 4)
            bulk(Array("RESTORE".utf8))
            bulk(item.key)
            bulk(Array(String(item.ttl).utf8))
            bulk(item.payload)
            if r.replace { bulk(Array("REPLACE".utf8)) }
        }
        try out.readable.withUnsafeBytes { try writeAll(fd, $0) }
        var reader = LineReader(fd: fd)
        let auth = r.password == nil ? nil : try reader.line()
        let selected = select ? try reader.line() : nil
        for j in 0..<r.items.count {
            let reply = try reader.line()
            let failed = auth?.first == UInt8(ascii: "-") ? auth : selected?.first == UInt8(ascii: "-") ? selected
                : reply.first == UInt8(ascii: "-") ? reply : nil
            if let failed {
                if outcome.error == nil {
                    outcome.error = "ERR Target instance replied with error: " + String(decoding: failed.dropFirst(), as: UTF8.self)
                }
            } else {
                outcome.stored.append(j)
            }
        }
        // Kept for the next MIGRATE to this target; after the target's error the database
        // is unknown, so the next one selects again.
        kept = true
        MigrateConnections.shared.giveBack(target, fd: fd, db: outcome.error == nil ? r.db : -1)
    }

    /// A blocking TCP connection with send and receive timeouts, connected within `timeoutMs`.
    private static func connect(_ host: String, _ port: Int32, timeoutMs: Int) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { throw Failure.connect }
        defer { freeaddrinfo(list) }
        var next: UnsafeMutablePointer<addrinfo>? = first
        // Redis 7.0 takes a refused connection for an open one and fails writing to it.
        var refused = false
        while let a = next {
            next = a.pointee.ai_next
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), a.pointee.ai_protocol)
            guard fd >= 0 else { continue }
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            var ok = Glibc.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0
            if !ok && errno == ECONNREFUSED { refused = true }
            if !ok && errno == EINPROGRESS {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                if poll(&p, 1, Int32(clamping: timeoutMs)) == 1 {
                    var err: Int32 = 0
                    var len = socklen_t(MemoryLayout<Int32>.size)
                    ok = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0
                    if !ok { refused = true }
                }
            }
            guard ok else { close(fd); continue }
            _ = fcntl(fd, F_SETFL, flags)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            return fd
        }
        throw refused ? Failure.write(timedOut: false) : Failure.connect
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        var at = 0
        while at < bytes.count {
            let n = send(fd, bytes.baseAddress! + at, min(bytes.count - at, 64 * 1024), Int32(MSG_NOSIGNAL))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure.write(timedOut: errno == EAGAIN || errno == EWOULDBLOCK) }
            at += n
        }
    }

    /// syncReadLine: one reply line without its CRLF.
    struct LineReader {
        let fd: Int32
        var buffer: [UInt8] = []

        mutating func line() throws -> [UInt8] {
            while true {
                if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    var l = Array(buffer[..<nl])
                    buffer.removeFirst(nl + 1)
                    if l.last == UInt8(ascii: "\r") { l.removeLast() }
                    return l
                }
                var chunk = [UInt8](repeating: 0, count: 4096)
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw Failure.read(timedOut: n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) }
                buffer += chunk[..<n]
            }
        }
    }
}
