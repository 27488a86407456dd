/// A replication history as a dump keeps it (aux fields repl-id, repl-offset, repl-stream-db).
struct ReplicationHistory: Sendable {
    let replid: String
    let offset: Int64
    let db: Int

    var auxFields: [(String, String)] {
        [("repl-stream-db", String(db)), ("repl-id", replid), ("repl-offset", String(offset))]
    }

    /// The history in a loaded dump's aux fields, if it names one (Redis checks the same).
    init?(aux: [String: String], databases: Int) {
        guard let id = aux["repl-id"], id.utf8.count == 40, let offset = aux["repl-offset"].flatMap({ Int64($0) }),
              let db = aux["repl-stream-db"].flatMap({ Int($0) }), db >= 0, db < databases,
              Self.plausible(offset) else { return nil }
        self.init(replid: id, offset: offset, db: db)
    }

    /// A stream offset a peer or a dump may name: not negative, and far from overflowing
    /// when bytes are counted on from it.
    static func plausible(_ offset: Int64) -> Bool { offset >= 0 && offset < 1 << 62 }

    init(replid: String, offset: Int64, db: Int) {
        self.replid = replid
        self.offset = offset
        self.db = db
    }
}
