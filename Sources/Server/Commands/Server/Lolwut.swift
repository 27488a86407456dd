#if canImport(Glibc)
import Glibc
#endif
import RESP

/// LOLWUT [VERSION v] [args] (Redis 7.0's lolwut.c, lolwut5.c, lolwut6.c): the version
/// line by default; VERSION 5 draws Georg Nees's Schotter in braille, VERSION 6 a skyline
/// in terminal colours. Their random parts use the process's generator, as Redis's rand()
/// does, so only drawings without them (Schotter's first two rows) equal redis-server's.
enum Lolwut {
    static let spec = CommandSpec("lolwut", arity: -1, flags: [.readonly, .fast], group: "server",
                                  summary: "Computer art and the server's version.", run: .client(run))
        .described(since: "5.0.0", acl: [.read, .fast], arguments: [.integer("version", token: "VERSION").optional])

    static func run(_ w: Worker, _ c: Client, _ args: Arguments, _ call: inout CommandCall, _ out: inout ByteBuffer) {
        var version = ServerInfo.redisVersion
        var rest = Array((1..<args.count).map { Array(args[$0]) })
        if args.count >= 3 && argIs(args[1], "version") {
            guard let v = parseStrictInt(args[2]) else { out.writeError(Errors.notInteger); return }
            version = "\(UInt32(truncatingIfNeeded: v)).0.0"
            rest.removeFirst(2)
        }
        let v = Array(version.utf8) + [0, 0]
        let five = (v[0] == UInt8(ascii: "5") && v[1] == UInt8(ascii: ".") && v[2] != UInt8(ascii: "9"))
            || (v[0] == UInt8(ascii: "4") && v[1] == UInt8(ascii: ".") && v[2] == UInt8(ascii: "9"))
        let six = (v[0] == UInt8(ascii: "6") && v[1] == UInt8(ascii: ".") && v[2] != UInt8(ascii: "9"))
            || (v[0] == UInt8(ascii: "5") && v[1] == UInt8(ascii: ".") && v[2] == UInt8(ascii: "9"))
        var numbers: [Int] = []
        if five || six {
            for r in rest.prefix(five ? 3 : 2) {
                guard let n = r.withUnsafeBytes({ parseStrictInt($0) }) else { out.writeError(Errors.notInteger); return }
                numbers.append(n)
            }
        }
        func limited(_ i: Int, _ defaultValue: Int, _ high: Int) -> Int {
            min(max(i < numbers.count ? numbers[i] : defaultValue, 1), high)
        }
        let text: String
        if five {
            text = schotter(columns: limited(0, 66, 1000), perRow: limited(1, 8, 200), perColumn: limited(2, 12, 200))
                + "\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. \(ServerInfo.redisVersion)\n"
        } else if six {
            text = skyline(columns: limited(0, 80, 1000), rows: limited(1, 20, 1000))
                + "\nDedicated to the 8 bit game developers of past and present.\n"
                + "Original 8 bit image from Plaguemon by hikikomori. Redis ver. \(ServerInfo.redisVersion)\n"
        } else {
            text = "Redis ver. \(ServerInfo.redisVersion)\n"
        }
        out.writeVerbatim(text, c.resp)
    }

    // MARK: The canvas (lolwut.c)

    struct Canvas {
        let width: Int, height: Int
        var pixels: [UInt8]

        init(_ width: Int, _ height: Int, background: UInt8) {
            self.width = width; self.height = height
            pixels = [UInt8](repeating: background, count: max(width * height, 0))
        }

        mutating func draw(_ x: Int, _ y: Int, _ color: UInt8) {
            guard x >= 0, x < width, y >= 0, y < height else { return }
            pixels[x + y * width] = color
        }

        func get(_ x: Int, _ y: Int) -> UInt8 {
            guard x >= 0, x < width, y >= 0, y < height else { return 0 }
            return pixels[x + y * width]
        }

        /// Bresenham, as lwDrawLine.
        mutating func line(_ x1: Int, _ y1: Int, _ x2: Int, _ y2: Int, _ color: UInt8) {
            var x1 = x1, y1 = y1
            let dx = abs(x2 - x1), dy = abs(y2 - y1)
            let sx = x1 < x2 ? 1 : -1, sy = y1 < y2 ? 1 : -1
            var err = dx - dy
            while true {
                draw(x1, y1, color)
                if x1 == x2 && y1 == y2 { break }
                let e2 = err * 2
                if e2 > -dy { err -= dy; x1 += sx }
                if e2 < dx { err += dx; y1 += sy }
            }
        }

        /// lwDrawSquare, with C's float and double steps.
        mutating func square(_ x: Int, _ y: Int, _ size: Float, _ angle: Float, _ color: UInt8) {
            var size = Float(Double(size) / 1.4142135623)
            size = Float(Double(size).rounded())
            var px = [Int](repeating: 0, count: 4), py = px
            var k = Float(Double.pi / 4 + Double(angle))
            for j in 0..<4 {
                px[j] = Int((sin(Double(k)) * Double(size) + Double(x)).rounded())
                py[j] = Int((cos(Double(k)) * Double(size) + Double(y)).rounded())
                k = Float(Double(k) + Double.pi / 2)
            }
            for j in 0..<4 { line(px[j], py[j], px[(j + 1) % 4], py[(j + 1) % 4], color) }
        }
    }

    /// A random number as C's rand() (0...RAND_MAX) from the process's generator.
    private static func rand() -> Int { Int.random(in: 0...Int(Int32.max)) }

    // MARK: VERSION 5 (lolwut5.c)

    static func schotter(columns: Int, perRow: Int, perColumn: Int) -> String {
        let width = columns * 2
        let padding = width > 4 ? 2 : 0
        let side = Float(width - padding * 2) / Float(perRow)
        let height = Int(side * Float(perColumn) + Float(padding * 2))
        var canvas = Canvas(width, height, background: 0)
        for y in 0..<perColumn {
            for x in 0..<perRow {
                var sx = Int(Float(x) * side + side / 2 + Float(padding))
                var sy = Int(Float(y) * side + side / 2 + Float(padding))
                var angle: Float = 0
                if y > 1 {
                    var r1 = Float(rand()) / Float(Int32.max) / Float(perColumn) * Float(y)
                    var r2 = Float(rand()) / Float(Int32.max) / Float(perColumn) * Float(y)
                    var r3 = Float(rand()) / Float(Int32.max) / Float(perColumn) * Float(y)
                    if rand() % 2 == 1 { r1 = -r1 }
                    if rand() % 2 == 1 { r2 = -r2 }
                    if rand() % 2 == 1 { r3 = -r3 }
                    angle = r1
                    sx = Int(Float(sx) + r2 * side / 3)
                    sy = Int(Float(sy) + r3 * side / 3)
                }
                canvas.square(sx, sy, side, angle, 1)
            }
        }
        var text: [UInt8] = []
        var y = 0
        while y < canvas.height {
            var x = 0
            while x < canvas.width {
                var byte = 0
                if canvas.get(x, y) != 0 { byte |= 1 << 0 }
                if canvas.get(x, y + 1) != 0 { byte |= 1 << 1 }
                if canvas.get(x, y + 2) != 0 { byte |= 1 << 2 }
                if canvas.get(x + 1, y) != 0 { byte |= 1 << 3 }
                if canvas.get(x + 1, y + 1) != 0 { byte |= 1 << 4 }
                if canvas.get(x + 1, y + 2) != 0 { byte |= 1 << 5 }
                if canvas.get(x, y + 3) != 0 { byte |= 1 << 6 }
                if canvas.get(x + 1, y + 3) != 0 { byte |= 1 << 7 }
                let code = 0x2800 + byte  // a braille cell, three bytes of UTF-8
                text += [UInt8(0xE0 | (code >> 12)), UInt8(0x80 | ((code >> 6) & 0x3F)), UInt8(0x80 | (code & 0x3F))]
                x += 2
            }
            if y != canvas.height - 1 { text.append(UInt8(ascii: "\n")) }
            y += 4
        }
        return String(decoding: text, as: UTF8.self)
    }

    // MARK: VERSION 6 (lolwut6.c)

    static func skyline(columns: Int, rows: Int) -> String {
        var canvas = Canvas(columns, rows, background: 3)
        func skyscraper(xoff: Int, width: Int, height: Int, windows: Bool, color: UInt8) {
            let starty = canvas.height - 1
            let endy = starty - height + 1
            var y = starty
            while y >= endy {
                for x in xoff..<max(xoff + width, xoff) {
                    if y == endy && (x <= xoff + 1 || x >= xoff + width - 2) { continue }
                    var c = color
                    if windows && x > xoff + 1 && x < xoff + width - 2 && y > endy + 1 && y < starty - 1 {
                        let relx = x - (xoff + 1), rely = y - (endy + 1)
                        if relx / 2 % 2 != 0 && rely % 2 != 0 {
                            repeat { c = UInt8(1 + rand() % 2) } while c == color
                            if relx % 2 != 0 { c = canvas.get(x - 1, y) }
                        }
                    }
                    canvas.draw(x, y, c)
                }
                y -= 1
            }
        }
        for color in stride(from: 2, through: 1, by: -1) {
            var offset = -10
            while offset < canvas.width {
                offset += rand() % 8
                let width = 10 + rand() % 9
                let height = color == 2 ? canvas.height / 2 + rand() % canvas.height / 2
                    : canvas.height / 2 + rand() % canvas.height / 3
                skyscraper(xoff: offset, width: width, height: height, windows: false, color: UInt8(color))
                offset += color == 2 ? width / 2 : width + 1
            }
        }
        var offset = -10
        while offset < canvas.width {
            offset += rand() % 8
            var width = 5 + rand() % 14
            if width % 4 != 0 { width += width % 3 }
            let height = canvas.height / 3 + rand() % canvas.height / 2
            skyscraper(xoff: offset, width: width, height: height, windows: true, color: 0)
            offset += width + 5
        }
        var text = ""
        for y in 0..<canvas.height {
            for x in 0..<canvas.width {
                let escape = switch canvas.get(x, y) {
                case 1: "0;90;100m"
                case 2: "0;37;47m"
                case 3: "0;97;107m"
                default: "0;30;40m"
                }
                text += "\u{1B}[\(escape) \u{1B}[0m"
            }
            if y != canvas.height - 1 { text += "\n" }
        }
        return text
    }
}
