import RESP
import Shards
import Values

/// GEOSEARCH, GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and the _RO forms: Redis 7.0's
/// georadiusGeneric (its order of checks and errors, the 9 cells scanned, qsort by distance,
/// COUNT and ANY), and the STORE forms with the destination on another shard.
enum GeoSearch {
    enum Kind {
        case radius, radiusRO, byMember, byMemberRO, search, searchStore

        var sourceIndex: Int { self == .searchStore ? 2 : 1 }
        var isSearch: Bool { self == .search || self == .searchStore }
        var takesStore: Bool { self == .radius || self == .byMember }

        init?(name: UnsafeRawBufferPointer) {
            if argIs(name, "georadius") { self = .radius }
            else if argIs(name, "georadiusbymember") { self = .byMember }
            else if argIs(name, "geosearchstore") { self = .searchStore }
            else { return nil }
        }
    }

    struct Point {
        var member: [UInt8]
        var longitude: Double, latitude: Double
        var distance: Double
        var score: Double
    }

    enum Sort { case none, asc, desc }

    struct Query {
        var shape = GeoHash.Shape()
        var withDist = false, withHash = false, withCoord = false
        var sort = Sort.none
        var any = false
        var count = 0
        /// Argument index of the key the result is stored at (STORE, STOREDIST, GEOSEARCHSTORE's).
        var storeKey: Int?
        var storeDist = false
    }

    enum Outcome {
        /// The source key is missing: nothing to search.
        case noSource(Query)
        /// The points to reply with or store, sorted and cut to COUNT.
        case found(Query, [Point])
    }

    // MARK: Parsing and searching

    /// georadiusGeneric up to the reply: nil after writing an error.
    static func evaluate(_ ctx: ShardContext, _ args: Arguments, _ kind: Kind, _ out: inout ByteBuffer) -> Outcome? {
        var wrongType = false
        let z = GeoCommands.lookup(ctx, args[kind.sourceIndex], &out, wrongType: &wrongType)
        if wrongType { return nil }
        var q = Query()
        let base: Int
        switch kind {
        case .radius, .radiusRO:
            base = 6
            guard let (x, y) = GeoCommands.parseLongLat(args[2], args[3], &out) else { return nil }
            q.shape.longitude = x; q.shape.latitude = y
            guard parseDistance(args, at: 4, &q.shape, &out) else { return nil }
        case .byMember, .byMemberRO:
            base = 5
            if let z {
                guard let s = z.score(args[2]), let (x, y) = GeoHash.decodeScore(s) else {
                    out.writeError("ERR could not decode requested zset member")
                    return nil
                }
                q.shape.longitude = x; q.shape.latitude = y
                guard parseDistance(args, at: 3, &q.shape, &out) else { return nil }
            }
        case .search:
            base = 2
        case .searchStore:
            base = 3
            q.storeKey = 1
        }
        var fromMember = false, fromLoc = false, byRadius = false, byBox = false
        let remaining = args.count - base
        var i = 0
        while i < remaining {
            let at = base + i
            let arg = args[at]
            if argIs(arg, "withdist") {
                q.withDist = true
            } else if argIs(arg, "withhash") {
                q.withHash = true
            } else if argIs(arg, "withcoord") {
                q.withCoord = true
            } else if argIs(arg, "any") {
                q.any = true
            } else if argIs(arg, "asc") {
                q.sort = .asc
            } else if argIs(arg, "desc") {
                q.sort = .desc
            } else if argIs(arg, "count") && i + 1 < remaining {
                guard let n = parseStrictInt(args[at + 1]) else { out.writeError(Errors.notInteger); return nil }
                if n <= 0 { out.writeError("ERR COUNT must be > 0"); return nil }
                q.count = n
                i += 1
            } else if (argIs(arg, "store") || argIs(arg, "storedist")) && i + 1 < remaining && kind.takesStore {
                q.storeKey = at + 1
                q.storeDist = argIs(arg, "storedist")
                i += 1
            } else if argIs(arg, "storedist") && kind == .searchStore {
                q.storeDist = true
            } else if argIs(arg, "frommember") && i + 1 < remaining && kind.isSearch && !fromLoc {
                if let z {
                    guard let s = z.score(args[at + 1]), let (x, y) = GeoHash.decodeScore(s) else {
                        out.writeError("ERR could not decode requested zset member")
                        return nil
                    }
                    q.shape.longitude = x; q.shape.latitude = y
                }
                fromMember = true
                i += 1
            } else if argIs(arg, "fromlonlat") && i + 2 < remaining && kind.isSearch && !fromMember {
                guard let (x, y) = GeoCommands.parseLongLat(args[at + 1], args[at + 2], &out) else { return nil }
                q.shape.longitude = x; q.shape.latitude = y
                fromLoc = true
                i += 2
            } else if argIs(arg, "byradius") && i + 2 < remaining && kind.isSearch && !byBox {
                guard parseDistance(args, at: at + 1, &q.shape, &out) else { return nil }
                q.shape.isBox = false
                byRadius = true
                i += 2
            } else if argIs(arg, "bybox") && i + 3 < remaining && kind.isSearch && !byRadius {
                guard parseBox(args, at: at + 1, &q.shape, &out) else { return nil }
                q.shape.isBox = true
                byBox = true
                i += 3
            } else {
                out.writeError(Errors.syntax)
                return nil
            }
            i += 1
        }
        if q.storeKey != nil && (q.withDist || q.withHash || q.withCoord) {
            out.writeError(string: (kind == .searchStore ? "ERR GEOSEARCHSTORE" : "ERR STORE option in GEORADIUS")
                + " is not compatible with WITHDIST, WITHHASH and WITHCOORD options")
            return nil
        }
        if kind.isSearch && !(fromMember || fromLoc) {
            var e = ErrorText("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for ")
            e.append(argument: args[0])
            e.bytes.withUnsafeBytes { out.writeError(bytes: $0) }
            return nil
        }
        if kind.isSearch && !(byRadius || byBox) {
            var e = ErrorText("ERR exactly one of BYRADIUS and BYBOX can be specified for ")
            e.append(argument: args[0])
            e.bytes.withUnsafeBytes { out.writeError(bytes: $0) }
            return nil
        }
        if q.any && q.count == 0 { out.writeError("ERR the ANY argument requires COUNT argument"); return nil }
        guard let z else { return .noSource(q) }
        if q.count != 0 && q.sort == .none && !q.any { q.sort = .asc }
        var points = search(z, q.shape, limit: q.any ? q.count : 0)
        switch q.sort {
        case .none: break
        // Stable, as glibc's qsort (a merge sort) is for these sizes: ties keep scan order.
        case .asc: points.sort { $0.distance < $1.distance }
        case .desc: points.sort { $0.distance > $1.distance }
        }
        if q.count != 0 && points.count > q.count { points.removeLast(points.count - q.count) }
        return .found(q, points)
    }

    /// extractDistanceOrReply.
    static func parseDistance(_ args: Arguments, at: Int, _ shape: inout GeoHash.Shape, _ out: inout ByteBuffer) -> Bool {
        guard let d = ZScore.parse(args[at]) else { out.writeError("ERR need numeric radius"); return false }
        if d < 0 { out.writeError("ERR radius cannot be negative"); return false }
        shape.radius = d
        guard let u = GeoCommands.parseUnit(args[at + 1], &out) else { return false }
        shape.conversion = u
        return true
    }

    /// extractBoxOrReply.
    static func parseBox(_ args: Arguments, at: Int, _ shape: inout GeoHash.Shape, _ out: inout ByteBuffer) -> Bool {
        guard let w = ZScore.parse(args[at]) else { out.writeError("ERR need numeric width"); return false }
        guard let h = ZScore.parse(args[at + 1]) else { out.writeError("ERR need numeric height"); return false }
        if h < 0 || w < 0 { out.writeError("ERR height or width cannot be negative"); return false }
        shape.height = h; shape.width = w
        guard let u = GeoCommands.parseUnit(args[at + 2], &out) else { return false }
        shape.conversion = u
        return true
    }

    /// membersOfAllNeighbors: each useful cell's score range scanned in order, a cell equal
    /// to the one scanned before it skipped, stopping at `limit` points (ANY) if not 0.
    static func search(_ z: SortedSet, _ shape: GeoHash.Shape, limit: Int) -> [Point] {
        let cells = GeoHash.areas(shape)
        var points: [Point] = []
        var lastProcessed = 0
        for i in 0..<cells.count {
            if cells[i].isZero { continue }
            if lastProcessed != 0 && cells[i] == cells[lastProcessed] { continue }
            if !points.isEmpty && limit != 0 && points.count >= limit { break }
            let (lo, hi) = GeoHash.scoreRange(cells[i])
            let ranks = z.ranks(in: ScoreRange(min: lo, max: hi, minExclusive: false, maxExclusive: true))
            if !ranks.isEmpty {
                var found = (0.0, 0.0, 0.0)
                z.forEach(fromRank: ranks.lowerBound, count: ranks.count, wants: { s in
                    guard let (x, y) = GeoHash.decodeScore(s), let d = shape.distanceIfInside(x, y) else { return false }
                    found = (x, y, d)
                    return true
                }) { m, s in
                    points.append(Point(member: Array(m), longitude: found.0, latitude: found.1, distance: found.2, score: s))
                    return limit == 0 || points.count < limit
                }
            }
            lastProcessed = i
        }
        return points
    }

    // MARK: Replies and stores

    /// The whole command on this shard (source and destination here).
    static func run(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer, _ kind: Kind) {
        guard let outcome = evaluate(ctx, args, kind, &out) else { return }
        switch outcome {
        case .noSource(let q):
            if let s = q.storeKey {
                if ctx.shard.delete(db: ctx.db, key: args[s]) { ctx.notify(KeyspaceEvent.generic, "del", args[s]) }
                out.writeInteger(0)
            } else {
                out.writeArrayHeader(0)
            }
        case .found(let q, let points):
            if let s = q.storeKey {
                let deleted = ctx.shard.delete(db: ctx.db, key: args[s])
                if let result = resultSet(q, points) {
                    ctx.shard.insertNew(Entry.makeObject(key: args[s], hash: KeyTable.hash(args[s]), object: result), db: ctx.db, expireAt: 0)
                    ctx.notify(KeyspaceEvent.zset, kind == .searchStore ? "geosearchstore" : "georadiusstore", args[s])
                } else if deleted {
                    ctx.notify(KeyspaceEvent.generic, "del", args[s])
                }
                out.writeInteger(points.count)
            } else {
                writePoints(q, points, &out, ctx.resp)
            }
        }
    }

    static func writePoints(_ q: Query, _ points: [Point], _ out: inout ByteBuffer, _ resp: RESPVersion) {
        let options = (q.withDist ? 1 : 0) + (q.withCoord ? 1 : 0) + (q.withHash ? 1 : 0)
        out.writeArrayHeader(points.count)
        for p in points {
            if options > 0 { out.writeArrayHeader(options + 1) }
            out.writeBulk(p.member)
            if q.withDist { GeoCommands.writeDistance(p.distance / q.shape.conversion, &out) }
            if q.withHash { out.writeInteger(Int(GeoHash.scoreBits(p.score))) }
            if q.withCoord {
                out.writeArrayHeader(2)
                GeoCommands.writeCoordinate(p.longitude, &out, resp)
                GeoCommands.writeCoordinate(p.latitude, &out, resp)
            }
        }
    }

    /// The sorted set a store creates (scores: the hashes, or the distances in the unit
    /// with STOREDIST), encoded as Redis's zsetConvertToListpackIfNeeded leaves it; nil if empty.
    static func resultSet(_ q: Query, _ points: [Point]) -> SortedSet? {
        guard !points.isEmpty else { return nil }
        let limits = LiveConfig.sortedSetLimits
        let longest = points.map(\.member.count).max()!
        let z = SortedSet(firstMemberLength: points.count > limits.maxEntries ? Int.max : longest, limits: limits)
        for p in points {
            let score = q.storeDist ? p.distance / q.shape.conversion : p.score
            p.member.withUnsafeBytes { z.insert($0, score: score, limits: limits) }
        }
        return z
    }

    // MARK: GEORADIUS and GEORADIUSBYMEMBER (movable STORE keys)

    /// georadiusGetKeys: the key after the last STORE or STOREDIST from argument 5 on.
    static func storeKeyIndex(_ args: Arguments) -> Int? {
        var found: Int?
        var i = 5
        while i < args.count {
            if (argIs(args[i], "store") || argIs(args[i], "storedist")) && i + 1 < args.count {
                found = i + 1
                i += 1
            }
            i += 1
        }
        return found
    }

    static func radiusWithStore(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall,
                                _ out: inout ByteBuffer, _ kind: Kind) {
        let source = w.shardOf(args[1])
        call.locks.append((source, IntentLocks.lockKey(args[1])))
        if let s = storeKeyIndex(args) {
            let dst = w.shardOf(args[s])
            call.locks.append((dst, IntentLocks.lockKey(args[s])))
            if dst != source {
                storeAcrossShards(w, c, args, &call, &out, kind, destination: s)
                return
            }
        }
        let op = MultiShardOperation(client: c) { op, out in
            out.append(op.reply(0))
            return true
        }
        var spans = [op.store(string: InternalCommand.geoOnShard.name)]
        for i in 0..<args.count { spans.append(op.store(args[i])) }
        op.addPart(shard: source, command: Part.onShard, spanIndices: spans)
        w.start(op, client: c, call: &call, out: &out)
    }

    /// `__geo <command as sent>` on the source's shard (the destination, if any, is there too).
    static func onShardPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let a = args.dropFirst(1)
        guard let kind = Kind(name: a[0]) else { out.writeError("ERR unknown geo operation"); return }
        run(ctx, a, &out, kind)
    }

    /// `__geoout <destination> <command as sent>` on the source's shard: the result set as a
    /// block keyed by the destination, `:0` if empty (or no source), or the error.
    static func outPart(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        let a = args.dropFirst(2)
        guard let kind = Kind(name: a[0]) else { out.writeError("ERR unknown geo operation"); return }
        guard let outcome = evaluate(ctx, a, kind, &out) else { return }
        guard case .found(let q, let points) = outcome, let result = resultSet(q, points) else {
            out.writeInteger(0)
            return
        }
        KeyCommands.writeHandoff(Entry.makeObject(key: args[1], hash: KeyTable.hash(args[1]), object: result), &out)
    }

    /// A store whose destination is on another shard: the result is built on the source's
    /// shard (`__geoout <destination> <command as sent>`) and stored at the destination as
    /// ZRANGESTORE's is.
    static func storeAcrossShards(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall,
                                  _ out: inout ByteBuffer, _ kind: Kind, destination: Int) {
        let event = kind == .searchStore ? "geosearchstore" : "georadiusstore"
        SortedSetCommands.storeBuiltAcrossShards(w, c, destination: args[destination], source: args[kind.sourceIndex],
                                                 event: event, buildPart: Part.out, &call, &out) { op in
            [op.store(string: InternalCommand.geoOut.name), op.store(args[destination])]
                + (0..<args.count).map { op.store(args[$0]) }
        }
    }

    enum Part {
        static let onShard = CommandTable.shared.index(of: .geoOnShard)
        static let out = CommandTable.shared.index(of: .geoOut)
    }
}
