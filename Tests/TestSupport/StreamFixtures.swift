import Values

// Streams for tests of every target: a sample with several nodes, deleted entries and
// groups; its snapshot encoding and back; its entries as text.

/// The bytes of `s` (UTF-8).
public func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Appends an entry with the given field/value pairs.
public func appendEntry(_ s: Stream, _ id: StreamID, _ pairs: [(String, String)]) {
    var flat: [UInt8] = []
    var ranges: [Range<Int>] = []
    for (f, v) in pairs {
        for part in [f, v] {
            let start = flat.count
            flat += Array(part.utf8)
            ranges.append(start..<flat.count)
        }
    }
    flat.withUnsafeBytes { b in
        s.append(id: id, pairs: pairs.count, limits: .redisDefaults) { UnsafeRawBufferPointer(rebasing: b[ranges[$0]]) }
    }
}

/// A stream with several nodes, entries with their own fields, deleted entries (a whole
/// node's worth too), two groups with PELs and consumers (one numeric, one idle).
public func sampleStream(entries: Int = 260, withGroups: Bool = true) -> Stream {
    let s = Stream()
    var ids: [StreamID] = []
    for i in 1...entries {
        let id = StreamID(ms: 1_700_000_000_000 + UInt64(i / 3), seq: UInt64(i % 3))
        ids.append(id)
        if i % 5 == 0 {
            appendEntry(s, id, [("other", "\(i)"), ("blob", String(repeating: "v", count: i % 90))])
        } else {
            appendEntry(s, id, [("f", "value-\(i)"), ("n", "\(i * 1000)")])
        }
    }
    for (i, id) in ids.enumerated() where i % 7 == 3 || (i >= 100 && i < 200) {
        s.delete(id)
        s.maxDeletedEntryID = max(s.maxDeletedEntryID, id)
    }
    s.firstID = s.edgeID(first: true) ?? .zero
    guard withGroups else { return s }
    let g = bytes("readers").withUnsafeBytes { s.createGroup(named: $0, lastID: ids[min(40, ids.count - 1)], entriesRead: 41)! }
    _ = bytes("idle").withUnsafeBytes { s.createGroup(named: $0, lastID: .zero, entriesRead: -1)! }
    let alice = bytes("alice").withUnsafeBytes { g.createConsumer(named: $0, now: 1_700_000_001_000)! }
    let numeric = bytes("12345").withUnsafeBytes { g.createConsumer(named: $0, now: 1_700_000_002_000)! }
    _ = bytes("nobody").withUnsafeBytes { g.createConsumer(named: $0, now: 1_700_000_003_000)! }
    for (n, i) in [1, 2, 5, 8, 13, 21, 34].filter({ $0 < ids.count }).enumerated() {
        let owner = n % 2 == 0 ? alice : numeric
        let nack = StreamNACK(deliveryTime: 1_700_000_000_500 + Int64(i), deliveryCount: Int64(n + 1), consumer: owner)
        g.pel.insert(ids[i], nack)
        owner.pel.insert(ids[i], nack)
    }
    return s
}

public func encoding(_ s: Stream) -> [UInt8] {
    s.snapshotEncoding()
}

public func decode(_ bytes: [UInt8], type: UInt8 = Stream.rdbTypeV2) throws -> Stream {
    try bytes.withUnsafeBytes { b in
        var source = RDBPlainSource(b)
        return try Stream.readRDB(type: type, from: &source)
    }
}

/// Every live entry as "id f=v ..." (what XRANGE shows).
public func entries(_ s: Stream, reverse: Bool = false) -> [String] {
    var out: [String] = []
    s.forEach(from: .zero, to: .max, reverse: reverse) { e in
        var line = e.id.description
        e.forEachPair { f, v in
            Listpack.withBytes(e.lp, f) { line += " " + String(decoding: $0, as: UTF8.self) }
            Listpack.withBytes(e.lp, v) { line += "=" + String(decoding: $0, as: UTF8.self) }
        }
        out.append(line)
        return true
    }
    return out
}

