#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Redis's migrate_cached_sockets: one idle connection per target (`host:port` as given),
/// taken by the next MIGRATE to it, which sends SELECT only when the database changes. A
/// reaper thread, running while any connection is cached, closes those unused for 10 s
/// (MIGRATE_SOCKET_CACHE_TTL); at most 64 are kept, the longest idle closed first.
final class MigrateConnections: @unchecked Sendable {
    static let shared = MigrateConnections()

    private struct Idle {
        let fd: Int32
        /// The database last selected on it (-1: unknown, after the target's error).
        let db: Int
        let since: Int64
    }

    private let state = Mutex<(idle: [String: Idle], reaping: Bool)>(([:], false))

    /// The cached connection to `target`, now the caller's alone.
    func take(_ target: String) -> (fd: Int32, db: Int)? {
        state.withLock { s in s.idle.removeValue(forKey: target).map { ($0.fd, $0.db) } }
    }

    func giveBack(_ target: String, fd: Int32, db: Int) {
        var closing: [Int32] = []
        let startReaper = state.withLock { s -> Bool in
            if let old = s.idle[target] { closing.append(old.fd) }
            if s.idle[target] == nil, s.idle.count >= 64,
               let oldest = s.idle.min(by: { $0.value.since < $1.value.since }) {
                closing.append(oldest.value.fd)
                s.idle[oldest.key] = nil
            }
            s.idle[target] = Idle(fd: fd, db: db, since: Clock.monotonicMilliseconds())
            defer { s.reaping = true }
            return !s.reaping
        }
        for fd in closing { close(fd) }
        if startReaper { ServerMain.spawnThread { self.reap() } }
    }

    private func reap() {
        while true {
            sleep(1)
            var stale: [Int32] = []
            let done = state.withLock { s -> Bool in
                let now = Clock.monotonicMilliseconds()
                for (target, c) in s.idle where now - c.since > 10_000 {
                    stale.append(c.fd)
                    s.idle[target] = nil
                }
                if s.idle.isEmpty { s.reaping = false }
                return s.idle.isEmpty
            }
            for fd in stale { close(fd) }
            if done { return }
        }
    }
}
