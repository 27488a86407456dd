/// When a stream's tail node is full (stream-node-max-bytes, stream-node-max-entries): the
/// server passes its live settings to each append, so the stream itself keeps no settings.
public struct StreamNodeLimits: Sendable {
    /// Bytes of a node's listpack (0: no limit but a listpack's own).
    public var maxBytes: Int
    /// Entries in a node (0: no limit).
    public var maxEntries: Int

    public init(maxBytes: Int, maxEntries: Int) {
        self.maxBytes = maxBytes
        self.maxEntries = maxEntries
    }

    /// Redis 7.0's defaults (4096 bytes, 100 entries).
    public static let redisDefaults = StreamNodeLimits(maxBytes: 4096, maxEntries: 100)
}
