/// The encodings older Redis versions wrote for small hashes, sets and sorted sets, read
/// only to be converted: ziplist (RDB types 10-14, Redis < 7.0) and zipmap (type 9, Redis
/// < 2.6). Both decoders validate every byte they read (ziplistValidateIntegrity,
/// zipmapValidateIntegrity with deep checks) and return nil for anything malformed.
enum LegacyEncodings {
    /// The elements of a ziplist, integers as their decimal text; nil if malformed.
    /// Layout: zlbytes u32 LE, zltail u32 LE, zllen u16 LE, entries, 0xFF. An entry is its
    /// prevlen (1 byte, or 0xFE + u32 LE), its encoding (string lengths 6/14/32 bits or an
    /// integer type) and its data.
    static func ziplistElements(_ z: [UInt8]) -> [[UInt8]]? {
        let headerSize = 10
        guard z.count >= headerSize + 1 else { return nil }
        func u32(_ at: Int) -> Int {
            Int(z[at]) | Int(z[at + 1]) << 8 | Int(z[at + 2]) << 16 | Int(z[at + 3]) << 24
        }
        guard u32(0) == z.count, z[z.count - 1] == 0xFF else { return nil }
        let tail = u32(4)
        let declared = Int(z[8]) | Int(z[9]) << 8
        var out: [[UInt8]] = []
        var p = headerSize
        var previousSize = 0
        var lastStart = headerSize
        let end = z.count - 1
        while p < end {
            let start = p
            // prevlen
            var prev: Int
            if z[p] < 254 {
                prev = Int(z[p]); p += 1
            } else if z[p] == 254 {
                guard p + 5 <= end else { return nil }
                prev = u32(p + 1); p += 5
            } else {
                return nil
            }
            guard prev == previousSize else { return nil }
            guard p < end else { return nil }
            let b = z[p]
            var element: [UInt8]
            switch b >> 6 {
            case 0, 1, 2:
                var length: Int
                if b >> 6 == 0 {
                    length = Int(b & 0x3F); p += 1
                } else if b >> 6 == 1 {
                    guard p + 2 <= end else { return nil }
                    length = Int(b & 0x3F) << 8 | Int(z[p + 1]); p += 2
                } else {
                    guard p + 5 <= end else { return nil }
                    length = Int(z[p + 1]) << 24 | Int(z[p + 2]) << 16 | Int(z[p + 3]) << 8 | Int(z[p + 4]); p += 5
                }
                guard length <= end - p else { return nil }
                element = Array(z[p..<(p + length)])
                p += length
            default:
                let width: Int
                switch b {
                case 0xC0: width = 2
                case 0xD0: width = 4
                case 0xE0: width = 8
                case 0xF0: width = 3
                case 0xFE: width = 1
                case 0xF1...0xFD: width = 0
                default: return nil
                }
                p += 1
                guard width <= end - p else { return nil }
                var v: Int64
                if width == 0 {
                    v = Int64(b & 0x0F) - 1
                } else {
                    var u: UInt64 = 0
                    for i in 0..<width { u |= UInt64(z[p + i]) << (8 * UInt64(i)) }
                    let shift = UInt64(64 - 8 * width)
                    v = Int64(bitPattern: u << shift) >> Int64(shift)
                }
                p += width
                element = Array(String(v).utf8)
            }
            out.append(element)
            previousSize = p - start
            lastStart = start
        }
        guard p == end, tail == lastStart else { return nil }
        guard declared == 65535 || declared == out.count else { return nil }
        return out
    }

    /// The field-value pairs of a zipmap; nil if malformed.
    /// Layout: zmlen (1 byte, 254 = unknown), then per pair: key length, key, value length,
    /// a "free" byte, value, free bytes; 0xFF at the end. A length is 1 byte below 254, else
    /// 254 and a u32 LE.
    static func zipmapPairs(_ z: [UInt8]) -> [([UInt8], [UInt8])]? {
        guard z.count >= 2, z[z.count - 1] == 0xFF else { return nil }
        let end = z.count - 1
        var p = 1
        func length() -> Int? {
            guard p < end else { return nil }
            if z[p] < 254 { defer { p += 1 }; return Int(z[p]) }
            guard p + 5 <= end else { return nil }
            let n = Int(z[p + 1]) | Int(z[p + 2]) << 8 | Int(z[p + 3]) << 16 | Int(z[p + 4]) << 24
            p += 5
            return n
        }
        var out: [([UInt8], [UInt8])] = []
        while p < end {
            guard let kl = length(), kl <= end - p else { return nil }
            let key = Array(z[p..<(p + kl)])
            p += kl
            guard let vl = length(), p < end else { return nil }
            let free = Int(z[p]); p += 1
            guard vl <= end - p, free <= end - p - vl else { return nil }
            out.append((key, Array(z[p..<(p + vl)])))
            p += vl + free
        }
        // An empty zipmap is corrupt (zipmapValidateIntegrity), not an empty key.
        guard p == end, !out.isEmpty else { return nil }
        guard z[0] >= 254 || Int(z[0]) == out.count else { return nil }
        return out
    }
}
