#if canImport(Glibc)
import Glibc
#endif
import RESP
import Shards
import Values

/// Geo commands (Redis 7.0's geo.c) on sorted sets whose scores are 52-bit geohashes:
/// GEOADD, GEOPOS, GEODIST, GEOHASH here; the searches (GEOSEARCH, GEORADIUS...) in
/// GeoSearch.swift; the hash math in GeoHash.swift. Rows' COMMAND INFO/DOCS are redis-server 7.0's.
enum GeoCommands {
    static let units: CommandArgument = .oneOf("unit", [.token("M"), .token("KM"), .token("FT"), .token("MI")])
    static let searchFrom: CommandArgument = .oneOf("from", [
        .string("member", token: "FROMMEMBER"),
        .block("longitude_latitude", token: "FROMLONLAT", [.double("longitude"), .double("latitude")]),
    ])
    static let searchBy: CommandArgument = .oneOf("by", [
        .block("circle", [.double("radius", token: "BYRADIUS"), units]),
        .block("box", [.double("width", token: "BYBOX"), .double("height"), units]),
    ])
    static let order: CommandArgument = .oneOf("order", [.token("ASC"), .token("DESC")]).optional
    static let count: CommandArgument = .block("count", [.integer("count", token: "COUNT"), .token("ANY").optional]).optional
    static let withOptions: [CommandArgument] = [.token("WITHCOORD").optional, .token("WITHDIST").optional, .token("WITHHASH").optional]

    static func radiusArguments(byMember: Bool, store: Bool) -> [CommandArgument] {
        var a: [CommandArgument] = [.key("key")]
        a += byMember ? [.string("member")] : [.double("longitude"), .double("latitude")]
        a += [.double("radius"), units]
        a += withOptions
        a += [count, order]
        if store { a += [.key("key", spec: 1, token: "STORE").optional, .key("key", spec: 2, token: "STOREDIST").optional] }
        return a
    }

    static func radiusKeySpecs(startFrom: Int) -> [KeySpec] {
        [KeySpec(["RO", "access"], index: 1),
         KeySpec(["OW", "update"], index: startFrom, keyword: "STORE"),
         KeySpec(["OW", "update"], index: startFrom, keyword: "STOREDIST")]
    }

    static let specs: [CommandSpec] = [
        CommandSpec("geoadd", arity: -5, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "geo",
                    summary: "Adds points (longitude, latitude, name) to a sorted set used as a geo index.",
                    run: .keyed(geoadd, split: nil, crossShard: nil))
            .described(since: "3.2.0", acl: [.write, .geo, .slow],
                       keySpecs: [KeySpec(["RW", "update"], index: 1)],
                       arguments: [
                           .key("key"),
                           .oneOf("condition", [.token("NX"), .token("XX")]).optional,
                           .token("CH", name: "change").optional,
                           .block("longitude_latitude_member", [.double("longitude"), .double("latitude"), .string("member")]).multiple,
                       ]),
        CommandSpec("geodist", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "geo",
                    summary: "Distance between two points of a geo index.",
                    run: .keyed(geodist, split: nil, crossShard: nil))
            .described(since: "3.2.0", acl: [.read, .geo, .slow],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [.key("key"), .string("member1"), .string("member2"), units.optional]),
        CommandSpec("geohash", arity: -2, flags: [.readonly], keys: (1, 1, 1), group: "geo",
                    summary: "Standard 11-character geohash strings of points of a geo index.",
                    run: .keyed(geohash, split: nil, crossShard: nil))
            .described(since: "3.2.0", acl: [.read, .geo, .slow],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [.key("key"), .string("member").multiple]),
        CommandSpec("geopos", arity: -2, flags: [.readonly], keys: (1, 1, 1), group: "geo",
                    summary: "Longitude and latitude of points of a geo index.",
                    run: .keyed(geopos, split: nil, crossShard: nil))
            .described(since: "3.2.0", acl: [.read, .geo, .slow],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [.key("key"), .string("member").multiple]),
        CommandSpec("geosearch", arity: -7, flags: [.readonly], keys: (1, 1, 1), group: "geo",
                    summary: "Points of a geo index inside a circle or a box around a point or a member.",
                    run: .keyed({ GeoSearch.run($0, $1, &$2, .search) }, split: nil, crossShard: nil))
            .described(since: "6.2.0", acl: [.read, .geo, .slow],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: [.key("key"), searchFrom, searchBy, order, count] + withOptions),
        CommandSpec("geosearchstore", arity: -8, flags: [.write, .denyOOM], keys: (1, 2, 1), group: "geo",
                    summary: "Stores the points of a geo index inside a circle or a box as a new sorted set.",
                    run: .keyed({ GeoSearch.run($0, $1, &$2, .searchStore) }, split: nil,
                                crossShard: { GeoSearch.storeAcrossShards($0, $1, $2, &$3, &$4, .searchStore, destination: 1) }))
            .described(since: "6.2.0", acl: [.write, .geo, .slow],
                       keySpecs: [KeySpec(["OW", "update"], index: 1), KeySpec(["RO", "access"], index: 2)],
                       arguments: [.key("destination"), .key("source", spec: 1), searchFrom, searchBy, order, count,
                                   .token("STOREDIST").optional]),
        CommandSpec("georadius", arity: -6, flags: [.write, .denyOOM, .movableKeys], keys: (1, 1, 1), group: "geo",
                    summary: "Points of a geo index within a radius of a point, optionally stored (deprecated form of GEOSEARCH).",
                    run: .client({ GeoSearch.radiusWithStore($0, $1, $2, &$3, &$4, .radius) }))
            .described(since: "3.2.0", acl: [.write, .geo, .slow],
                       keySpecs: radiusKeySpecs(startFrom: 6),
                       arguments: radiusArguments(byMember: false, store: true)),
        CommandSpec("georadius_ro", arity: -6, flags: [.readonly], keys: (1, 1, 1), group: "geo",
                    summary: "Points of a geo index within a radius of a point, read only.",
                    run: .keyed({ GeoSearch.run($0, $1, &$2, .radiusRO) }, split: nil, crossShard: nil))
            .described(since: "3.2.10", acl: [.read, .geo, .slow],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: radiusArguments(byMember: false, store: false)),
        CommandSpec("georadiusbymember", arity: -5, flags: [.write, .denyOOM, .movableKeys], keys: (1, 1, 1), group: "geo",
                    summary: "Points of a geo index within a radius of one of its members, optionally stored.",
                    run: .client({ GeoSearch.radiusWithStore($0, $1, $2, &$3, &$4, .byMember) }))
            .described(since: "3.2.0", acl: [.write, .geo, .slow],
                       keySpecs: radiusKeySpecs(startFrom: 5),
                       arguments: radiusArguments(byMember: true, store: true)),
        CommandSpec("georadiusbymember_ro", arity: -5, flags: [.readonly], keys: (1, 1, 1), group: "geo",
                    summary: "Points of a geo index within a radius of one of its members, read only.",
                    run: .keyed({ GeoSearch.run($0, $1, &$2, .byMemberRO) }, split: nil, crossShard: nil))
            .described(since: "3.2.10", acl: [.read, .geo, .slow],
                       keySpecs: [KeySpec(["RO", "access"], index: 1)],
                       arguments: radiusArguments(byMember: true, store: false)),
        CommandSpec(part: .geoOnShard, propagation: .marked, arity: -3, group: "geo",
                    run: .keyed(GeoSearch.onShardPart, split: nil, crossShard: nil)),
        CommandSpec(part: .geoOut, arity: -4, group: "geo",
                    run: .keyed(GeoSearch.outPart, split: nil, crossShard: nil)),
    ]

    // MARK: Argument helpers

    /// extractLongLatOrReply: two doubles, then the limits check with Redis's text.
    static func parseLongLat(_ lon: UnsafeRawBufferPointer, _ lat: UnsafeRawBufferPointer,
                             _ out: inout ByteBuffer) -> (Double, Double)? {
        guard let x = ZScore.parse(lon), let y = ZScore.parse(lat) else { out.writeError(Errors.notFloat); return nil }
        if x < GeoHash.longMin || x > GeoHash.longMax || y < GeoHash.latMin || y > GeoHash.latMax {
            out.writeError(string: "ERR invalid longitude,latitude pair " + cFormat("%f", x) + "," + cFormat("%f", y))
            return nil
        }
        return (x, y)
    }

    /// extractUnitOrReply: meters per unit, case-insensitive.
    static func parseUnit(_ u: UnsafeRawBufferPointer, _ out: inout ByteBuffer) -> Double? {
        if argIs(u, "m") { return 1 }
        if argIs(u, "km") { return 1000 }
        if argIs(u, "ft") { return 0.3048 }
        if argIs(u, "mi") { return 1609.34 }
        out.writeError("ERR unsupported unit provided. please use M, KM, FT, MI")
        return nil
    }

    static func cFormat(_ format: String, _ d: Double) -> String {
        var buf = [CChar](repeating: 0, count: 400)
        let n = withVaList([d]) { vsnprintf(&buf, buf.count, format, $0) }
        return String(decoding: buf.prefix(Int(min(n, 399))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// addReplyDoubleDistance: "%.4f" as a bulk string.
    static func writeDistance(_ d: Double, _ out: inout ByteBuffer) {
        withUnsafeTemporaryAllocation(byteCount: 400, alignment: 1) { buf in
            let base = buf.baseAddress!.assumingMemoryBound(to: CChar.self)
            let n = Int(withVaList([d]) { vsnprintf(base, 400, "%.4f", $0) })
            out.writeBulk(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buf)[0..<max(0, min(n, 399))]))
        }
    }

    /// addReplyHumanLongDouble: ld2string's human form, a bulk string (RESP2) or a double (RESP3).
    static func writeCoordinate(_ d: Double, _ out: inout ByteBuffer, _ resp: RESPVersion) {
        withUnsafeTemporaryAllocation(byteCount: 5600, alignment: 1) { buf in
            let n = StringCommands.formatHumanFriendly(Float80(d), into: buf)
            let text = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buf)[0..<n])
            if resp == .resp3 {
                out.append(UInt8(ascii: ",")); out.append(text); out.append("\r\n")
            } else {
                out.writeBulk(text)
            }
        }
    }

    /// The sorted set at `key` for a read; nil with nothing written if missing, nil after
    /// WRONGTYPE (`wrongType` set) if another type.
    static func lookup(_ ctx: ShardContext, _ key: UnsafeRawBufferPointer, _ out: inout ByteBuffer,
                       wrongType: inout Bool) -> SortedSet? {
        guard let e = ctx.shard.lookupForRead(db: ctx.db, key: key) else { return nil }
        guard e.kind == .object, let z = e.object as? SortedSet else {
            out.writeError(Errors.wrongType)
            wrongType = true
            return nil
        }
        return z
    }

    // MARK: GEOADD

    /// geoaddCommand: options, then each point turned into its score, and the whole run as
    /// the ZADD it becomes (replicas receive that ZADD, as Redis's rewrite sends it).
    static func geoadd(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var xx = false, nx = false
        var longIndex = 2
        while longIndex < args.count {
            let opt = args[longIndex]
            if argIs(opt, "nx") { nx = true } else if argIs(opt, "xx") { xx = true } else if argIs(opt, "ch") {} else { break }
            longIndex += 1
        }
        if (args.count - longIndex) % 3 != 0 || (xx && nx) { out.writeError(Errors.syntax); return }
        let elements = (args.count - longIndex) / 3
        var bytes: [UInt8] = Array("zadd".utf8)
        var spans = [ArgSpan(offset: 0, count: 4)]
        func add(_ b: UnsafeRawBufferPointer) {
            spans.append(ArgSpan(offset: bytes.count, count: b.count))
            bytes.append(contentsOf: b)
        }
        for i in 1..<longIndex { add(args[i]) }
        for i in 0..<elements {
            let at = longIndex + i * 3
            guard let (x, y) = parseLongLat(args[at], args[at + 1], &out) else { return }
            let score = Array(String(GeoHash.score(longitude: x, latitude: y)!).utf8)
            score.withUnsafeBytes { add($0) }
            add(args[at + 2])
        }
        let before = ctx.shard.changes
        bytes.withUnsafeBytes { base in
            spans.withUnsafeBufferPointer { sp in
                let zaddArgs = Arguments(base: base.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, spans: sp.baseAddress!, count: sp.count)
                SortedSetCommands.zadd(ctx, zaddArgs, &out, incrby: false)
                if ctx.shard.changes != before {
                    ctx.propagate(arguments: (0..<zaddArgs.count).map { .bytes(zaddArgs[$0]) })
                }
            }
        }
    }

    // MARK: GEOPOS, GEODIST, GEOHASH

    static func geopos(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var wrongType = false
        let z = lookup(ctx, args[1], &out, wrongType: &wrongType)
        if wrongType { return }
        out.writeArrayHeader(args.count - 2)
        for j in 2..<args.count {
            guard let s = z?.score(args[j]), let (x, y) = GeoHash.decodeScore(s) else { out.writeNullArray(ctx.resp); continue }
            out.writeArrayHeader(2)
            writeCoordinate(x, &out, ctx.resp)
            writeCoordinate(y, &out, ctx.resp)
        }
    }

    static func geodist(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var toMeter = 1.0
        if args.count == 5 {
            guard let u = parseUnit(args[4], &out) else { return }
            toMeter = u
        } else if args.count > 5 {
            out.writeError(Errors.syntax)
            return
        }
        var wrongType = false
        guard let z = lookup(ctx, args[1], &out, wrongType: &wrongType) else {
            if !wrongType { out.writeNull(ctx.resp) }
            return
        }
        guard let s1 = z.score(args[2]), let s2 = z.score(args[3]),
              let (x1, y1) = GeoHash.decodeScore(s1), let (x2, y2) = GeoHash.decodeScore(s2) else {
            out.writeNull(ctx.resp)
            return
        }
        writeDistance(GeoHash.distance(x1, y1, x2, y2) / toMeter, &out)
    }

    static func geohash(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer) {
        var wrongType = false
        let z = lookup(ctx, args[1], &out, wrongType: &wrongType)
        if wrongType { return }
        out.writeArrayHeader(args.count - 2)
        for j in 2..<args.count {
            guard let s = z?.score(args[j]), let (x, y) = GeoHash.decodeScore(s) else { out.writeNull(ctx.resp); continue }
            out.writeBulk(GeoHash.standardString(longitude: x, latitude: y))
        }
    }
}
