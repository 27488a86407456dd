import RESP
import Shards

/// The worker's side of replication: recording writes in its PropagationLog and handing
/// the records to the sequencer once per loop iteration.
extension Worker {
    /// Turns recording on once replication is active (checked at the top of each loop
    /// iteration, so every message that arrives after the switch is recorded).
    func activatePropagationIfNeeded() {
        guard propagation == nil, context.replication.propagating.load(ordering: .acquiring) else { return }
        let log = PropagationLog(clock: context.replication.clock, worker: index)
        propagation = log
        shard?.propagation = log
    }

    /// Sends the iteration's records to the sequencer.
    func handOffReplicationRecords() {
        guard let log = propagation, !log.isEmpty else { return }
        log.handOff { bytes in sendToSequencer(.records(RecordBatch(bytes))) }
    }

    /// Replica side: bytes of the master's stream that were applied, to pass on unchanged
    /// to this server's own replicas and backlog (so offsets stay the master's).
    func feedReplicationStream(_ bytes: UnsafeRawBufferPointer) {
        activatePropagationIfNeeded()
        propagation?.raw(bytes)
    }

    /// A unique group tag for a multi-shard operation or an inline transaction.
    func newPropagationTag() -> UInt64 {
        nextPropagationTag &+= 1
        return UInt64(index + 1) << 48 | (nextPropagationTag & 0xFFFF_FFFF_FFFF)
    }
}
