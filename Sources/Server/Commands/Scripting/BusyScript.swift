#if canImport(Glibc)
import Glibc
#endif
import CShim
import Net
import RESP
import Synchronization

/// Long-running scripts, as Redis 7.0 handles them (script.c's scriptInterrupt, eval.c).
///
/// A script runs on its shard owner's thread and blocks that worker's loop. Every 100k Lua
/// instructions a count hook (vk_lua.c, Redis's luaMaskCountHook) calls
/// `Worker.scriptInterrupt`; once the run is older than `busy-reply-threshold` the script
/// is *busy*: the server-wide `BusyScripts.shared` says so, which arms the BUSY admission
/// rule on every worker (one AND on the command path, as every refusal), and from then on
/// each hook call keeps the busy worker answering (`serveWhileBusy`, Redis's
/// processEventsWhileBlocked): its clients' commands get BUSY, SCRIPT KILL / FUNCTION KILL
/// / SHUTDOWN NOSAVE are obeyed, request batches from other workers get BUSY. Nothing runs
/// a command inside the hook: what cannot be answered that way (lock traffic, replies,
/// MULTI and the other commands Redis lets through) waits until the script ends.
final class BusyScripts: Sendable {
    static let shared = BusyScripts()

    /// One worker's busy script: these bits, 0 when none.
    private final class Slot: Sendable {
        let bits = Atomic<Int>(0)
    }
    static let busy = 1, wrote = 2, function = 4, killed = 8

    private let slots: [Slot] = (0..<256).map { _ in Slot() }
    /// How many workers run a busy script: non-zero arms the BUSY admission rule.
    private let count = Atomic<Int>(0)

    var anyBusy: Bool { count.load(ordering: .acquiring) > 0 }

    /// The script on `worker` passed the threshold.
    func enter(worker: Int, wrote: Bool, function: Bool) {
        slots[worker].bits.store(Self.busy | (wrote ? Self.wrote : 0) | (function ? Self.function : 0),
                                 ordering: .sequentiallyConsistent)
        count.add(1, ordering: .sequentiallyConsistent)
    }

    /// The busy script on `worker` returned (or was killed).
    func leave(worker: Int) {
        count.subtract(1, ordering: .sequentiallyConsistent)
        slots[worker].bits.store(0, ordering: .sequentiallyConsistent)
    }

    func killed(worker: Int) -> Bool { slots[worker].bits.load(ordering: .acquiring) & Self.killed != 0 }

    /// The busy script is about to write: false if it was killed first (it then must not
    /// write: SCRIPT KILL answered OK because it had not written).
    func noteWrite(worker: Int) -> Bool {
        slots[worker].bits.bitwiseOr(Self.wrote, ordering: .sequentiallyConsistent).oldValue & Self.killed == 0
    }

    /// processCommand's BUSY text for the busy script (eval or function).
    var busyError: String {
        for slot in slots where slot.bits.load(ordering: .relaxed) & Self.busy != 0 {
            if slot.bits.load(ordering: .relaxed) & Self.function != 0 {
                return "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
            }
            break
        }
        return "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    }

    /// scriptKill: kills the busy scripts of the kind named (SCRIPT KILL: evals, FUNCTION
    /// KILL: functions) that have not written. Nil when one was killed (+OK), else Redis's
    /// error. With two shards two scripts can be busy at once (Redis runs one): each
    /// killable one is killed. Waits until the killed scripts on other workers have ended,
    /// so the killer's next command finds the server serving, as in Redis.
    func kill(function: Bool, from worker: Int) -> String? {
        var error: String?
        var killedOthers: [Int] = []
        var killedAny = false
        for (i, slot) in slots.enumerated() {
            var bits = slot.bits.load(ordering: .acquiring)
            while bits & Self.busy != 0 {
                if bits & Self.wrote != 0 {
                    error = error ?? "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."
                    break
                }
                let isFunction = bits & Self.function != 0
                if isFunction != function {
                    error = error ?? (isFunction
                        ? "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
                        : "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
                    break
                }
                let (exchanged, seen) = slot.bits.compareExchange(expected: bits, desired: bits | Self.killed,
                                                                  ordering: .sequentiallyConsistent)
                if exchanged {
                    killedAny = true
                    if i != worker { killedOthers.append(i) }
                    break
                }
                bits = seen
            }
        }
        // A killer that runs a busy script itself (in its hook) does not wait: two hooks
        // killing each other's script would wait for each other.
        let callerBusy = slots[worker].bits.load(ordering: .acquiring) & Self.busy != 0
        for i in killedOthers where !callerBusy {
            // The script stops at its next hook call (Lua instructions, not I/O): short.
            while slots[i].bits.load(ordering: .acquiring) & Self.killed != 0 { sched_yield() }
        }
        if killedAny { return nil }
        return error ?? "NOTBUSY No scripts in execution right now."
    }
}

/// A run's view of the busy machinery (ScriptRun.busy).
struct BusyRun {
    var startMs: Int64 = 0
    var timedOut = false
    var wrote = false
    var function = false
    var killed = false
    /// Named in the slow-script log line: the script's SHA1 (logged as Redis's "f_<sha>"),
    /// or the function's name.
    var name = ""
}

/// What a busy episode leaves to the loop: ring messages it could not answer and clients
/// whose next command it would not run, handled in order once the script has ended.
final class BusyScriptState {
    let events: OpaquePointer = vk_events_create(256)
    var stash: [WorkerMessage] = []
    var stashing: [Bool]
    var deferred: [Client] = []
    var resuming = false
    /// Clients answered in this hook call, written at its end.
    var answered: [Client] = []
    var shutdownPending = false

    init(workers: Int) { stashing = Array(repeating: false, count: workers) }
    deinit { vk_events_destroy(events) }

    var hasLeftovers: Bool { !stash.isEmpty || !deferred.isEmpty }
}

extension ScriptRun {
    /// Starts timing the run and installs the count hook if busy-reply-threshold is set.
    func watchForBusy(_ lua: OpaquePointer, name: String, function: Bool) {
        busy = BusyRun(startMs: Clock.monotonicMilliseconds(), function: function, name: name)
        vk_lua_watch(lua, LiveConfig.busyReplyThresholdMs.load(ordering: .relaxed) > 0 ? scriptInterruptHook : nil)
    }

    /// A write command of the script is about to run: false if a SCRIPT KILL won the race.
    func mayWrite() -> Bool {
        busy.wrote = true
        return !busy.timedOut || BusyScripts.shared.noteWrite(worker: worker.index)
    }

    /// At the end of a run: a busy script stops being busy.
    func endBusy() {
        if busy.timedOut {
            busy.timedOut = false
            worker.leaveBusyMode()
        }
    }
}

/// vk_lua.c's count hook: nonzero kills the script.
private let scriptInterruptHook: vk_lua_interrupt_hook = { context in
    let run = Unmanaged<ScriptRun>.fromOpaque(context!).takeUnretainedValue()
    return run.worker.scriptInterrupt(run) ? 1 : 0
}

extension Worker {
    /// scriptInterrupt: whether the run must stop (killed); past the threshold, serves the
    /// worker's clients and rings the busy way first.
    func scriptInterrupt(_ run: ScriptRun) -> Bool {
        let scripts = BusyScripts.shared
        if !run.busy.timedOut {
            let elapsed = Clock.monotonicMilliseconds() - run.busy.startMs
            if elapsed < LiveConfig.busyReplyThresholdMs.load(ordering: .relaxed) { return false }
            Log.warning("Slow script detected: still in execution after \(elapsed) milliseconds. "
                + "You can try killing the script using the \(run.busy.function ? "FUNCTION KILL" : "SCRIPT KILL") command. "
                + "Script name is: \(run.busy.function ? run.busy.name : "f_" + run.busy.name).")
            run.busy.timedOut = true
            scripts.enter(worker: index, wrote: run.busy.wrote, function: run.busy.function)
            refreshArmedAdmission()
        }
        if !run.busy.killed { serveWhileBusy(run) }
        if scripts.killed(worker: index) {
            if !run.busy.killed { Log.warning("Lua script killed by user with SCRIPT KILL.") }
            run.busy.killed = true
            return true  // the answers go out with the loop's next flush, after the script ended
        }
        for c in busyScript!.answered where !c.isClosed { writeOut(c) }
        busyScript!.answered.removeAll(keepingCapacity: true)
        writeRepliesOfThePass()
        return false
    }

    /// Replies made earlier in the pass the script runs in (the loop flushes only at the
    /// pass's end, after the script) go out now, as Redis's processEventsWhileBlocked writes
    /// pending replies: a client whose PONG was made just before the script started would
    /// otherwise wait for the script, unanswered. Closing clients wait for the loop (closing
    /// runs the disconnect hooks, which are not for the middle of a script), and so do
    /// hung-up ones (writing may close them: HangUps.swift).
    private func writeRepliesOfThePass() {
        for c in flushList where !c.isClosed && !c.closeASAP && !c.closeAfterReply && c.hangUp == .none && !c.output.isEmpty {
            writeOut(c)
        }
    }

    func leaveBusyMode() {
        BusyScripts.shared.leave(worker: index)
        refreshArmedAdmission()
        busyScript?.answered.removeAll(keepingCapacity: true)
    }

    /// processEventsWhileBlocked, restricted: new connections are accepted, clients' commands
    /// answered (BUSY, or the kill and shutdown Redis allows), request batches answered BUSY.
    private func serveWhileBusy(_ run: ScriptRun) {
        if busyScript == nil { busyScript = BusyScriptState(workers: context.workerCount) }
        let state = busyScript!
        // Its own event buffer: the loop's holds the events of the pass this script runs in.
        let n = Int(vk_epoll_wait(loop.fd, state.events, 0))
        for i in 0..<max(n, 0) {
            let token = vk_events_data(state.events, Int32(i))
            switch token {
            case Worker.wakerToken: waker.drain()
            case Worker.listenerToken..<(Worker.listenerToken + 64):
                acceptConnections(from: listenFDs[Int(token - Worker.listenerToken)])
            case 0..<(1 << 32): serveClientWhileBusy(fd: Int32(truncatingIfNeeded: token), run, state)
            default: break  // signals, the master link: after the script
            }
        }
        // Commands read in this loop pass and not run yet (several workers: the pass reads
        // every socket before it runs any) are answered as Redis, having read them now, would.
        for (_, c) in readClients where c.readNotRun && !c.isClosed && c.id != run.ctx?.clientID {
            c.readNotRun = false
            answerWhileBusy(c, state)
        }
        answerRingsWhileBusy(state)
        sendBatches()
    }

    private func serveClientWhileBusy(fd: Int32, _ run: ScriptRun, _ state: BusyScriptState) {
        guard let c = clients[fd: Int(fd)], !c.isClosed else { return }
        // Left alone until the script ends: its own client (Redis's protectClient), one
        // whose input is being parsed or waits (a deferred command, half a command), one
        // still owed replies (a BUSY now would overtake them), masters and closing ones.
        if c.id == run.ctx?.clientID || !c.input.isEmpty || c.hasOutstandingReplies || c.isMaster
            || c.closeAfterReply || c.closeASAP || c.pausedByOperation || c.inPubSubMode { return }
        switch Socket.read(c.fd, into: &c.input) {
        case .bytes(let n):
            stats.inputBytes.add(n, ordering: .relaxed)
            c.lastInteraction = nowMs
        default:
            return  // a close is seen again by the loop after the script
        }
        answerWhileBusy(c, state)
    }

    /// Answers the commands in `c`'s input (BUSY, or the kill and shutdown Redis allows); the
    /// first that only the loop runs waits, with the rest, for the script to end.
    private func answerWhileBusy(_ c: Client, _ state: BusyScriptState) {
        if c.hasOutstandingReplies || c.isMaster || c.closeAfterReply || c.closeASAP || c.pausedByOperation
            || c.inPubSubMode { return }
        parseCommands(c, while: { true }) { args in
            guard answerWhileBusy(c, args, state) else {
                state.deferred.append(c)  // this command and the rest run after the script
                return false
            }
            return true
        }
        state.answered.append(c)
    }

    /// processCommand's checks up to BUSY for one command; false for a command Redis lets
    /// through that only the loop runs (MULTI, WATCH, AUTH, HELLO...): it waits.
    private func answerWhileBusy(_ c: Client, _ args: Arguments, _ state: BusyScriptState) -> Bool {
        let resolution = table.resolve(args)
        guard case .command(let index) = resolution else {
            c.beginCommandReplies()
            c.commandsProcessed += 1
            c.transaction?.failed = true
            if case .wrongArity(let index) = resolution { commandStats.reject(Int(index)) }
            withReply(c) { table.writeRefusal(resolution, args, into: &$0) }
            return true
        }
        let route = table.routes[Int(index)]
        let candidates = route.admission & armedAdmission
        if candidates != 0, let refusal = admissionRefusal(c, candidates: candidates) {
            c.beginCommandReplies()
            c.commandsProcessed += 1
            c.lastCommandIndex = index
            commandStats.reject(Int(index))
            c.transaction?.failed = true
            refuse(c, index: index, refusal)
            return true
        }
        let name = table.specs[Int(index)].name
        switch name {
        case "script|kill", "function|kill":
            c.beginCommandReplies()
            c.commandsProcessed += 1
            let error = BusyScripts.shared.kill(function: name == "function|kill", from: self.index)
            withReply(c) { if let error { $0.writeError(string: error) } else { $0.writeOK() } }
            return true
        case "shutdown":
            c.beginCommandReplies()
            c.commandsProcessed += 1
            var call = commandCall(c, args, index: index)
            withReply(c) { ServerCommands.shutdown(self, c, args, &call, &$0) }
            if context.aof.enabled.load(ordering: .relaxed) { state.shutdownPending = true }
            return true
        default:
            return false
        }
    }

    /// rejectCommand: EXEC's refusal discards the transaction (EXECABORT).
    func refuse(_ c: Client, index: UInt16, _ refusal: String) {
        if c.transaction != nil && table.specs[Int(index)].name == "exec" {
            withReply(c) { TransactionCommands.abortExec(self, c, error: refusal, &$0) }
        } else {
            withReply(c) { $0.writeError(string: refusal) }
        }
    }

    /// Request batches of plain client commands are answered BUSY; anything else from a
    /// worker (lock traffic, operation parts, replies, connections), and all that follows
    /// it from that worker, waits in order for the script to end.
    private func answerRingsWhileBusy(_ state: BusyScriptState) {
        for source in 0..<context.workerCount where source != index {
            let ring = context.ring(from: source, to: index)
            while let message = ring.pop() {
                // A connection handed over meanwhile is served (BUSY, SCRIPT KILL) like the
                // others: nothing stashed can refer to it, so it need not wait its turn.
                if case .connection(let fd, let peer) = message {
                    registerHandedOver(fd: fd, peer: peer, readNow: false)
                    continue
                }
                if !state.stashing[source] && !state.resuming, case .requests(let batch) = message, answerBusy(batch) {
                    continue
                }
                state.stashing[source] = true
                state.stash.append(message)
            }
        }
        if state.shutdownPending {
            // SHUTDOWN NOSAVE with an AOF: the sequencer's answer (fsync, exit) comes here.
            let fromSequencer = context.fromSequencer[index]
            while let message = fromSequencer.pop() { handle(message) }
        }
    }

    private func answerBusy(_ batch: Batch) -> Bool {
        guard !batch.hasLockMessages, !batch.hasLockParts,
              batch.requests.allSatisfy({ $0.sink.kind == .client && $0.transaction == 0 }) else { return false }
        batch.replies.clear()
        batch.replyEnds.removeAll(keepingCapacity: true)
        let text = BusyScripts.shared.busyError
        for _ in batch.requests {
            batch.replies.writeError(string: text)
            batch.replyEnds.append(batch.replies.count)
        }
        send(.replies(batch), to: batch.origin)
        return true
    }

    /// After a busy episode: the stashed ring messages in their order, then the clients whose
    /// commands waited. A script they run may turn busy again: it stashes behind them.
    func resumeAfterBusyScript(_ state: BusyScriptState) {
        guard !state.resuming else { return }
        state.resuming = true
        var i = 0
        while i < state.stash.count {
            let message = state.stash[i]
            i += 1
            handle(message)
        }
        state.stash.removeAll(keepingCapacity: true)
        for s in state.stashing.indices { state.stashing[s] = false }
        var j = 0
        while j < state.deferred.count {
            let c = state.deferred[j]
            j += 1
            if !c.isClosed { process(c) }
        }
        state.deferred.removeAll(keepingCapacity: true)
        state.resuming = false
    }
}
