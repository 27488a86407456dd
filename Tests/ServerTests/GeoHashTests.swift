import Testing
@testable import Server
import Values

/// The geohash math against values read from redis-server 7.0 (GEOADD's scores, GEOPOS,
/// GEOHASH, GEODIST for the same points).
@Suite struct GeoHashTests {
    @Test func scoresAreRedisOnes() {
        #expect(GeoHash.score(longitude: 13.361389, latitude: 38.115556) == 3479099956230698)
        #expect(GeoHash.score(longitude: 15.087269, latitude: 37.502669) == 3479447370796909)
        #expect(GeoHash.score(longitude: -180, latitude: -85.05112878) == 0)
        // The top corner encodes one cell past the grid, as Redis's does.
        #expect(GeoHash.score(longitude: 180, latitude: 85.05112878) == 13510798882111488)
        #expect(GeoHash.score(longitude: 180.0001, latitude: 0) == nil)
        #expect(GeoHash.score(longitude: 0, latitude: 85.06) == nil)
    }

    @Test func decodingGivesTheCellCentreWithinTheLimits() {
        let (x, y) = GeoHash.decodeScore(3479099956230698)!
        #expect(x == 13.36138933897018433 && y == 38.11555639549629859)
        let (sx, sy) = GeoHash.decodeScore(0)!
        #expect(sx == -179.99999731779098511 && sy == -85.05112751263942528)
        let (nx, ny) = GeoHash.decodeScore(13510798882111488)!
        #expect(nx == 180 && ny == 85.05112878)
    }

    @Test func standardGeohashStrings() {
        func text(_ score: Double) -> String {
            let (x, y) = GeoHash.decodeScore(score)!
            return String(decoding: GeoHash.standardString(longitude: x, latitude: y), as: UTF8.self)
        }
        #expect(text(3479099956230698) == "sqc8b49rny0")
        #expect(text(3479447370796909) == "sqdtr74hyu0")
        #expect(text(0) == "00bh0hbj200")
        #expect(text(13510798882111488) == "bp05b5048p0")
    }

    @Test func distancesAreRedisHaversine() {
        let (x1, y1) = GeoHash.decodeScore(3479099956230698)!
        let (x2, y2) = GeoHash.decodeScore(3479447370796909)!
        #expect(GeoCommands.cFormat("%.4f", GeoHash.distance(x1, y1, x2, y2)) == "166274.1516")
        let (sx, sy) = GeoHash.decodeScore(0)!
        let (nx, ny) = GeoHash.decodeScore(13510798882111488)!
        #expect(GeoCommands.cFormat("%.4f", GeoHash.distance(sx, sy, nx, ny) / 1000) == "18919.8446")
        // Same longitude: the latitude-only shortcut.
        #expect(GeoHash.distance(10, 0, 10, 1) == GeoHash.latDistance(0, 1))
    }

    @Test func neighboursWrapAndInterleaveRoundTrips() {
        for v: UInt32 in [0, 1, 0x3ffffff, 0x1234567] {
            let i = GeoHash.interleave(v, ~v & 0x3ffffff)
            let d = GeoHash.deinterleave(i)
            #expect(UInt32(truncatingIfNeeded: d) == v && UInt32(truncatingIfNeeded: d >> 32) == ~v & 0x3ffffff)
        }
        let h = GeoHash.encode(longitude: 0.1, latitude: 0.1, step: 3)!
        let n = GeoHash.neighbors(h)
        let centre = GeoHash.decode(h)!
        #expect(GeoHash.decode(n[0])!.latMin == centre.latMax)   // north
        #expect(GeoHash.decode(n[1])!.latMax == centre.latMin)   // south
        #expect(GeoHash.decode(n[2])!.longMin == centre.longMax) // east
        #expect(GeoHash.decode(n[3])!.longMax == centre.longMin) // west
        // A small radius scans the centre's cell and only the neighbours the circle reaches.
        var shape = GeoHash.Shape()
        shape.longitude = 13.361389; shape.latitude = 38.115556; shape.radius = 1; shape.conversion = 1000
        let cells = GeoHash.areas(shape)
        #expect(cells.count == 9 && cells[0] == GeoHash.encode(longitude: 13.361389, latitude: 38.115556, step: cells[0].step))
    }
}
