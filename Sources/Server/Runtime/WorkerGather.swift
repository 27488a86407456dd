import RESP

/// A question put to every worker (CLIENT LIST/KILL, INFO, CONFIG RESETSTAT): each worker
/// answers on its own thread from its own state, the answer travels back to the asking
/// worker over the rings, and the last answer writes the client's reply. No worker ever
/// reads another's clients or shard; no lock is taken.
///
/// The object moves between threads only inside ring messages (whose push/pop order the
/// accesses) and is mutated only on the asking worker, hence `@unchecked Sendable`.
final class WorkerGather<Answer: Sendable>: @unchecked Sendable {
    typealias Finish = (Worker, Client, [Answer], inout ByteBuffer) -> Void

    private let client: Client
    /// Where the reply goes: the client's ticket, or the EXEC that ran the command.
    private let ticket: UInt32
    private let exec: (slot: Int, item: Int)?
    private var answers: [Answer?]
    private var remaining: Int
    private let finish: Finish
    /// The command asking (its failed calls count an error reply).
    private let command: Int

    init(client: Client, ticket: UInt32, exec: (slot: Int, item: Int)?, workers: Int, command: Int,
         finish: @escaping Finish) {
        self.client = client
        self.ticket = ticket
        self.exec = exec
        self.command = command
        answers = Array(repeating: nil, count: workers)
        remaining = workers
        self.finish = finish
    }

    /// Runs on the asking worker for each answer; the last one completes the reply.
    func record(_ answer: Answer, from worker: Int, on home: Worker) {
        answers[worker] = answer
        remaining -= 1
        guard remaining == 0 else { return }
        if let exec {
            // The EXEC waits for this reply (and holds its locks) even if the client is gone.
            var reply = ByteBuffer(capacity: 1024)
            finish(home, client, answers.map { $0! }, &reply)
            home.deliverNestedReply(reply.readable, toExecAt: exec.slot, item: exec.item)
            return
        }
        if client.isClosed {
            home.settleClosedClientReply(client, ticket: ticket)
            return
        }
        var reply = ByteBuffer(capacity: 1024)
        finish(home, client, answers.map { $0! }, &reply)
        home.deliverDeferredReply(to: client, ticket: ticket, reply.readable, command: command)
    }
}

extension Worker {
    /// Asks every worker `ask` (run on that worker's thread) and replies with `finish`
    /// once all answered. With one worker, or when all answers are local, it replies now.
    /// `call` is the asking command's: inside EXEC the answer is the transaction's.
    func askEveryWorker<Answer: Sendable>(_ c: Client, call: CommandCall, out: inout ByteBuffer,
                                          ask: @escaping @Sendable (Worker) -> Answer,
                                          finish: @escaping WorkerGather<Answer>.Finish) {
        let count = context.workerCount
        let mine = ask(self)
        if count == 1 {
            finish(self, c, [mine], &out)
            return
        }
        // Inside EXEC the reply is the transaction's, in its place: EXEC waits for it.
        let exec = call.nesting.map { (slot: $0.slot, item: $0.item) }
        if let exec { operations[exec.slot]?.remaining += 1 }
        let gather = WorkerGather<Answer>(client: c, ticket: exec == nil ? c.takeTicket() : 0, exec: exec, workers: count,
                                          command: commandStats.current, finish: finish)
        gather.record(mine, from: index, on: self)
        let origin = index
        for target in 0..<count where target != index {
            send(.control { remote in
                let answer = ask(remote)
                remote.send(.control { home in gather.record(answer, from: target, on: home) }, to: origin)
            }, to: target)
        }
    }

    /// Fills a client's reserved reply slot with a reply computed later on this worker.
    /// `command`: the table index of the command answered, whose failed calls an error counts.
    func deliverDeferredReply(to c: Client, ticket: UInt32, _ bytes: UnsafeRawBufferPointer, command: Int = -1) {
        if c.isClosed {
            settleClosedClientReply(c, ticket: ticket)
            return
        }
        if bytes.count > 0 && bytes[0] == UInt8(ascii: "-") { commandStats.recordError(bytes, command: command) }
        c.fill(ticket: ticket, with: bytes)
        markForFlush(c)
        startOperationAwaitingTurn(c)
        if c.hangUp != .none { hungUpToRun.append(c) }
    }
}
