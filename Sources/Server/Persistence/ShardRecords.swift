import Shards
import Values

/// A dump's keys sorted into one `__load` blob per shard (SnapshotRecord-encoded; an object
/// travels as its snapshot encoding, which `__load` decodes on its shard): a replica's full
/// sync and DEBUG RELOAD replace every shard's data with them in one fan-out under
/// whole-shard locks, each shard loading its part on its own thread.
struct ShardRecords {
    var parts: [[UInt8]]
    var keys = 0
    /// Keys of types this server does not hold yet.
    var skipped = 0
    /// Keys already past their deadline, left out (`dropExpiredAt`).
    var expired = 0
    /// The dump's AUX fields.
    var aux: [String: String] = [:]

    /// Reads a dump through `read` (RDBReader.load of a file or of bytes). Keys whose
    /// deadline is at or before `dropExpiredAt` are left out (a master's load; a replica keeps
    /// them for its master's DELs).
    init(shards: Int, databases: Int, dropExpiredAt: Int64? = nil,
         read: ((RDBRecord) throws -> Void) throws -> [String: String]) throws {
        var parts = [[UInt8]](repeating: [], count: shards)
        var keys = 0, skipped = 0, expired = 0
        aux = try read { record in
            guard record.db < databases else {
                throw RDBError(offset: 0, message: "the data uses database \(record.db) but databases is \(databases)")
            }
            if let now = dropExpiredAt, record.expireAtMs != 0 && record.expireAtMs <= now {
                expired += 1
                return
            }
            let value: [UInt8], type: UInt8
            switch record.value {
            case .string(let bytes): (value, type) = (bytes, 0)
            case .object(let object): (value, type) = (object.snapshotEncoding(), object.rdbType)
            case .unsupported: skipped += 1; return
            }
            record.key.withUnsafeBytes { k in
                value.withUnsafeBytes { v in
                    let s = KeyHash.shard(of: k, count: shards)
                    SnapshotRecord.encode(db: record.db, key: k, value: v, expireAt: record.expireAtMs,
                                          type: type) { parts[s].append(contentsOf: $0) }
                }
            }
            keys += 1
        }
        self.parts = parts
        self.keys = keys
        self.skipped = skipped
        self.expired = expired
    }
}
