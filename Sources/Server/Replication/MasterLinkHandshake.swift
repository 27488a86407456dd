import CShim
import Net
import RESP
import Shards
import Synchronization
#if canImport(Glibc)
import Glibc
import Values
#endif

/// The replica's side of Redis 7.0's handshake (syncWithMaster): PING, AUTH, REPLCONF
/// listening-port and capa, then PSYNC and its answer.
extension MasterLink {
    // MARK: Handshake (Redis 7.0's syncWithMaster)

    func handshake() {
        while state == .handshake, let line = takeLine() {
            guard let step = expecting.first else {
                drop(reason: "Unexpected data from MASTER during the handshake: '\(masterText(line))'")
                return
            }
            // The master may send newlines to keep the connection alive before answering PSYNC.
            if line.isEmpty && step == .psync { continue }
            expecting.removeFirst()
            switch step {
            case .pong:
                // A master that wants a password still proves it is alive with -NOAUTH.
                if line.first == UInt8(ascii: "-") && !masterLine(line, startsWith: "-NOAUTH") && !masterLine(line, startsWith: "-NOPERM")
                    && !masterLine(line, startsWith: "-ERR operation not permitted") {
                    drop(reason: "Error reply to PING from master: '\(masterText(line))'")
                    return
                }
                Log.notice("Master replied to PING, replication can continue...")
                sendHandshake()
            case .auth:
                if line.first == UInt8(ascii: "-") {
                    drop(reason: "Unable to AUTH to MASTER: \(masterText(line))")
                    return
                }
            case .replconf:
                if line.first == UInt8(ascii: "-") {
                    Log.notice("(Non critical) Master does not understand REPLCONF: \(masterText(line))")
                }
                if expecting.isEmpty { sendPsync() }
            case .psync:
                handlePsyncReply(line)
            }
        }
    }

    /// AUTH (if masterauth is set) and the REPLCONFs, pipelined as Redis 7.0 does.
    private func sendHandshake() {
        let (password, user) = context.config.withLock { ($0.value("masterauth"), $0.value("masteruser")) }
        var expect: [Expect] = []
        if !password.isEmpty {
            queue(user.isEmpty ? ["AUTH", password] : ["AUTH", user, password])
            expect.append(.auth)
        }
        queue(["REPLCONF", "listening-port", String(context.port)])
        queue(["REPLCONF", "capa", "eof", "capa", "psync2"])
        expect += [.replconf, .replconf]
        expecting = expect
        flush()
    }

    private func sendPsync() {
        if let replid = cachedReplid {
            Log.notice("Trying a partial resynchronization (request \(replid):\(cachedOffset + 1)).")
            queue(["PSYNC", replid, String(cachedOffset + 1)])
        } else {
            Log.notice("Partial resynchronization not possible (no cached master)")
            queue(["PSYNC", "?", "-1"])
        }
        expecting = [.psync]
        flush()
    }

    private func handlePsyncReply(_ line: [UInt8]) {
        let words = masterText(line).split(separator: " ").map(String.init)
        if masterLine(line, startsWith: "+FULLRESYNC") {
            guard words.count == 3, words[1].utf8.count == 40, let offset = Int64(words[2]),
                  ReplicationHistory.plausible(offset) else {
                drop(reason: "Master replied with wrong +FULLRESYNC syntax: '\(masterText(line))'")
                return
            }
            Log.notice("Full resync from master: \(words[1]):\(offset)")
            if cachedReplid != nil { Log.notice("Discarding previously cached master state.") }
            // The data is about to be replaced: if this sync fails, the next one starts over.
            cachedReplid = nil
            syncReplid = words[1]
            syncOffset = offset
            context.replication.status.withLock { s in
                s.syncInProgress = true
                s.syncTotalBytes = -1
                s.syncReadBytes = 0
                s.syncLastIOMs = Clock.unixMilliseconds()
            }
            transition(to: .transfer)
            transfer()
        } else if masterLine(line, startsWith: "+CONTINUE"), let replid = cachedReplid {
            Log.notice("Successful partial resynchronization with master.")
            var history = replid
            if words.count >= 2, words[1].utf8.count == 40, words[1] != replid {
                // The master's history has a new id (a failover): the old one stays valid up to here.
                history = words[1]
                let offset = cachedOffset
                context.replication.status.withLock { s in
                    s.replid2 = replid
                    s.secondReplOffset = offset + 1
                    s.replid = history
                }
                Log.notice("Master replication ID changed to \(history)")
                // This server's own replicas must learn of the new id: they reconnect (Redis's disconnectSlaves).
                context.postToSequencer(.killReplicas)
            }
            Log.notice("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.")
            startStreaming(replid: history, offset: cachedOffset, db: cachedDB, ackNow: false)
        } else if masterLine(line, startsWith: "-NOMASTERLINK") || masterLine(line, startsWith: "-LOADING") {
            drop(reason: "Master is currently unable to PSYNC but should be in the future: \(masterText(line))")
        } else {
            drop(reason: "Unexpected reply to PSYNC from master: '\(masterText(line))'")
        }
    }
}
