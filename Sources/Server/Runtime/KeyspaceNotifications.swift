import RESP
import Shards

extension Worker {
    /// Publishes the keyspace notifications the shard's commands made this pass.
    func flushKeyspaceNotifications() {
    }
}
