import RESP

/// The refusals a command can meet once it has resolved and before it runs or is queued,
/// one row each, in Redis 7.0's processCommand order. A new one (OOM, ACL's NOPERM, BUSY) is
/// a row here.
///
/// Checking them costs one AND on the command path: each command's row says which rules
/// concern it (`CommandTable.Route.admission`, from its flags), and each worker keeps which
/// rules the server's state can trip now (`Worker.armedAdmission`). Only a command concerned
/// by an armed rule asks the rule about its client. The armed set is read at the start of
/// each loop pass and again after every admin command (CONFIG SET, REPLICAOF, SAVE...), the
/// commands that change it from a client, so a client's next command sees its own change.
struct AdmissionRule {
    /// Whether the rule concerns commands of this row (asked once, when the table is built).
    let concerns: @Sendable (CommandSpec) -> Bool
    /// Whether the server's state can trip the rule now: cheap, global.
    let armed: @Sendable (Worker) -> Bool
    /// Whether it refuses this client's command now.
    let refuses: @Sendable (Worker, Client) -> Bool
    let error: String

    static let rules: [AdmissionRule] = [
        // DEBUG and the like, as enable-debug-command allows (Redis's CMD_PROTECTED).
        AdmissionRule(concerns: { $0.flags.contains(.protected) },
                      armed: { _ in LiveConfig.debugCommand.load(ordering: .relaxed) != ProtectedAction.yes.rawValue },
                      refuses: { _, c in !DebugCommands.allowed(c) },
                      error: DebugCommands.notAllowed),
        AdmissionRule(concerns: { !$0.flags.contains(.noAuth) },
                      armed: { _ in LiveConfig.passwordRequired.load(ordering: .relaxed) },
                      refuses: { _, c in !c.authenticated },
                      error: "NOAUTH Authentication required."),
        // stop-writes-on-bgsave-error: writes, and PING as in Redis.
        AdmissionRule(concerns: { $0.flags.contains(.write) || $0.name == "ping" },
                      armed: { w in !w.context.persistence.lastBackgroundSaveOK.load(ordering: .relaxed) },
                      refuses: { w, c in !c.isMaster && w.writesStoppedByDiskError() },
                      error: String(describing: Errors.diskError)),
        AdmissionRule(concerns: { $0.flags.contains(.write) },
                      armed: { _ in LiveConfig.minReplicasToWrite.load(ordering: .relaxed) > 0 },
                      refuses: { w, _ in !w.enoughGoodReplicas() },
                      error: "NOREPLICAS Not enough good replicas to write."),
        AdmissionRule(concerns: { $0.flags.contains(.write) },
                      armed: { w in w.context.replication.isReplica.load(ordering: .relaxed)
                                    && LiveConfig.replicaReadOnly.load(ordering: .relaxed) },
                      refuses: { _, c in !c.isMaster },
                      error: "READONLY You can't write against a read only replica."),
        AdmissionRule(concerns: { !$0.flags.contains(.stale) },
                      armed: { w in w.context.replication.isReplica.load(ordering: .relaxed)
                                    && !w.context.replication.masterLinkUp.load(ordering: .relaxed)
                                    && !LiveConfig.replicaServeStaleData.load(ordering: .relaxed) },
                      refuses: { _, c in !c.isMaster },
                      error: "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."),
    ]

    /// The rules that concern commands of `spec`, as a bit set (bit i: rules[i]).
    static func mask(for spec: CommandSpec) -> UInt8 {
        var mask: UInt8 = 0
        for (i, rule) in rules.enumerated() where rule.concerns(spec) { mask |= 1 << i }
        return mask
    }
}

extension Worker {
    /// Reads which admission rules the server's state can trip now.
    func refreshArmedAdmission() {
        var mask: UInt8 = 0
        for (i, rule) in AdmissionRule.rules.enumerated() where rule.armed(self) { mask |= 1 << i }
        armedAdmission = mask
    }

    /// The first rule among `candidates` (concerned and armed) that refuses `c`, if any.
    @inline(never)  // the cold path of execute
    func admissionRefusal(_ c: Client, candidates: UInt8) -> String? {
        var bits = candidates
        while bits != 0 {
            let i = bits.trailingZeroBitCount
            bits &= bits - 1
            let rule = AdmissionRule.rules[i]
            if rule.refuses(self, c) { return rule.error }
        }
        return nil
    }
}
