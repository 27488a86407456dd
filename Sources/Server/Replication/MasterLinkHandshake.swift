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
extension Worker {
    // MARK: Handshake (Redis 7.0's syncWithMaster)

    func masterHandshake(_ link: MasterLink) {
        while link.state == .handshake, let line = link.takeLine() {
            guard let step = link.expecting.first else {
                dropMasterLink(link, reason: "Unexpected data from MASTER during the handshake: '\(masterText(line))'")
                return
            }
            // The master may send newlines to keep the connection alive before answering PSYNC.
            if line.isEmpty && step == .psync { continue }
            link.expecting.removeFirst()
            switch step {
            case .pong:
                // A master that wants a password still proves it is alive with -NOAUTH.
                if line.first == UInt8(ascii: "-") && !masterLine(line, startsWith: "-NOAUTH") && !masterLine(line, startsWith: "-NOPERM")
                    && !masterLine(line, startsWith: "-ERR operation not permitted") {
                    dropMasterLink(link, reason: "Error reply to PING from master: '\(masterText(line))'")
                    return
                }
                Log.notice("Master replied to PING, replication can continue...")
                sendHandshake(link)
            case .auth:
                if line.first == UInt8(ascii: "-") {
                    dropMasterLink(link, reason: "Unable to AUTH to MASTER: \(masterText(line))")
                    return
                }
            case .replconf:
                if line.first == UInt8(ascii: "-") {
                    Log.notice("(Non critical) Master does not understand REPLCONF: \(masterText(line))")
                }
                if link.expecting.isEmpty { sendPsync(link) }
            case .psync:
                handlePsyncReply(link, line)
            }
        }
    }

    /// AUTH (if masterauth is set) and the REPLCONFs, pipelined as Redis 7.0 does.
    func sendHandshake(_ link: MasterLink) {
        let (password, user) = context.config.withLock { ($0.value("masterauth"), $0.value("masteruser")) }
        var expect: [MasterLink.Expect] = []
        if !password.isEmpty {
            link.queue(user.isEmpty ? ["AUTH", password] : ["AUTH", user, password])
            expect.append(.auth)
        }
        link.queue(["REPLCONF", "listening-port", String(context.port)])
        link.queue(["REPLCONF", "capa", "eof", "capa", "psync2"])
        expect += [.replconf, .replconf]
        link.expecting = expect
        flushMasterLink(link)
    }

    func sendPsync(_ link: MasterLink) {
        if let replid = link.cachedReplid {
            Log.notice("Trying a partial resynchronization (request \(replid):\(link.cachedOffset + 1)).")
            link.queue(["PSYNC", replid, String(link.cachedOffset + 1)])
        } else {
            Log.notice("Partial resynchronization not possible (no cached master)")
            link.queue(["PSYNC", "?", "-1"])
        }
        link.expecting = [.psync]
        flushMasterLink(link)
    }

    func handlePsyncReply(_ link: MasterLink, _ line: [UInt8]) {
        let words = masterText(line).split(separator: " ").map(String.init)
        if masterLine(line, startsWith: "+FULLRESYNC") {
            guard words.count == 3, words[1].utf8.count == 40, let offset = Int64(words[2]),
                  ReplicationHistory.plausible(offset) else {
                dropMasterLink(link, reason: "Master replied with wrong +FULLRESYNC syntax: '\(masterText(line))'")
                return
            }
            Log.notice("Full resync from master: \(words[1]):\(offset)")
            if link.cachedReplid != nil { Log.notice("Discarding previously cached master state.") }
            // The data is about to be replaced: if this sync fails, the next one starts over.
            link.cachedReplid = nil
            link.syncReplid = words[1]
            link.syncOffset = offset
            link.state = .transfer
            context.replication.status.withLock { s in
                s.syncInProgress = true
                s.syncTotalBytes = -1
                s.syncReadBytes = 0
                s.syncLastIOMs = Clock.unixMilliseconds()
            }
            publishLinkState(link)
            masterTransfer(link)
        } else if masterLine(line, startsWith: "+CONTINUE"), let replid = link.cachedReplid {
            Log.notice("Successful partial resynchronization with master.")
            var history = replid
            if words.count >= 2, words[1].utf8.count == 40, words[1] != replid {
                // The master's history has a new id (a failover): the old one stays valid up to here.
                history = words[1]
                let offset = link.cachedOffset
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
            startStreaming(link, replid: history, offset: link.cachedOffset, db: link.cachedDB, ackNow: false)
        } else if masterLine(line, startsWith: "-NOMASTERLINK") || masterLine(line, startsWith: "-LOADING") {
            dropMasterLink(link, reason: "Master is currently unable to PSYNC but should be in the future: \(masterText(line))")
        } else {
            dropMasterLink(link, reason: "Unexpected reply to PSYNC from master: '\(masterText(line))'")
        }
    }
}
