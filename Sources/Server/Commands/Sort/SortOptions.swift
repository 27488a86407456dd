import RESP
import Shards

/// SORT's options as sortCommandGeneric parses them (Redis 7.0's sort.c): ASC/DESC, ALPHA,
/// LIMIT, STORE (SORT only), BY and GET, in any order, the last BY/LIMIT/STORE winning.
struct SortOptions {
    var desc = false
    var alpha = false
    var limitStart = 0
    var limitCount = -1
    /// The argument index of STORE's destination.
    var storeIndex: Int?
    /// BY's pattern, nil without BY (or when a set is sorted for STORE: sorted by itself).
    var by: SortPattern?
    /// BY names a constant (no `*`): nothing is sorted, the source's order is kept.
    var dontsort = false
    var gets: [SortPattern] = []

    enum ParseError: Error {
        case syntax, notInteger
    }

    static func parse(_ args: Arguments, readonly: Bool) throws(ParseError) -> SortOptions {
        var o = SortOptions()
        var j = 2
        while j < args.count {
            let left = args.count - j - 1
            if argIs(args[j], "asc") {
                o.desc = false
            } else if argIs(args[j], "desc") {
                o.desc = true
            } else if argIs(args[j], "alpha") {
                o.alpha = true
            } else if argIs(args[j], "limit") && left >= 2 {
                guard let start = parseStrictInt(args[j + 1]), let count = parseStrictInt(args[j + 2]) else {
                    throw .notInteger
                }
                o.limitStart = start
                o.limitCount = count
                j += 2
            } else if !readonly && argIs(args[j], "store") && left >= 1 {
                o.storeIndex = j + 1
                j += 1
            } else if argIs(args[j], "by") && left >= 1 {
                let pattern = SortPattern(args[j + 1])
                o.by = pattern
                o.dontsort = !pattern.hasStar
                j += 1
            } else if argIs(args[j], "get") && left >= 1 {
                o.gets.append(SortPattern(args[j + 1]))
                j += 1
            } else {
                throw .syntax
            }
            j += 1
        }
        return o
    }

    /// What the source's type changes (sortCommandGeneric): a set sorted for STORE without a
    /// sort order is sorted ALPHA by itself, so replicas get the same list.
    mutating func adjust(for type: SortSourceType) {
        if dontsort && type == .set && storeIndex != nil {
            dontsort = false
            alpha = true
            by = nil
        }
    }

    /// The BY pattern when its keys are read (sorting by a real pattern).
    var lookedUpBy: SortPattern? { dontsort ? nil : by }

    /// The patterns whose keys are read, for choosing shards.
    var patternsReadingKeys: [SortPattern] {
        (lookedUpBy.map { [$0] } ?? []) + gets.filter { $0.readsKey }
    }
}

enum SortSourceType: UInt8 {
    case missing = 0, list = 1, set = 2, zset = 3
}

/// A BY or GET pattern (lookupKeyByPattern): `#` is the element itself; otherwise the first
/// `*` is replaced by the element to name a key, whose string value is read, or with
/// `->field` at the end (after the `*`) that field of the hash. Without `*` it names nothing.
struct SortPattern {
    enum Kind { case element, none, key }
    let kind: Kind
    let prefix: [UInt8]
    let postfix: [UInt8]
    /// The hash field after `->` (nil: the key's string value).
    let field: [UInt8]?

    init(_ p: UnsafeRawBufferPointer) {
        // Redis reads the pattern as a C string: it ends at the first NUL byte.
        let bytes = Array(p.prefix(while: { $0 != 0 }))
        guard bytes != [UInt8(ascii: "#")] else {
            kind = .element; prefix = []; postfix = []; field = nil
            return
        }
        guard let star = bytes.firstIndex(of: UInt8(ascii: "*")) else {
            kind = .none; prefix = []; postfix = []; field = nil
            return
        }
        kind = .key
        prefix = Array(bytes[..<star])
        var arrow: Int?
        var i = star + 1
        while i + 1 < bytes.count {
            if bytes[i] == UInt8(ascii: "-") && bytes[i + 1] == UInt8(ascii: ">") { arrow = i; break }
            i += 1
        }
        if let arrow, arrow + 2 < bytes.count {
            postfix = Array(bytes[(star + 1)..<arrow])
            field = Array(bytes[(arrow + 2)...])
        } else {
            postfix = Array(bytes[(star + 1)...])
            field = nil
        }
    }

    var hasStar: Bool { kind == .key }
    var readsKey: Bool { kind == .key }

    /// The key named for `element`.
    func key(for element: UnsafeRawBufferPointer) -> [UInt8] {
        var k: [UInt8] = []
        k.reserveCapacity(prefix.count + element.count + postfix.count)
        k.append(contentsOf: prefix)
        k.append(contentsOf: element)
        k.append(contentsOf: postfix)
        return k
    }

    /// The shard every key of this pattern lives on, if its prefix fixes a `{tag}` (the
    /// key's first `{` and the `}` after it both precede the `*`), else nil.
    func fixedShard(count: Int) -> Int? {
        prefix.withUnsafeBytes { p in
            KeyHash.shardingPart(p).count < p.count ? KeyHash.shard(of: p, count: count) : nil
        }
    }
}
