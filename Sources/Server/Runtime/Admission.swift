import RESP

/// The refusals a command can meet once it has resolved and before it runs or is queued,
/// one case each, in Redis 7.0's processCommand order. A new one (OOM, ACL's NOPERM) is
/// a case here: which commands it concerns, when the server's state arms it, whom it refuses.
///
/// Checking them costs one AND on the command path: each command's row says which rules
/// concern it (`CommandTable.Route.admission`, from its flags), and each worker keeps which
/// rules the server's state can trip now (`Worker.armedAdmission`). Only a command concerned
/// by an armed rule asks the rule about its client. The armed set is read at the start of
/// each loop pass and again after every admin command (CONFIG SET, REPLICAOF, SAVE...), the
/// commands that change it from a client, so a client's next command sees its own change.
enum AdmissionRule: Int, CaseIterable {
    /// DEBUG and the like, as enable-debug-command allows (Redis's CMD_PROTECTED).
    case protectedCommand
    case authentication
    /// stop-writes-on-bgsave-error after a failed background save.
    case diskError
    case minReplicas
    case readOnlyReplica
    case staleReplica
    /// The AOF replays at start-up (server.loading): only commands flagged `loading`.
    case loading
    /// A script ran past busy-reply-threshold (BusyScript.swift).
    case busyScript

    /// Whether the rule concerns commands of this row (asked once, when the table is built).
    func concerns(_ spec: CommandSpec) -> Bool {
        switch self {
        case .protectedCommand: return spec.flags.contains(.protected)
        case .authentication: return !spec.flags.contains(.noAuth)
        case .diskError: return spec.flags.contains(.write) || spec.name == "ping"  // PING too, as in Redis
        case .minReplicas, .readOnlyReplica: return spec.flags.contains(.write)
        case .staleReplica: return !spec.flags.contains(.stale)
        case .loading: return !spec.flags.contains(.loading)
        case .busyScript: return !spec.flags.contains(.allowBusy)
        }
    }

    /// Whether the server's state can trip the rule now: cheap, global.
    @inline(__always)
    func isArmed(_ context: ServerContext) -> Bool {
        switch self {
        case .protectedCommand:
            return LiveConfig.debugCommand.load(ordering: .relaxed) != ProtectedAction.yes.rawValue
        case .authentication:
            return LiveConfig.passwordRequired.load(ordering: .relaxed)
        case .diskError:
            return !context.persistence.lastBackgroundSaveOK.load(ordering: .relaxed)
        case .minReplicas:
            return LiveConfig.minReplicasToWrite.load(ordering: .relaxed) > 0
        case .readOnlyReplica:
            return context.replication.isReplica.load(ordering: .relaxed) && LiveConfig.replicaReadOnly.load(ordering: .relaxed)
        case .staleReplica:
            return context.replication.isReplica.load(ordering: .relaxed)
                && !context.replication.masterLinkUp.load(ordering: .relaxed)
                && !LiveConfig.replicaServeStaleData.load(ordering: .relaxed)
        case .loading:
            return context.persistence.loading.load(ordering: .relaxed)
        case .busyScript:
            return BusyScripts.shared.anyBusy
        }
    }

    /// Whether it refuses this client's command now.
    func refuses(_ c: Client, on w: Worker) -> Bool {
        switch self {
        case .protectedCommand: return !DebugCommands.allowed(c)
        case .authentication: return !c.authenticated
        case .diskError: return !c.isMaster && w.writesStoppedByDiskError()
        case .minReplicas: return !w.enoughGoodReplicas()
        case .readOnlyReplica, .staleReplica, .busyScript: return !c.isMaster
        case .loading: return true   // the replay's own client is not checked (Dispatch)
        }
    }

    var error: String {
        switch self {
        case .protectedCommand: return DebugCommands.notAllowed
        case .authentication: return "NOAUTH Authentication required."
        case .diskError: return String(describing: Errors.diskError)
        case .minReplicas: return "NOREPLICAS Not enough good replicas to write."
        case .readOnlyReplica: return "READONLY You can't write against a read only replica."
        case .staleReplica: return "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
        case .loading: return "LOADING Redis is loading the dataset in memory"
        case .busyScript: return BusyScripts.shared.busyError
        }
    }

    /// The rules that concern commands of `spec`, as a bit set (bit i: the rule of raw value i).
    static func mask(for spec: CommandSpec) -> UInt8 {
        var mask: UInt8 = 0
        for rule in allCases where rule.concerns(spec) { mask |= 1 << rule.rawValue }
        return mask
    }

    /// The rules the server's state can trip now.
    static func armedMask(_ context: ServerContext) -> UInt8 {
        var mask: UInt8 = 0
        for rule in allCases where rule.isArmed(context) { mask |= 1 << rule.rawValue }
        return mask
    }
}

extension Worker {
    /// Reads which admission rules the server's state can trip now.
    @inline(__always)
    func refreshArmedAdmission() {
        armedAdmission = AdmissionRule.armedMask(context)
    }

    /// The rules EXEC meets for what it has queued, as Redis's processCommand reads EXEC as
    /// a write if a queued command is one (mstate.cmd_flags), and as refused on a stale
    /// replica if a queued command is (mstate.cmd_inv_flags).
    static let execRules: UInt8 = 1 << AdmissionRule.minReplicas.rawValue | 1 << AdmissionRule.readOnlyReplica.rawValue
        | 1 << AdmissionRule.diskError.rawValue | 1 << AdmissionRule.staleReplica.rawValue

    /// EXEC's refusal for its queued commands (NOREPLICAS, READONLY, MISCONF, MASTERDOWN
    /// armed since they were queued), if any: EXEC then answers EXECABORT.
    @inline(never)
    func execAdmissionRefusal(_ c: Client, _ tx: TransactionQueue) -> String? {
        let write: UInt8 = 1 << AdmissionRule.minReplicas.rawValue
        let stale: UInt8 = 1 << AdmissionRule.staleReplica.rawValue
        var mask: UInt8 = 0
        for command in tx.commands {
            let admission = table.routes[Int(command.index)].admission
            mask |= admission & stale
            if admission & write != 0 { mask |= Self.execRules & ~stale }
        }
        let candidates = mask & armedAdmission
        return candidates == 0 ? nil : admissionRefusal(c, candidates: candidates)
    }

    /// The first rule among `candidates` (concerned and armed) that refuses `c`, if any.
    @inline(never)  // the cold path of execute
    func admissionRefusal(_ c: Client, candidates: UInt8) -> String? {
        var bits = candidates
        while bits != 0 {
            let rule = AdmissionRule(rawValue: bits.trailingZeroBitCount)!
            bits &= bits - 1
            if rule.refuses(c, on: self) { return rule.error }
        }
        return nil
    }
}
