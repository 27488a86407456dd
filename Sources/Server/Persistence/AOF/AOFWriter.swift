import RESP
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What INFO persistence reports about the AOF, and what start-up hands the sequencer.
final class AppendOnlyState: Sendable {
    /// The AOF is on and its incr file open (aof_enabled).
    let enabled = Atomic<Bool>(false)
    /// Bytes of the base and incr files (aof_current_size), and of the base (aof_base_size).
    let currentSize = Atomic<Int64>(0)
    let baseSize = Atomic<Int64>(0)
    /// Bytes merged but not yet written (aof_buffer_length).
    let bufferLength = Atomic<Int>(0)
    let lastWriteOK = Atomic<Bool>(true)
    /// An fsync runs on the fsync thread (aof_pending_bio_fsync).
    let fsyncInProgress = Atomic<Bool>(false)
    let delayedFsyncs = Atomic<Int>(0)
    /// The incr file start-up opened for appending, taken by the sequencer (-1: none).
    let openedIncrFD = Atomic<Int32>(-1)
    /// The incr file being appended to (shutdown fsyncs it; -1: none).
    let incrFD = Atomic<Int32>(-1)

    /// INFO persistence's lines Redis adds while the AOF is on.
    var infoLines: [String] {
        ["aof_current_size:\(currentSize.load(ordering: .relaxed))", "aof_base_size:\(baseSize.load(ordering: .relaxed))",
         "aof_pending_rewrite:0", "aof_buffer_length:\(bufferLength.load(ordering: .relaxed))",
         "aof_pending_bio_fsync:\(fsyncInProgress.load(ordering: .relaxed) ? 1 : 0)",
         "aof_delayed_fsync:\(delayedFsyncs.load(ordering: .relaxed))"]
    }
}

/// The sequencer's side of the AOF: the merged write stream (the replicas' stream without
/// the master's own PINGs and GETACKs, with SELECTs of its own) is appended to a buffer as
/// it is merged, written to the incr file once per sequencer pass, and fsynced by
/// `appendfsync`: everysec by a thread of its own at most once a second (Redis's bio
/// fsync), no never (the kernel decides). Nothing of it runs on a worker.
final class AOFWriter {
    private let state: AppendOnlyState
    private let fd: Int32
    private var buffer = ByteBuffer(capacity: 64 * 1024)
    /// Database of the last command written (-1: SELECT before the next; a new file starts so).
    private(set) var selectedDB = -1
    enum Policy {
        case always, everysec, no
        init(_ name: String) { self = name == "always" ? .always : name == "no" ? .no : .everysec }
    }
    var policy = Policy.everysec
    /// Bytes written since the last fsync began.
    private var unsynced = false
    private var lastFsyncMs: Int64 = 0
    private let syncer: FsyncThread

    init(fd: Int32, state: AppendOnlyState) {
        self.fd = fd
        self.state = state
        syncer = FsyncThread(fd: fd, state: state)
        lastFsyncMs = Clock.monotonicMilliseconds()
    }

    /// A command of the merged stream, in database `db` (feedAppendOnlyFile: SELECT first
    /// when the database changes).
    @inline(__always)
    func append(db: Int, _ command: UnsafeRawBufferPointer) {
        if db != selectedDB && db >= 0 {
            appendSelect(db)
        }
        buffer.append(command)
    }

    func appendSelect(_ db: Int) {
        let digits = String(db)
        buffer.append(string: "*2\r\n$6\r\nSELECT\r\n$\(digits.utf8.count)\r\n\(digits)\r\n")
        selectedDB = db
    }

    /// Bytes that are not a command of a database (MULTI, EXEC).
    func append(_ text: StaticString) {
        buffer.append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Once per sequencer pass, after the merge (flushAppendOnlyFile): writes what the pass
    /// merged, then starts an fsync if the policy wants one now.
    func flush(now: Int64) {
        if buffer.count > 0 {
            let written = AOFFile.writeAll(fd, buffer.readable)
            if written {
                state.currentSize.add(Int64(buffer.count), ordering: .relaxed)
                if !state.lastWriteOK.load(ordering: .relaxed) {
                    Log.warning("AOF write error looks solved, Redis can write again.")
                    state.lastWriteOK.store(true, ordering: .relaxed)
                }
                buffer.clear()
                unsynced = true
            } else {
                // The buffer is kept and written again next pass (Redis retries too).
                if state.lastWriteOK.load(ordering: .relaxed) {
                    Log.warning("Error writing to the AOF file: \(String(cString: strerror(errno)))")
                }
                state.lastWriteOK.store(false, ordering: .relaxed)
            }
            state.bufferLength.store(buffer.count, ordering: .relaxed)
        }
        guard unsynced else { return }
        switch policy {
        case .no:
            unsynced = false
        case .always:
            // Step 1: synchronously here, so the file is on disk before the sequencer's
            // next pass; replies do not wait for it yet (docs/ARCHITECTURE.md).
            _ = fdatasync(fd)
            unsynced = false
            lastFsyncMs = now
        case .everysec:
            guard now - lastFsyncMs >= 1000 else { return }
            if state.fsyncInProgress.load(ordering: .acquiring) {
                state.delayedFsyncs.add(1, ordering: .relaxed)
                return
            }
            lastFsyncMs = now
            unsynced = false
            syncer.request()
        }
    }

    /// How long the sequencer may sleep: written but unsynced bytes need an fsync within a second.
    var timerMs: Int32 {
        guard unsynced || buffer.count > 0 else { return -1 }
        if buffer.count > 0 { return 1 }
        return Int32(max(1, min(1000, 1000 - (Clock.monotonicMilliseconds() - lastFsyncMs))))
    }

    /// Shutdown: everything written and on disk (Redis: "Calling fsync() on the AOF file.").
    func finish() {
        flush(now: Clock.monotonicMilliseconds())
        _ = fsync(fd)
    }
}

/// Redis's bio fsync thread for `appendfsync everysec`: waits on an pipe, fsyncs the file.
final class FsyncThread: @unchecked Sendable {  // its descriptors are fixed after init
    private let fd: Int32
    /// A pipe: the sequencer writes a byte, this thread's blocking read wakes.
    private let readEnd: Int32, writeEnd: Int32
    private let state: AppendOnlyState

    init(fd: Int32, state: AppendOnlyState) {
        self.fd = fd
        self.state = state
        var ends: [Int32] = [-1, -1]
        precondition(pipe(&ends) == 0, "pipe failed")
        (readEnd, writeEnd) = (ends[0], ends[1])
        ServerMain.spawnThread { [self] in run() }
    }

    func request() {
        state.fsyncInProgress.store(true, ordering: .releasing)
        var one: UInt8 = 1
        _ = Glibc.write(writeEnd, &one, 1)
    }

    private func run() {
        var value: UInt8 = 0
        while true {
            let n = Glibc.read(readEnd, &value, 1)
            if n < 0 && errno == EINTR { continue }
            guard n == 1 else { return }
            _ = fdatasync(fd)
            state.fsyncInProgress.store(false, ordering: .releasing)
        }
    }
}
