#if canImport(Glibc)
import Glibc
#endif

/// The geohash math of Redis 7.0 (geohash.c, geohash_helper.c), step for step so that
/// scores, decoded coordinates, distances and the boxes a search scans are Redis's to the bit.
/// A point is a 52-bit interleaved hash (26 steps of latitude in the even bits, longitude
/// in the odd ones) over the Web Mercator limits, stored as the member's score.
enum GeoHash {
    static let latMin = -85.05112878, latMax = 85.05112878
    static let longMin = -180.0, longMax = 180.0
    static let stepMax: UInt8 = 26
    static let earthRadius = 6372797.560856
    static let mercatorMax = 20037726.37
    static let degToRad = Double.pi / 180.0

    struct Bits: Equatable {
        var bits: UInt64
        var step: UInt8
        var isZero: Bool { bits == 0 && step == 0 }
    }

    struct Area {
        var longMin = 0.0, longMax = 0.0, latMin = 0.0, latMax = 0.0
    }

    /// interleave64: x's bits in the even positions, y's in the odd. Unrolled with literal
    /// masks: this runs per point a search decodes, and array constants would allocate.
    @inline(__always) static func interleave(_ xlo: UInt32, _ ylo: UInt32) -> UInt64 {
        @inline(__always) func spread(_ v: UInt32) -> UInt64 {
            var x = UInt64(v)
            x = (x | (x << 16)) & 0x0000FFFF0000FFFF
            x = (x | (x << 8)) & 0x00FF00FF00FF00FF
            x = (x | (x << 4)) & 0x0F0F0F0F0F0F0F0F
            x = (x | (x << 2)) & 0x3333333333333333
            x = (x | (x << 1)) & 0x5555555555555555
            return x
        }
        return spread(xlo) | (spread(ylo) << 1)
    }

    /// deinterleave64: the even bits in the low half, the odd ones in the high half.
    @inline(__always) static func deinterleave(_ interleaved: UInt64) -> UInt64 {
        @inline(__always) func squash(_ v: UInt64) -> UInt64 {
            var x = v & 0x5555555555555555
            x = (x | (x >> 1)) & 0x3333333333333333
            x = (x | (x >> 2)) & 0x0F0F0F0F0F0F0F0F
            x = (x | (x >> 4)) & 0x00FF00FF00FF00FF
            x = (x | (x >> 8)) & 0x0000FFFF0000FFFF
            x = (x | (x >> 16)) & 0x00000000FFFFFFFF
            return x
        }
        return squash(interleaved) | (squash(interleaved >> 1) << 32)
    }

    /// geohashEncode over the given latitude range (Redis's limits, or -90..90 for GEOHASH's
    /// strings); nil outside the supported coordinates.
    static func encode(longitude: Double, latitude: Double, step: UInt8,
                       latRange: (Double, Double) = (latMin, latMax)) -> Bits? {
        if longitude > 180 || longitude < -180 || latitude > 85.05112878 || latitude < -85.05112878 { return nil }
        if latitude < latRange.0 || latitude > latRange.1 || longitude < longMin || longitude > longMax { return nil }
        var latOffset = (latitude - latRange.0) / (latRange.1 - latRange.0)
        var longOffset = (longitude - longMin) / (longMax - longMin)
        latOffset *= Double(1 << Int(step))
        longOffset *= Double(1 << Int(step))
        return Bits(bits: interleave(UInt32(latOffset), UInt32(longOffset)), step: step)
    }

    /// geohashAlign52Bits.
    static func align52(_ h: Bits) -> UInt64 { h.bits << (52 - UInt64(h.step) * 2) }

    /// The score GEOADD stores for a point (nil outside the limits).
    static func score(longitude: Double, latitude: Double) -> UInt64? {
        encode(longitude: longitude, latitude: latitude, step: stepMax).map(align52)
    }

    /// geohashDecode.
    static func decode(_ h: Bits, latRange: (Double, Double) = (latMin, latMax)) -> Area? {
        if h.isZero { return nil }
        let sep = deinterleave(h.bits)
        let latScale = latRange.1 - latRange.0
        let longScale = longMax - longMin
        let ilato = UInt32(truncatingIfNeeded: sep)
        let ilono = UInt32(truncatingIfNeeded: sep >> 32)
        let cells = Double(UInt64(1) << UInt64(h.step))
        return Area(longMin: longMin + (Double(ilono) * 1.0 / cells) * longScale,
                    longMax: longMin + (Double(UInt64(ilono) + 1) * 1.0 / cells) * longScale,
                    latMin: latRange.0 + (Double(ilato) * 1.0 / cells) * latScale,
                    latMax: latRange.0 + (Double(UInt64(ilato) + 1) * 1.0 / cells) * latScale)
    }

    /// geohashDecodeToLongLatWGS84: the cell's centre, kept inside the limits.
    static func decodeToLongLat(_ h: Bits) -> (Double, Double)? {
        guard let a = decode(h) else { return nil }
        var x = (a.longMin + a.longMax) / 2
        x = min(max(x, longMin), longMax)
        var y = (a.latMin + a.latMax) / 2
        y = min(max(y, latMin), latMax)
        return (x, y)
    }

    /// decodeGeohash in geo.c: a score as 52 bits ((uint64_t) of the double, as x86-64 converts it).
    static func decodeScore(_ score: Double) -> (Double, Double)? {
        decodeToLongLat(Bits(bits: scoreBits(score), step: stepMax))
    }

    static func scoreBits(_ d: Double) -> UInt64 {
        if d < 9223372036854775808.0 {
            return d > -9223372036854775808.0 ? UInt64(bitPattern: Int64(d)) : 0x8000000000000000
        }
        return d < 18446744073709551616.0 ? UInt64(d) : 0
    }

    // MARK: Neighbors

    static func moveX(_ h: inout Bits, _ d: Int) {
        if d == 0 { return }
        var x = h.bits & 0xaaaaaaaaaaaaaaaa
        let y = h.bits & 0x5555555555555555
        let zz: UInt64 = 0x5555555555555555 >> (64 - UInt64(h.step) * 2)
        if d > 0 { x = x &+ (zz &+ 1) } else { x = x | zz; x = x &- (zz &+ 1) }
        x &= (0xaaaaaaaaaaaaaaaa >> (64 - UInt64(h.step) * 2))
        h.bits = x | y
    }

    static func moveY(_ h: inout Bits, _ d: Int) {
        if d == 0 { return }
        let x = h.bits & 0xaaaaaaaaaaaaaaaa
        var y = h.bits & 0x5555555555555555
        let zz: UInt64 = 0xaaaaaaaaaaaaaaaa >> (64 - UInt64(h.step) * 2)
        if d > 0 { y = y &+ (zz &+ 1) } else { y = y | zz; y = y &- (zz &+ 1) }
        y &= (0x5555555555555555 >> (64 - UInt64(h.step) * 2))
        h.bits = x | y
    }

    /// geohashNeighbors, in geo.c's scan order: north, south, east, west, NE, NW, SE, SW.
    static func neighbors(_ h: Bits) -> [Bits] {
        func moved(_ dx: Int, _ dy: Int) -> Bits { var n = h; moveX(&n, dx); moveY(&n, dy); return n }
        return [moved(0, 1), moved(0, -1), moved(1, 0), moved(-1, 0), moved(1, 1), moved(-1, 1), moved(1, -1), moved(-1, -1)]
    }

    // MARK: Distances

    /// geohashGetLatDistance.
    static func latDistance(_ lat1: Double, _ lat2: Double) -> Double {
        earthRadius * abs(lat2 * degToRad - lat1 * degToRad)
    }

    /// geohashGetDistance: haversine on Redis's earth radius.
    static func distance(_ lon1: Double, _ lat1: Double, _ lon2: Double, _ lat2: Double) -> Double {
        let lon1r = lon1 * degToRad, lon2r = lon2 * degToRad
        let v = sin((lon2r - lon1r) / 2)
        if v == 0.0 { return latDistance(lat1, lat2) }
        let lat1r = lat1 * degToRad, lat2r = lat2 * degToRad
        let u = sin((lat2r - lat1r) / 2)
        let a = u * u + cos(lat1r) * cos(lat2r) * v * v
        return 2.0 * earthRadius * asin(sqrt(a))
    }

    // MARK: Search areas

    /// What a search covers (GeoShape): a circle of `radius` or a `width` x `height` box,
    /// in the unit whose size in meters is `conversion`, around (`longitude`, `latitude`).
    struct Shape {
        var longitude = 0.0, latitude = 0.0
        var isBox = false
        var radius = 0.0, width = 0.0, height = 0.0
        var conversion = 1.0

        /// geoWithinShape after the decode: the distance from the centre if inside.
        func distanceIfInside(_ x: Double, _ y: Double) -> Double? {
            if !isBox {
                let d = GeoHash.distance(longitude, latitude, x, y)
                return d > radius * conversion ? nil : d
            }
            let w = width * conversion, h = height * conversion
            if GeoHash.latDistance(y, latitude) > h / 2 { return nil }
            if GeoHash.distance(x, y, longitude, y) > w / 2 { return nil }
            return GeoHash.distance(longitude, latitude, x, y)
        }

        /// geohashBoundingBox: min longitude, min latitude, max longitude, max latitude.
        var boundingBox: (Double, Double, Double, Double) {
            let height = conversion * (isBox ? self.height / 2 : radius)
            let width = conversion * (isBox ? self.width / 2 : radius)
            let latDelta = (height / GeoHash.earthRadius) / GeoHash.degToRad
            let longDeltaTop = (width / GeoHash.earthRadius / cos((latitude + latDelta) * GeoHash.degToRad)) / GeoHash.degToRad
            let longDeltaBottom = (width / GeoHash.earthRadius / cos((latitude - latDelta) * GeoHash.degToRad)) / GeoHash.degToRad
            let southern = latitude < 0
            return (southern ? longitude - longDeltaBottom : longitude - longDeltaTop,
                    latitude - latDelta,
                    southern ? longitude + longDeltaBottom : longitude + longDeltaTop,
                    latitude + latDelta)
        }
    }

    /// geohashEstimateStepsByRadius.
    static func estimateSteps(radiusMeters: Double, latitude: Double) -> UInt8 {
        if radiusMeters == 0 { return 26 }
        var range = radiusMeters
        var step = 1
        while range < mercatorMax {
            range *= 2
            step += 1
        }
        step -= 2
        if latitude > 66 || latitude < -66 {
            step -= 1
            if latitude > 80 || latitude < -80 { step -= 1 }
        }
        return UInt8(min(max(step, 1), 26))
    }

    /// geohashCalculateAreasByShapeWGS84 then membersOfAllNeighbors' list: the cell of the
    /// centre and its useful neighbours (zeroed ones dropped), in scan order.
    static func areas(_ shape: Shape) -> [Bits] {
        let (minLon, minLat, maxLon, maxLat) = shape.boundingBox
        var radiusMeters = shape.isBox
            ? sqrt((shape.width / 2) * (shape.width / 2) + (shape.height / 2) * (shape.height / 2))
            : shape.radius
        radiusMeters *= shape.conversion
        var steps = estimateSteps(radiusMeters: radiusMeters, latitude: shape.latitude)
        // The centre always encodes: it was checked against the limits when parsed.
        var hash = encode(longitude: shape.longitude, latitude: shape.latitude, step: steps)!
        var n = neighbors(hash)
        var area = decode(hash)!
        var decreaseStep = false
        if let north = decode(n[0]), north.latMax < maxLat { decreaseStep = true }
        if let south = decode(n[1]), south.latMin > minLat { decreaseStep = true }
        if let east = decode(n[2]), east.longMax < maxLon { decreaseStep = true }
        if let west = decode(n[3]), west.longMin > minLon { decreaseStep = true }
        if steps > 1 && decreaseStep {
            steps -= 1
            hash = encode(longitude: shape.longitude, latitude: shape.latitude, step: steps)!
            n = neighbors(hash)
            area = decode(hash)!
        }
        let zero = Bits(bits: 0, step: 0)
        // Indices into n: 0 N, 1 S, 2 E, 3 W, 4 NE, 5 NW, 6 SE, 7 SW.
        if steps >= 2 {
            if area.latMin < minLat { n[1] = zero; n[7] = zero; n[6] = zero }
            if area.latMax > maxLat { n[0] = zero; n[4] = zero; n[5] = zero }
            if area.longMin < minLon { n[3] = zero; n[7] = zero; n[5] = zero }
            if area.longMax > maxLon { n[2] = zero; n[6] = zero; n[4] = zero }
        }
        return [hash] + n
    }

    /// scoresOfGeoHashBox: the scores [min, max) of the points inside a cell.
    static func scoreRange(_ h: Bits) -> (Double, Double) {
        let lo = align52(h)
        let hi = align52(Bits(bits: h.bits + 1, step: h.step))
        return (Double(lo), Double(hi))
    }

    // MARK: GEOHASH strings

    static let alphabet = Array("0123456789bcdefghjkmnpqrstuvwxyz".utf8)

    /// GEOHASH's 11 characters: the point re-encoded over -90..90 (standard geohash), the
    /// last character always '0' (only 52 bits exist).
    static func standardString(longitude: Double, latitude: Double) -> [UInt8] {
        let bits = encode(longitude: longitude, latitude: latitude, step: 26, latRange: (-90, 90))?.bits ?? 0
        var out = [UInt8](repeating: 0, count: 11)
        for i in 0..<11 {
            let idx = i == 10 ? 0 : Int((bits >> UInt64(52 - (i + 1) * 5)) & 0x1f)
            out[i] = alphabet[idx]
        }
        return out
    }
}
