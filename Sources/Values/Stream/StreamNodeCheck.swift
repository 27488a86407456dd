import RESP

/// Redis's streamValidateListpackIntegrity: the node's layout (master entry, each entry's
/// flags, ID deltas, fields, values and lp-count) and its counters matching the entries.
/// `Listpack.copy(of:)` has validated every element already (lpValidateIntegrity, deep).
enum StreamNodeCheck {
    static func isValid(_ lp: UnsafeRawPointer) -> Bool {
        var walk = ElementWalk(lp: lp, total: Listpack.totalBytes(lp))
        guard let count = walk.integer(), let deleted = walk.integer(), let masterFields = walk.integer(),
              count >= 0, deleted >= 0, masterFields >= 0 else { return false }
        // No count can exceed the elements a block this size holds (each takes a byte at least):
        // larger ones are corrupt, and would overflow the sums below.
        let most = Int64(Listpack.totalBytes(lp))
        guard count <= most, deleted <= most, masterFields <= most else { return false }
        for _ in 0..<masterFields { guard walk.skip() else { return false } }
        guard walk.integer() == 0 else { return false }
        var live: Int64 = 0, dead: Int64 = 0
        while !walk.atEnd {
            guard let flags = walk.integer(), walk.integer() != nil, walk.integer() != nil else { return false }
            var fields = masterFields
            var extra: Int64 = 3
            let same = flags & Stream.flagSameFields != 0
            if !same {
                guard let n = walk.integer(), n >= 0, n <= most else { return false }
                fields = n
                extra += n + 1
                for _ in 0..<n { guard walk.skip() else { return false } }  // the field names
            }
            for _ in 0..<fields { guard walk.skip() else { return false } }  // the values
            guard let lpCount = walk.integer(), lpCount == fields + extra else { return false }
            if flags & Stream.flagDeleted != 0 { dead += 1 } else { live += 1 }
        }
        return live == count && dead == deleted && live + dead > 0  // Redis drops a node with no entries
    }

    /// A cursor over the elements of a listpack whose bytes are being validated.
    struct ElementWalk {
        let lp: UnsafeRawPointer
        let total: Int
        var p = Listpack.headerSize

        var atEnd: Bool { p >= total - 1 }

        /// The end of the element at `at` (its backlen included), or nil if it is malformed.
        func elementEnd(_ at: Int) -> Int? { Listpack.validatedElementEnd(lp, at: at, total: total) }

        mutating func skip() -> Bool {
            guard let end = elementEnd(p) else { return false }
            p = end
            return true
        }

        /// The element as an integer (lpGetIntegerIfValid), moving past it; nil if it is not one.
        mutating func integer() -> Int64? {
            guard let end = elementEnd(p) else { return nil }
            let v: Int64?
            switch Listpack.get(lp, p) {
            case .integer(let i): v = i
            case .bytes(let b): v = parseStrictInt(b).map { Int64($0) }
            }
            p = end
            return v
        }
    }
}
