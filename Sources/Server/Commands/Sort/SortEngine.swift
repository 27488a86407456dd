#if canImport(Glibc)
import Glibc
#endif
import RESP
import Shards
import Values

/// The elements SORT works on, packed in one buffer (no allocation per element).
struct SortVector {
    var bytes: [UInt8] = []
    var ends: [Int] = []

    var count: Int { ends.count }

    mutating func append(_ p: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: p)
        ends.append(bytes.count)
    }

    func range(_ i: Int) -> Range<Int> { (i == 0 ? 0 : ends[i - 1])..<ends[i] }
}

/// The source as sortCommandGeneric loads it: its type, the elements, and the output range
/// (`start...end` of the sorted vector; already applied for a list or sorted set that is
/// not sorted, whose range is loaded directly).
struct SortSource {
    var type: SortSourceType = .missing
    var vector = SortVector()
    var start = 0
    var end = -1

    /// Loads `value` (nil: a missing key, an empty list) on its shard. A sorted set is
    /// converted to a skiplist first, as Redis does it destructively.
    init(_ value: AnyObject?, _ o: SortOptions) {
        var length = 0
        if let l = value as? ListValue {
            type = .list; length = l.count
        } else if let s = value as? SetValue {
            type = .set; length = s.count
        } else if let z = value as? SortedSet {
            type = .zset; length = z.count
            if z.isListpack { z.convertToSkiplist() }
        }
        start = min(max(o.limitStart, 0), length)
        let limitCount = min(max(o.limitCount, -1), length)
        end = limitCount < 0 ? length - 1 : start + limitCount - 1
        if start >= length {
            start = length - 1
            end = length - 2
        }
        if end >= length { end = length - 1 }
        var loadLength = length
        if (type == .zset || type == .list) && o.dontsort && (start != 0 || end != length - 1) {
            loadLength = end - start + 1
        }
        vector.bytes.reserveCapacity(loadLength * 8)
        vector.ends.reserveCapacity(max(loadLength, 0))
        switch value {
        case let l as ListValue where o.dontsort:
            if end >= start {
                let from = o.desc ? length - start - 1 : start
                l.forEach(from: from, reverse: o.desc, limit: loadLength) { e in
                    vector.append(e)
                    return true
                }
                end -= start
                start = 0
            }
        case let l as ListValue:
            l.forEach(from: 0) { e in vector.append(e); return true }
        case let s as SetValue:
            s.forEach { vector.append($0) }
        case let z as SortedSet where o.dontsort:
            if loadLength > 0 {
                let from = o.desc ? length - 1 - start : start
                var left = loadLength
                z.forEach(fromRank: from, reverse: o.desc) { m, _ in
                    vector.append(m)
                    left -= 1
                    return left > 0
                }
            }
            end -= start
            start = 0
        case let z as SortedSet:
            z.forEach { m, _ in vector.append(m) }
        default:
            break
        }
    }

    init(type: SortSourceType, vector: SortVector, start: Int, end: Int) {
        self.type = type
        self.vector = vector
        self.start = start
        self.end = end
    }

    /// How many elements the output names (before GET multiplies them).
    var outputElements: Int { max(end - start + 1, 0) }
}

/// Reads the value a BY or GET pattern names for an element (lookupKeyByPattern).
protocol SortLookup {
    func withValue(_ p: SortPattern, _ element: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) -> Void)
}

/// Sorting and output (sortCommandGeneric's second half), the same on a shard and across
/// shards; only the lookup differs.
enum SortEngine {
    struct Item {
        var element: Int
        var score: Double = 0
        /// ALPHA BY's value: its range in `SortResult.compared`, nil if the key was missing.
        var compared: Range<Int>?
    }

    struct Result {
        var items: [Item]
        var compared: [UInt8] = []
        var conversionError = false
    }

    /// Scores (or ALPHA values) for every element, then the order: Redis's sortCompare,
    /// stable as glibc's qsort (a merge sort) is.
    static func sort(_ source: SortSource, _ o: SortOptions, lookup: some SortLookup) -> Result {
        var result = Result(items: (0..<source.vector.count).map { Item(element: $0) })
        guard !o.dontsort else { return result }
        let by = o.by
        var scratch: [CChar] = []
        source.vector.bytes.withUnsafeBytes { all in
            for j in 0..<result.items.count {
                let element = UnsafeRawBufferPointer(rebasing: all[source.vector.range(j)])
                if let by {
                    lookup.withValue(by, element) { value in
                        guard let value else { return }  // missing: score 0, no ALPHA value
                        if o.alpha {
                            let from = result.compared.count
                            result.compared.append(contentsOf: value)
                            result.items[j].compared = from..<result.compared.count
                        } else if !score(value, &result.items[j].score, &scratch) {
                            result.conversionError = true
                        }
                    }
                } else if !o.alpha, !score(element, &result.items[j].score, &scratch) {
                    result.conversionError = true
                }
            }
        }
        let alpha = o.alpha, byPattern = by != nil, store = o.storeIndex != nil, desc = o.desc
        source.vector.bytes.withUnsafeBytes { all in
            result.compared.withUnsafeBytes { compared in
                func element(_ i: Item) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: all[source.vector.range(i.element)]) }
                func compare(_ a: Item, _ b: Item) -> Int {
                    var c: Int
                    if !alpha {
                        c = a.score > b.score ? 1 : a.score < b.score ? -1 : binaryCompare(element(a), element(b))
                    } else if byPattern {
                        switch (a.compared, b.compared) {
                        case (nil, nil): c = 0
                        case (nil, _): c = -1
                        case (_, nil): c = 1
                        case let (x?, y?):
                            let l = UnsafeRawBufferPointer(rebasing: compared[x]), r = UnsafeRawBufferPointer(rebasing: compared[y])
                            c = store ? binaryCompare(l, r) : cStringCompare(l, r)
                        }
                    } else {
                        c = store ? binaryCompare(element(a), element(b)) : cStringCompare(element(a), element(b))
                    }
                    return desc ? -c : c
                }
                guard source.end >= source.start else { return }  // nothing is output
                let k = source.end + 1
                if k * 4 < result.items.count {
                    // Only the first end+1 are output: keep them in order as they come
                    // (Redis's pqsort for BY with LIMIT). Ties stay in source order, so
                    // the result is the full sort's.
                    var best: [Item] = []
                    best.reserveCapacity(k + 1)
                    for item in result.items {
                        if best.count == k && compare(item, best[k - 1]) >= 0 { continue }
                        var lo = 0, hi = best.count
                        while lo < hi {
                            let mid = (lo + hi) / 2
                            if compare(item, best[mid]) < 0 { hi = mid } else { lo = mid + 1 }
                        }
                        best.insert(item, at: lo)
                        if best.count > k { best.removeLast() }
                    }
                    result.items = best
                } else {
                    result.items.sort { compare($0, $1) < 0 }
                }
            }
        }
        return result
    }

    /// strtod as SORT reads a score: the whole string (up to a NUL), no overflow, no NaN.
    static func score(_ v: UnsafeRawBufferPointer, _ out: inout Double, _ scratch: inout [CChar]) -> Bool {
        if v.count < 20, let n = parseStrictInt(v) {
            out = Double(n)
            return true
        }
        scratch.removeAll(keepingCapacity: true)
        for b in v { scratch.append(CChar(bitPattern: b)) }
        scratch.append(0)
        return scratch.withUnsafeBufferPointer { p in
            var end: UnsafeMutablePointer<CChar>?
            errno = 0
            let d = strtod(p.baseAddress!, &end)
            out = d
            return end!.pointee == 0 && errno != ERANGE && !d.isNaN
        }
    }

    /// compareStringObjects: memcmp, then the shorter first.
    static func binaryCompare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let n = min(a.count, b.count)
        if n > 0 {
            let c = memcmp(a.baseAddress!, b.baseAddress!, n)
            if c != 0 { return Int(c) }
        }
        return a.count - b.count
    }

    /// strcoll in the C locale Redis runs in: strcmp, each side ending at its first NUL.
    static func cStringCompare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        func cPrefix(_ p: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
            guard let base = p.baseAddress, let nul = memchr(base, 0, p.count) else { return p }
            return UnsafeRawBufferPointer(start: base, count: base.distance(to: UnsafeRawPointer(nul)))
        }
        return binaryCompare(cPrefix(a), cPrefix(b))
    }

    /// The output in order: each element of `start...end`, or each GET's value for it (nil:
    /// nothing there).
    static func emit(_ source: SortSource, _ result: Result, _ o: SortOptions, lookup: some SortLookup,
                     _ body: (UnsafeRawBufferPointer?) -> Void) {
        guard source.end >= source.start else { return }
        source.vector.bytes.withUnsafeBytes { all in
            for j in source.start...source.end {
                let element = UnsafeRawBufferPointer(rebasing: all[source.vector.range(result.items[j].element)])
                if o.gets.isEmpty {
                    body(element)
                } else {
                    for g in o.gets { lookup.withValue(g, element, body) }
                }
            }
        }
    }

    /// How many values the output has (outputlen).
    static func outputLength(_ source: SortSource, _ o: SortOptions) -> Int {
        source.outputElements * (o.gets.isEmpty ? 1 : o.gets.count)
    }
}
