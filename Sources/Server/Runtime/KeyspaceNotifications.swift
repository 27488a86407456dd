import RESP
import Shards

/// Keyspace notifications (Redis's notify.c): command handlers and expiry record events on
/// their shard (`Shard.notify`, nothing when `notify-keyspace-events` is empty); at the end of
/// the loop pass the shard's worker publishes each as Redis does, on
/// `__keyspace@<db>__:<key>` (message: the event) and `__keyevent@<db>__:<event>` (message:
/// the key), to its own subscribers and, in the pass's one batch per worker, to the others'.
extension Worker {
    func flushKeyspaceNotifications() {
        guard let shard, !shard.notifications.isEmpty else { return }  // every loop pass: nothing to do
        var none = ByteBuffer(capacity: 0)
        flushKeyspaceNotifications(publisher: nil, publisherOut: &none)
    }

    /// From inside a command of `publisher` (a PUBLISH), whose output may be borrowed: its
    /// own copies go to `publisherOut`.
    func flushKeyspaceNotifications(publisher: Client?, publisherOut: inout ByteBuffer) {
        guard let shard, !shard.notifications.isEmpty else { return }
        let flags = shard.notifyFlags
        var channel = ByteBuffer(capacity: 128)
        shard.notifications.drain { db, event, key in
            if flags & KeyspaceEvent.keyspace != 0 {
                channel.clear()
                channel.append(string: "__keyspace@\(db)__:")
                channel.append(key)
                publishFromServer(channel: channel.readable, message: event, publisher: publisher, publisherOut: &publisherOut)
            }
            if flags & KeyspaceEvent.keyevent != 0 {
                channel.clear()
                channel.append(string: "__keyevent@\(db)__:")
                channel.append(event)
                publishFromServer(channel: channel.readable, message: key, publisher: publisher, publisherOut: &publisherOut)
            }
        }
    }
}
